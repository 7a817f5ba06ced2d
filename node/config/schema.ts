/**
 * The node's whole configuration, as one TypeBox schema: it validates flags, environment variables
 * and the YAML file alike, and documents every key (docs/configuration.md follows it).
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { defaults } from '../tribes/options.ts'

const Millis = T.Integer({ minimum: 1 })
const HostPort = T.String({
  pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^:\\s]+):[0-9]{1,5}$',
  allowed: 'host:port, e.g. 10.0.0.5:4000',
})
const IPv4 = T.String({ pattern: '^(\\d{1,3}\\.){3}\\d{1,3}$', allowed: 'an IPv4 address, e.g. 228.0.0.4' })

const interceptor = {
  TcpFailureDetector: T.Object(
    {
      type: T.Literal('TcpFailureDetector'),
      connectTimeout: T.Optional(Millis),
      performConnectTest: T.Optional(T.Boolean()),
    },
    { additionalProperties: false },
  ),
  MessageDispatch: T.Object(
    {
      type: T.Literal('MessageDispatch'),
      maxQueueSize: T.Optional(T.Integer({ minimum: 1024 })),
      alwaysSend: T.Optional(T.Boolean()),
    },
    { additionalProperties: false },
  ),
  Throughput: T.Object(
    { type: T.Literal('Throughput'), interval: T.Optional(T.Integer({ minimum: 1 })) },
    { additionalProperties: false },
  ),
  DomainFilter: T.Object(
    { type: T.Literal('DomainFilter'), domain: T.Optional(T.String()) },
    { additionalProperties: false },
  ),
  Order: T.Object(
    {
      type: T.Literal('Order'),
      expire: T.Optional(Millis),
      forwardExpired: T.Optional(T.Boolean()),
      maxQueue: T.Optional(T.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
  Fragmentation: T.Object(
    {
      type: T.Literal('Fragmentation'),
      maxSize: T.Optional(T.Integer({ minimum: 1024 })),
      expire: T.Optional(Millis),
      maxMessageSize: T.Optional(T.Integer({ minimum: 1024 })),
    },
    { additionalProperties: false },
  ),
  Gzip: T.Object(
    {
      type: T.Literal('Gzip'),
      minSize: T.Optional(T.Integer({ minimum: 0 })),
      maxMessageSize: T.Optional(T.Integer({ minimum: 1024 })),
    },
    { additionalProperties: false },
  ),
  Encrypt: T.Object(
    {
      type: T.Literal('Encrypt'),
      keyFile: T.Optional(T.String({ minLength: 1 })),
      keyEnv: T.Optional(T.String({ minLength: 1 })),
      replayWindow: T.Optional(T.Integer({ minimum: 64 })),
    },
    { additionalProperties: false },
  ),
  TcpPing: T.Object(
    { type: T.Literal('TcpPing'), interval: T.Optional(Millis) },
    { additionalProperties: false },
  ),
}
export const INTERCEPTOR_SCHEMAS = interceptor

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** `manager`: shared with the SessionCluster resource (operator/api), so the two cannot drift. */
export const ManagerSchema = T.Object(
  {
    type: T.Union([T.Literal('delta'), T.Literal('backup'), T.Literal('standard')], {
      default: 'delta',
      description:
        'delta: every node holds every session (DeltaManager); backup: a primary and `backups` backups per session (BackupManager); standard: no replication.',
    }),
    backups: T.Integer({
      minimum: 1,
      maximum: 16,
      default: 1,
      description:
        'BackupManager: backups of each session (k); 1 + k nodes hold it, and it survives the loss of any k nodes at once.',
    }),
    mapSendOptions: T.Union([T.Integer({ minimum: 0, maximum: 31 }), T.String({ minLength: 1 })], {
      default: 6,
      description:
        "BackupManager: Tribes' send flags of its replication (Tomcat's mapSendOptions; 6: synchronous ACK). The DeltaManager uses channel.sendOptions.",
      allowed: 'a number 0-31 or names such as "async", "ack,sync"',
    }),
    rpcTimeout: T.Integer({
      minimum: 1,
      maximum: 600_000,
      default: 15_000,
      description:
        "BackupManager: milliseconds a request waits for the copy of a session this node does not hold from the session's owners (Tomcat's rpcTimeout).",
    }),
    terminateOnStartFailure: T.Boolean({
      default: false,
      description:
        "BackupManager (Tomcat's terminateOnStartFailure): a context whose state transfer does not complete (not within stateTransferTimeout, or every donor left first) fails to start, and a starting node exits with CATTERY_ERR_CONTEXT_START_FAILED; false: it keeps trying, not ready.",
    }),
    accessTimeout: T.Integer({
      minimum: 1,
      maximum: 600_000,
      default: 5000,
      description:
        "BackupManager: Tomcat's accessTimeout (ms), accepted so that a translated server.xml loads; no effect: a member that stops answering leaves the view by membership (membership.expireTime, dropTime, TcpFailureDetector), and one whose context stops says so.",
    }),
    antiEntropyInterval: T.Integer({
      minimum: 0,
      maximum: 3_600_000,
      default: 30_000,
      description:
        'Milliseconds between the digests a node sends each member to find and restore session copies, changes and ends a member lost while the view held still (±25%); 0 turns anti-entropy off.',
    }),
    expireSessionsOnShutdown: T.Boolean({
      default: false,
      description: 'A stopping node expires its sessions on the whole cluster.',
    }),
    notifyListenersOnReplication: T.Boolean({
      default: true,
      description: 'Session and attribute listeners also fire for replicated changes.',
    }),
    stateTransferTimeout: T.Integer({
      minimum: 1,
      default: 60,
      description:
        'Seconds after which a joining node still without all sessions logs an error; it stays not ready and keeps trying while a member that holds sessions is alive.',
    }),
    sendAllSessionsSize: T.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 1000,
      description:
        'Sessions per state-transfer page, at most (a page also stays under half of receiver.maxFrameBytes).',
    }),
    maxActiveSessions: T.Integer({
      minimum: -1,
      default: -1,
      description: 'Sessions a context may hold (-1: unlimited).',
    }),
    processExpiresFrequency: T.Integer({
      minimum: 1,
      default: 6,
      description: 'Expiry runs every processExpiresFrequency x backgroundProcessorDelay seconds.',
    }),
    backgroundProcessorDelay: T.Number({
      exclusiveMinimum: 0,
      default: 10,
      description: 'Seconds (see processExpiresFrequency).',
    }),
    recordAllActions: T.Boolean({
      default: false,
      description: 'Replicate every attribute action of a request, not only the last per attribute.',
    }),
    trackInPlaceChanges: T.Boolean({
      default: true,
      description: 'Also replicate attributes changed in place (Tomcat replicates only setter calls).',
    }),
    sessionAttributeNameFilter: T.Optional(T.String({ minLength: 1, allowed: 'a regular expression' })),
    maxVersionStep: T.Integer({
      minimum: 1,
      default: 1000,
      description:
        'Versions a replicated change, or a pushed copy of a session held here, may be ahead of the copy held; beyond, it is refused (a copy this member asked for, as in state transfer, is not bound).',
    }),
    maxClockSkew: T.Integer({
      minimum: 0,
      default: 10,
      description:
        "Seconds a replicated access time may be ahead of this node's clock; beyond, it is refused.",
    }),
    readYourWrites: T.Boolean({
      default: true,
      description:
        "A request sees its client's last write on any node (version cookie <cookie name>_V): the node waits for the change in flight, or fetches the session from its writer, before serving. Affinity is not needed for correctness.",
    }),
    readYourWritesTimeout: T.Integer({
      minimum: 1,
      maximum: 60_000,
      default: 1000,
      description:
        "Milliseconds a request waits at most for its client's last write; past it, it is served the copy the node holds (counted as a stale read).",
    }),
  },
  { additionalProperties: false, default: {}, description: "The session manager and Tomcat's attributes." },
)

