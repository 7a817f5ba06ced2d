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

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** `manager`: shared with the SessionCluster resource (operator/api), so the two cannot drift. */
export const ManagerSchema = T.Object(
  {
    type: T.Union([T.Literal('delta'), T.Literal('standard')], { default: 'delta' }),
    expireSessionsOnShutdown: T.Boolean({ default: false }),
    notifyListenersOnReplication: T.Boolean({ default: true }),
    stateTransferTimeout: T.Integer({ minimum: 1, default: 60 }),
    sendAllSessionsSize: T.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
    maxActiveSessions: T.Integer({ minimum: -1, default: -1 }),
    processExpiresFrequency: T.Integer({ minimum: 1, default: 6 }),
    backgroundProcessorDelay: T.Number({ exclusiveMinimum: 0, default: 10 }),
    recordAllActions: T.Boolean({ default: false }),
    trackInPlaceChanges: T.Boolean({ default: true }),
    sessionAttributeNameFilter: T.Optional(T.String({ minLength: 1, allowed: 'a regular expression' })),
  },
  { additionalProperties: false, default: {} },
)

/** `session`: shared with the SessionCluster resource (operator/api), so the two cannot drift. */
export const SessionSchema = T.Object(
  {
    timeout: T.Number({ minimum: -1, default: 30, allowed: 'minutes (a number; -1: never)' }),
    maxAttributeSize: T.Integer({ minimum: 1024, default: 1024 * 1024 }),
    maxSessionSize: T.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),
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
  { additionalProperties: false, default: {} },
)

/** `channel`: shared with the SessionCluster resource (operator/api), so the two cannot drift. */
export const ChannelSchema = T.Object(
  {
    sendOptions: T.Union([T.Integer({ minimum: 0, maximum: 31 }), T.String({ minLength: 1 })], {
      default: defaults.sendOptions,
      allowed: 'a number 0-31 or names such as "async", "ack,sync"',
    }),
    interceptors: T.Array(T.Union(Object.values(interceptor)), {
      default: defaults.interceptors,
    }),
  },
  { additionalProperties: false, default: {} },
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
      },
      { additionalProperties: false, default: {} },
    ),
    membership: T.Object(
      {
        type: T.Union([T.Literal('static'), T.Literal('multicast')], { default: 'multicast' }),
        members: T.Array(HostPort, { default: [] }),
        pingInterval: T.Integer({ minimum: 10, default: defaults.static.pingInterval }),
        expireTime: T.Integer({ minimum: 10, default: defaults.static.expireTime }),
        address: T.String({ ...IPv4, default: defaults.multicast.address }),
        port: T.Integer({ minimum: 1, maximum: 65535, default: defaults.multicast.port }),
        frequency: T.Integer({ minimum: 10, default: defaults.multicast.frequency }),
        dropTime: T.Integer({ minimum: 10, default: defaults.multicast.dropTime }),
        ttl: T.Integer({ minimum: 0, maximum: 255, default: defaults.multicast.ttl }),
        bind: T.Optional(T.String({ minLength: 1 })),
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
        token: T.Optional(T.String({ minLength: 8, allowed: 'a string of at least 8 characters' })),
      },
      { additionalProperties: false, default: {} },
    ),
    manager: ManagerSchema,
    session: SessionSchema,
    replicationValve: T.Object(
      {
        filter: T.String({
          default: '.*\\.(gif|js|jpeg|jpg|png|htm|html|css|txt)$',
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
