/**
 * Coded errors: every failure the channel reports carries a stable `code` string (as undici and
 * fastify do), so callers and tests can tell failures apart without matching messages.
 */
export class CatteryError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CatteryError'
    this.code = code
  }
}

export const codes = {
  FRAME_BAD_MAGIC: 'CATTERY_ERR_FRAME_BAD_MAGIC',
  FRAME_BAD_VERSION: 'CATTERY_ERR_FRAME_BAD_VERSION',
  FRAME_BAD_KIND: 'CATTERY_ERR_FRAME_BAD_KIND',
  FRAME_TOO_LARGE: 'CATTERY_ERR_FRAME_TOO_LARGE',
  FRAME_BAD_HEADER: 'CATTERY_ERR_FRAME_BAD_HEADER',
  FRAME_TRUNCATED: 'CATTERY_ERR_FRAME_TRUNCATED',
  FRAME_TIMEOUT: 'CATTERY_ERR_FRAME_TIMEOUT',
  NO_HANDSHAKE: 'CATTERY_ERR_NO_HANDSHAKE',
  CONNECT_FAILED: 'CATTERY_ERR_CONNECT_FAILED',
  CONNECTION_LOST: 'CATTERY_ERR_CONNECTION_LOST',
  ACK_TIMEOUT: 'CATTERY_ERR_ACK_TIMEOUT',
  REMOTE_FAILURE: 'CATTERY_ERR_REMOTE_FAILURE',
  SEND_FAILED: 'CATTERY_ERR_SEND_FAILED',
  QUEUE_FULL: 'CATTERY_ERR_QUEUE_FULL',
  CHANNEL_NOT_STARTED: 'CATTERY_ERR_CHANNEL_NOT_STARTED',
  MEMBER_GONE: 'CATTERY_ERR_MEMBER_GONE',
  BIND_FAILED: 'CATTERY_ERR_BIND_FAILED',
  BAD_SEND_OPTIONS: 'CATTERY_ERR_BAD_SEND_OPTIONS',
  BAD_INTERCEPTOR: 'CATTERY_ERR_BAD_INTERCEPTOR',
  MESSAGE_TOO_LARGE: 'CATTERY_ERR_MESSAGE_TOO_LARGE',
  DECODE_FAILED: 'CATTERY_ERR_DECODE_FAILED',
  ENCODE_FAILED: 'CATTERY_ERR_ENCODE_FAILED',
  LISTENER_FAILED: 'CATTERY_ERR_LISTENER_FAILED',
  ENCRYPT_KEY: 'CATTERY_ERR_ENCRYPT_KEY',
  ENCRYPT_AUTH_FAILED: 'CATTERY_ERR_ENCRYPT_AUTH_FAILED',
  ENCRYPT_REPLAY: 'CATTERY_ERR_ENCRYPT_REPLAY',
  FRAGMENT_EXPIRED: 'CATTERY_ERR_FRAGMENT_EXPIRED',
  FRAGMENT_LIMIT: 'CATTERY_ERR_FRAGMENT_LIMIT',
  GZIP_FAILED: 'CATTERY_ERR_GZIP_FAILED',
  DOMAIN_MISMATCH: 'CATTERY_ERR_DOMAIN_MISMATCH',
  ORDER_EXPIRED: 'CATTERY_ERR_ORDER_EXPIRED',
  // The authenticated channel (docs/security.md).
  AUTH_REQUIRED: 'CATTERY_ERR_AUTH_REQUIRED',
  AUTH_FAILED: 'CATTERY_ERR_AUTH_FAILED',
  AUTH_UNEXPECTED: 'CATTERY_ERR_AUTH_UNEXPECTED',
  FRAME_AUTH_FAILED: 'CATTERY_ERR_FRAME_AUTH_FAILED',
  HANDSHAKE_TIMEOUT: 'CATTERY_ERR_HANDSHAKE_TIMEOUT',
  TOO_MANY_CONNECTIONS: 'CATTERY_ERR_TOO_MANY_CONNECTIONS',
  NOT_A_MEMBER: 'CATTERY_ERR_NOT_A_MEMBER',
  PACKET_UNAUTHENTICATED: 'CATTERY_ERR_PACKET_UNAUTHENTICATED',
  PACKET_REPLAY: 'CATTERY_ERR_PACKET_REPLAY',
  MEMBERS_LIMIT: 'CATTERY_ERR_MEMBERS_LIMIT',
  INSECURE_CHANNEL: 'CATTERY_ERR_INSECURE_CHANNEL',
  CLUSTER_SECRET: 'CATTERY_ERR_CLUSTER_SECRET',
  /** The admin server: no or a wrong bearer token, or no token configured on a non-loopback address. */
  ADMIN_UNAUTHORIZED: 'CATTERY_ERR_ADMIN_UNAUTHORIZED',
  ADMIN_NOT_FOUND: 'CATTERY_ERR_ADMIN_NOT_FOUND',
  /** /sessions/<id> without ?context= on a node that serves more than one context. */
  ADMIN_CONTEXT_REQUIRED: 'CATTERY_ERR_ADMIN_CONTEXT_REQUIRED',
  /** As many dashboard event streams are open on the node as it serves at once (docs/limits.md). */
  DASHBOARD_BUSY: 'CATTERY_ERR_DASHBOARD_BUSY',
  // Applications (docs/applications.md): each refusal names the application.
  /** The app base (apps.dir) cannot be read: the node does not start. */
  APPS_DIR: 'CATTERY_ERR_APPS_DIR',
  /** An application's name cannot be a context name (Tomcat's ROOT, shop, shop#v2). */
  APP_BAD_NAME: 'CATTERY_ERR_APP_BAD_NAME',
  /** No readable package.json, or it is not a JSON object. */
  APP_NO_PACKAGE: 'CATTERY_ERR_APP_NO_PACKAGE',
  /** The entry (exports, main or index.js) is missing, cannot be imported, or exports no plugin. */
  APP_NO_ENTRY: 'CATTERY_ERR_APP_NO_ENTRY',
  /** The `cattery` field of package.json is not valid (the key is named). */
  APP_CONFIG: 'CATTERY_ERR_APP_CONFIG',
  /** The entry was found but importing it threw (a syntax error, a missing dependency, top-level code). */
  APP_LOAD_FAILED: 'CATTERY_ERR_APP_LOAD_FAILED',
  /** The plugin threw (or timed out) while it was registered. */
  APP_REGISTER_FAILED: 'CATTERY_ERR_APP_REGISTER_FAILED',
  /** Another application already has this context path. */
  APP_PATH_CLASH: 'CATTERY_ERR_APP_PATH_CLASH',
  /**
   * A redeploy whose session manager settings differ from those of the running context's manager,
   * which cannot take new settings while it holds the sessions: the running version keeps serving.
   */
  APP_SETTINGS_CHANGED: 'CATTERY_ERR_APP_SETTINGS_CHANGED',
  /** No application of this name is deployed (undeploy). */
  APP_NOT_DEPLOYED: 'CATTERY_ERR_APP_NOT_DEPLOYED',
  /** An HTTP request whose path no context serves (404). */
  NO_CONTEXT: 'CATTERY_ERR_NO_CONTEXT',
  /**
   * A session message that waits to be handled (synchronous ACK) for a context this member does not
   * serve (not deployed, or it replicates nothing): refused, so the sender does not take it as held.
   */
  NO_CONTEXT_MANAGER: 'CATTERY_ERR_NO_CONTEXT_MANAGER',
  /** An HTTP request that arrives while the node stops (503, connection closed). */
  NODE_STOPPING: 'CATTERY_ERR_NODE_STOPPING',
  /** The express-session store was given a session id the cluster cannot carry ([A-Za-z0-9_-], 8-128). */
  STORE_BAD_SESSION_ID: 'CATTERY_ERR_STORE_BAD_SESSION_ID',
  /** Settings for a context's manager (library mode) that the schema refuses; the keys are named. */
  BAD_MANAGER_OPTIONS: 'CATTERY_ERR_BAD_MANAGER_OPTIONS',
  /** An application archive that is not a gzip tar, or ends early. */
  ARCHIVE_CORRUPT: 'CATTERY_ERR_ARCHIVE_CORRUPT',
  /** An archive entry that would write outside its directory, a link, or a special file. */
  ARCHIVE_UNSAFE: 'CATTERY_ERR_ARCHIVE_UNSAFE',
  /** An archive over its bounds (compressed size, unpacked size, entries). */
  ARCHIVE_TOO_LARGE: 'CATTERY_ERR_ARCHIVE_TOO_LARGE',
  // Farm deployment (docs/applications.md, "Farm deployment"): Tomcat's FarmWarDeployer.
  /** A staged archive whose SHA-256 is not the one announced (or given with PUT /apps/<name>). */
  FARM_DIGEST_MISMATCH: 'CATTERY_ERR_FARM_DIGEST_MISMATCH',
  /** An archive could not be received: its sender left or stalled, or no member holds it. */
  FARM_TRANSFER_FAILED: 'CATTERY_ERR_FARM_TRANSFER_FAILED',
  /** A chunk that is malformed, lies outside its archive, or comes for no transfer under way. */
  FARM_BAD_CHUNK: 'CATTERY_ERR_FARM_BAD_CHUNK',
  /** More archives arriving at once than the farm stages (farm bounds, docs/limits.md). */
  FARM_BUSY: 'CATTERY_ERR_FARM_BUSY',
  /** More applications (deployed and remembered undeploys) than the farm keeps. */
  FARM_TOO_MANY: 'CATTERY_ERR_FARM_TOO_MANY',
  /** A joining member did not receive every application within the bound; it serves without them. */
  FARM_CATCH_UP_INCOMPLETE: 'CATTERY_ERR_FARM_CATCH_UP_INCOMPLETE',
  /** The watch directory (farm.watchDir) cannot be read; the watcher retries on its next check. */
  FARM_WATCH_DIR: 'CATTERY_ERR_FARM_WATCH_DIR',
  /** A request to the farm's admin API that is not an archive upload (no body, bad content). */
  FARM_BAD_REQUEST: 'CATTERY_ERR_FARM_BAD_REQUEST',
} as const

/** Rejection of `channel.send`: names every member the message did not reach, each with its cause. */
export class ChannelSendError extends CatteryError {
  readonly failures: ReadonlyArray<{ member: string; error: CatteryError }>
  constructor(failures: ReadonlyArray<{ member: string; error: CatteryError }>) {
    const names = failures.map((f) => `${f.member} (${f.error.code})`).join(', ')
    super(codes.SEND_FAILED, `message not delivered to ${failures.length} member(s): ${names}`)
    this.name = 'ChannelSendError'
    this.failures = failures
  }
}

export function asCatteryError(err: unknown, fallbackCode: string): CatteryError {
  if (err instanceof CatteryError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new CatteryError(fallbackCode, message, { cause: err })
}