/** `session`: shared with the SessionCluster resource (operator/api), so the two cannot drift. */
export const SessionSchema = T.Object(
  {
    timeout: T.Number({
      minimum: -1,
      default: 30,
      allowed: 'minutes (a number; -1: never)',
      description: 'Minutes of inactivity before a session expires (-1: never).',
    }),
    maxAttributeSize: T.Integer({
      minimum: 1024,
      default: 1024 * 1024,
      description: 'Largest encoded session attribute, bytes.',
    }),
    maxSessionSize: T.Integer({
      minimum: 1024,
      default: 4 * 1024 * 1024,
      description: 'Largest encoded session, bytes.',
    }),
    maxAttributes: T.Integer({
      minimum: 1,
      default: 1000,
      description: 'Attributes one session may hold.',
    }),
    maxValueDepth: T.Integer({
      minimum: 1,
      maximum: 1000,
      default: 64,
      description: 'Nesting of objects, arrays, maps and sets in an attribute value.',
    }),
    maxTimeout: T.Number({
      minimum: -1,
      default: 1440,
      allowed: 'minutes (a number; -1: no bound)',
      description:
        'Largest max inactive interval a session may have, minutes (-1: no bound, and sessions that never expire are allowed).',
    }),
    cookie: T.Object(
      {
        name: T.String({
          pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
          default: 'JSESSIONID',
          allowed: 'a cookie name',
        }),
        path: T.Optional(T.String({ pattern: '^/', allowed: 'a path starting with /' })),
        httpOnly: T.Boolean({ default: true }),
        secure: T.Boolean({ default: false }),
        sameSite: T.Union([T.Literal('lax'), T.Literal('strict'), T.Literal('none')], { default: 'lax' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Sessions: timeout, size limits, cookie.' },
)

/** `channel`: shared with the SessionCluster resource (operator/api), so the two cannot drift. */
export const ChannelSchema = T.Object(
  {
    sendOptions: T.Union([T.Integer({ minimum: 0, maximum: 31 }), T.String({ minLength: 1 })], {
      default: defaults.sendOptions,
      description: "Tribes' send flags: 8 asynchronous (default), 2 ACK, 4 synchronized ACK, 1 byte message.",
      allowed: 'a number 0-31 or names such as "async", "ack,sync"',
    }),
    interceptors: T.Array(T.Union(Object.values(interceptor)), {
      default: defaults.interceptors,
      description: 'The interceptor stack, head first (docs/interceptors.md).',
    }),
  },
  { additionalProperties: false, default: {} },
)

/** `apps`: the app base loaded at start and how application archives are unpacked (docs/applications.md). */
const AppsSchema = T.Object(
  {
    dir: T.Optional(
      T.String({
        minLength: 1,
        description:
          'the app base: every directory and .tgz in it is an application, loaded before the node is ready (the image: /apps)',
      }),
    ),
    workDir: T.Optional(
      T.String({
        minLength: 1,
        description: 'where .tgz applications are unpacked (default: <tmp>/cattery-<name>/apps)',
      }),
    ),
    maxArchiveBytes: T.Integer({
      minimum: 1024,
      default: 64 * 1024 * 1024,
      description: 'Largest application archive (.tgz), bytes.',
    }),
    maxUnpackedBytes: T.Integer({
      minimum: 1024,
      default: 256 * 1024 * 1024,
      description: 'Largest unpacked application (the sum of its files), bytes.',
    }),
    maxEntries: T.Integer({
      minimum: 1,
      default: 20_000,
      description: 'Most files and directories in one application archive.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Applications: the app base and archive bounds.' },
)

/** `farm`: Tomcat's FarmWarDeployer, with its attribute names (docs/applications.md, "Farm deployment"). */
const FarmSchema = T.Object(
  {
    watchDir: T.Optional(
      T.String({
        minLength: 1,
        description:
          'archives (.tgz) dropped here are deployed on every member; replaced: redeployed; deleted: undeployed (unset: no watching)',
      }),
    ),
    deployDir: T.Optional(
      T.String({
        minLength: 1,
        description: 'where farm applications are unpacked (default: <tmp>/cattery-<name>/farm/deploy)',
      }),
    ),
    tempDir: T.Optional(
      T.String({
        minLength: 1,
        description:
          'where archives are staged while they arrive and kept while deployed (default: <tmp>/cattery-<name>/farm/temp)',
      }),
    ),
    watchEnabled: T.Boolean({
      default: true,
      description:
        'watch watchDir (when it is set); Tomcat defaults to false, here setting watchDir is the switch',
    }),
    processDeployFrequency: T.Integer({
      minimum: 1,
      default: 2,
      description:
        'watchDir is looked at every processDeployFrequency x manager.backgroundProcessorDelay seconds (as in Tomcat)',
    }),
    catchUpTimeout: T.Integer({
      minimum: 1,
      default: 60,
      description:
        "seconds a starting member waits for the cluster's farm applications before it reports ready without the missing ones",
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Farm deployment of applications across the cluster.',
  },
)

export const NodeConfigSchema = T.Object(
  {
    name: T.String({
      minLength: 1,
      pattern: '^[A-Za-z0-9._-]+$',
      allowed: 'letters, digits, dot, dash and underscore',
      description: 'member name and jvmRoute',
    }),
    logLevel: T.Union(
      LOG_LEVELS.map((l) => T.Literal(l)),
      { default: 'info' },
    ),
    domain: T.String({ default: '', description: 'cluster domain; members of other domains are ignored' }),
    receiver: T.Object(
      {
        host: T.String({ minLength: 1, default: defaults.receiver.host }),
        advertiseAddress: T.Optional(
          T.String({
            minLength: 1,
            description:
              'address announced to peers when it differs from host (in a pod: its IP, CATTERY_POD_IP)',
          }),
        ),
        port: T.Integer({ minimum: 0, maximum: 65535, default: defaults.receiver.port }),
        autoBind: T.Integer({ minimum: 1, maximum: 1000, default: defaults.receiver.autoBind }),
        maxFrameBytes: T.Integer({ minimum: 64 * 1024, default: defaults.receiver.maxFrameBytes }),
        frameTimeout: T.Integer({ minimum: 100, default: defaults.receiver.frameTimeout }),
      },
      { additionalProperties: false, default: {} },
    ),
    sender: T.Object(
      {
        timeout: T.Integer({ minimum: 1, default: defaults.sender.timeout }),
        maxRetryAttempts: T.Integer({ minimum: 0, maximum: 10, default: defaults.sender.maxRetryAttempts }),
        asyncWriteInterval: T.Integer({
          minimum: 0,
          maximum: 1000,
          default: defaults.sender.asyncWriteInterval,
          description:
            'ms between writes of asynchronous frames to one member under load (0: every event-loop turn); the most replication lag it adds',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    membership: T.Object(
      {
        type: T.Union([T.Literal('static'), T.Literal('multicast'), T.Literal('kubernetes')], {
          default: 'multicast',
          description:
            'static: a fixed list; multicast: heartbeats; kubernetes: the member list of a SessionCluster, watched through the API',
        }),
        members: T.Array(HostPort, { default: [] }),
        pingInterval: T.Integer({ minimum: 10, default: defaults.static.pingInterval }),
        expireTime: T.Integer({ minimum: 10, default: defaults.static.expireTime }),
        address: T.String({ ...IPv4, default: defaults.multicast.address }),
        port: T.Integer({ minimum: 1, maximum: 65535, default: defaults.multicast.port }),
        frequency: T.Integer({ minimum: 10, default: defaults.multicast.frequency }),
        dropTime: T.Integer({ minimum: 10, default: defaults.multicast.dropTime }),
        ttl: T.Integer({ minimum: 0, maximum: 255, default: defaults.multicast.ttl }),
        bind: T.Optional(T.String({ minLength: 1 })),
        cluster: T.Optional(T.String({ minLength: 1, description: 'kubernetes: the SessionCluster name' })),
        namespace: T.Optional(
          T.String({ minLength: 1, description: "kubernetes: its namespace (default: the pod's)" }),
        ),
        apiServer: T.Optional(
          T.String({
            pattern: '^https?://',
            allowed: 'an https:// URL',
            description: 'kubernetes: the API address (default: from KUBERNETES_SERVICE_HOST/PORT in a pod)',
          }),
        ),
        tokenFile: T.String({
          minLength: 1,
          default: '/var/run/secrets/kubernetes.io/serviceaccount/token',
          description: 'kubernetes: service-account token, re-read as it rotates',
        }),
        caFile: T.String({
          minLength: 1,
          default: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
          description: "kubernetes: CA of the API server's certificate",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    http: T.Object(
      {
        host: T.String({ minLength: 1, default: '0.0.0.0' }),
        port: T.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
      },
      { additionalProperties: false, default: {} },
    ),
    admin: T.Object(
      {
        host: T.String({ minLength: 1, default: '0.0.0.0' }),
        port: T.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
        token: T.Optional(
          T.String({
            minLength: 8,
            allowed: 'a string of at least 8 characters',
            description: 'bearer token for /status, /metrics and /sessions',
          }),
        ),
        tokenFile: T.Optional(
          T.String({
            minLength: 1,
            description: 'a file whose trimmed content is the token (re-read when it changes)',
          }),
        ),
        open: T.Boolean({
          default: false,
          description:
            'without a token, answer /status, /metrics and /sessions on a non-loopback address too',
        }),
        showSessionValues: T.Boolean({
          default: false,
          description: '/sessions/<id> shows attribute values (not only names and sizes)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    cluster: T.Object(
      {
        secretFile: T.Optional(
          T.String({
            minLength: 1,
            description:
              'file holding the cluster secret every member shares (whitespace trimmed, at least 32 characters), or during a rotation up to 4, one per line: the first is used, all are accepted; required unless the receiver is on loopback (docs/security.md)',
          }),
        ),
        insecure: T.Boolean({
          default: false,
          description:
            'run without a cluster secret on a receiver reachable from the network (no authentication, no encryption; warned about in the log and /status)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    apps: AppsSchema,
    farm: FarmSchema,
    manager: ManagerSchema,
    session: SessionSchema,
    jvmRouteBinder: T.Object(
      {
        enabled: T.Boolean({
          default: true,
          description:
            "Tomcat's JvmRouteBinderValve: a cookie naming the route of a node that left the cluster gets this node's route (and the change of id is replicated); a route naming a live node is left alone",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    replicationValve: T.Object(
      {
        filter: T.String({
          default: '.*\\.(gif|js|jpeg|jpg|png|htm|html|css|txt)$',
          description:
            "Tomcat's ReplicationValve filter: requests whose path (without the query string) this pattern matches as a whole do not replicate; empty: every request replicates.",
          allowed: 'a regular expression',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    channel: ChannelSchema,
  },
  { additionalProperties: false },
)

export type NodeConfig = Static<typeof NodeConfigSchema>

/** An application's `cattery` field in its package.json (app-config.ts). */
export const AppConfigSchema = T.Object(
  {
    path: T.Optional(
      T.String({
        allowed: "a context path: / or /segment/... (letters, digits, '.', '_', '~', '-')",
        description: 'The context path, instead of the one the name gives (ROOT: /, shop#v2: /shop/v2).',
      }),
    ),
    manager: ManagerSchema,
    session: SessionSchema,
    channel: T.Object(
      { sendOptions: ChannelSchema.properties.sendOptions },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
)
