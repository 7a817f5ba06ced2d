/**
 * The SessionCluster resource (cattery.dev/v1alpha1): one typed schema, the source of the CRD in
 * crds/ (operator/api/crd.ts generates it) and of the node configuration the operator renders. The
 * manager, session and channel parts are the node's own schemas, so the two cannot drift.
 */
import { type Static, Type as T } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ChannelSchema, ManagerSchema, SessionSchema } from '../../node/config/schema.ts'
import { defaults } from '../../node/tribes/options.ts'

export const GROUP = 'cattery.dev'
export const VERSION = 'v1alpha1'
export const KIND = 'SessionCluster'
export const PLURAL = 'sessionclusters'
export const API_VERSION = `${GROUP}/${VERSION}`

const StringMap = T.Record(T.String(), T.String())
const Quantity = T.Union([T.Integer(), T.String()], {
  description: 'a Kubernetes quantity, e.g. 500m or 256Mi',
})

export const SessionClusterSpecSchema = T.Object(
  {
    replicas: T.Integer({ minimum: 0, default: 3, description: 'Number of nodes (kubectl scale sets it).' }),
    image: T.String({ minLength: 1, default: 'cattery-node:0.1.0', description: 'The node image.' }),
    manager: ManagerSchema,
    session: SessionSchema,
    channel: T.Object(
      {
        sendOptions: ChannelSchema.properties.sendOptions,
        receiverPort: T.Integer({
          minimum: 1,
          maximum: 65535,
          default: defaults.receiver.port,
          description: 'The replication port of every node.',
        }),
        interceptors: ChannelSchema.properties.interceptors,
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Group communication: send options, port, interceptors.',
      },
    ),
    membership: T.Object(
      {
        type: T.Union([T.Literal('kubernetes'), T.Literal('multicast')], {
          default: 'kubernetes',
          description:
            'kubernetes: peers from the API, published by the operator; multicast: heartbeats (needs a network that passes multicast).',
        }),
        address: T.String({ default: defaults.multicast.address }),
        port: T.Integer({ minimum: 1, maximum: 65535, default: defaults.multicast.port }),
        frequency: T.Integer({ minimum: 10, default: defaults.multicast.frequency }),
        dropTime: T.Integer({ minimum: 10, default: defaults.multicast.dropTime }),
      },
      { additionalProperties: false, default: {}, description: 'How nodes find each other.' },
    ),
    domain: T.String({
      default: '',
      description:
        'Cluster domain (members of other domains are ignored). Empty: <namespace>.<name>, so two SessionClusters never merge, even on one multicast group.',
    }),
    jvmRouteBinder: T.Boolean({
      default: true,
      description:
        "Tomcat's JvmRouteBinderValve, for fail-over: a request whose cookie names the route of a pod that left the cluster gets this pod's route (the change of id is replicated); a route naming a live pod is left alone. Correct on or off.",
    }),
    resources: T.Optional(
      T.Object(
        {
          requests: T.Optional(T.Record(T.String(), Quantity)),
          limits: T.Optional(T.Record(T.String(), Quantity)),
        },
        { additionalProperties: false, description: 'CPU and memory of each node container.' },
      ),
    ),
    pod: T.Optional(
      T.Object(
        {
          labels: T.Optional(StringMap),
          annotations: T.Optional(StringMap),
          nodeSelector: T.Optional(StringMap),
          tolerations: T.Optional(T.Array(T.Unknown())),
          affinity: T.Optional(T.Unknown()),
        },
        { additionalProperties: false, description: 'Overrides of the node pod template.' },
      ),
    ),
    service: T.Object(
      {
        type: T.Union([T.Literal('ClusterIP'), T.Literal('NodePort'), T.Literal('LoadBalancer')], {
          default: 'ClusterIP',
        }),
        port: T.Integer({
          minimum: 1,
          maximum: 65535,
          default: 80,
          description: 'Port of the client Service.',
        }),
        sessionAffinity: T.Union([T.Literal('None'), T.Literal('ClientIP')], {
          default: 'None',
          description:
            "The client Service: None spreads requests over the pods; correctness does not need affinity (read-your-writes: a request sees its client's last write on any pod). ClientIP keeps a client on one pod: fewer id rebinds, less cross-node traffic, no waits for changes in flight (breaks behind NAT and proxies that share an address).",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    applications: T.Array(
      T.Object(
        {
          name: T.String({
            pattern: '^[A-Za-z0-9._~-]+(#[A-Za-z0-9._~-]+)*$',
            allowed: 'a context name: ROOT, shop, shop#v2',
            description: 'The application (context) name: ROOT → /, shop → /shop, shop#v2 → /shop/v2.',
          }),
          configMap: T.String({
            minLength: 1,
            maxLength: 253,
            description: "A ConfigMap in the SessionCluster's namespace holding the application archive.",
          }),
          key: T.String({
            minLength: 1,
            default: 'app.tgz',
            description: 'The binaryData key of that ConfigMap that holds the .tgz.',
          }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        maxItems: 100,
        description:
          'Applications deployed through the farm: each ConfigMap\'s archive is projected into every node\'s farm watch directory (docs/applications.md, "On Kubernetes"). Updating a ConfigMap redeploys; deleting it undeploys.',
      },
    ),
    podDisruptionBudget: T.Object(
      {
        enabled: T.Boolean({ default: true }),
        maxUnavailable: T.Integer({ minimum: 1, default: 1 }),
      },
      { additionalProperties: false, default: {}, description: 'Voluntary disruptions allowed at once.' },
    ),
  },
  { additionalProperties: false },
)

const Condition = T.Object({
  type: T.String(),
  status: T.Union([T.Literal('True'), T.Literal('False'), T.Literal('Unknown')]),
  reason: T.String(),
  message: T.String(),
  lastTransitionTime: T.String(),
  observedGeneration: T.Optional(T.Integer()),
})

export const SessionClusterStatusSchema = T.Object({
  observedGeneration: T.Optional(T.Integer()),
  replicas: T.Optional(T.Integer()),
  readyReplicas: T.Optional(T.Integer()),
  selector: T.Optional(T.String()),
  members: T.Optional(
    T.Array(T.Object({ name: T.String(), podIP: T.String(), port: T.Integer(), ready: T.Boolean() }), {
      description: 'The nodes with an address (name = jvmRoute); the nodes watch this list for peers.',
    }),
  ),
  conditions: T.Optional(T.Array(Condition)),
  applications: T.Optional(
    T.Array(
      T.Object({
        name: T.String(),
        configMap: T.String(),
        digest: T.Optional(T.String()),
        problem: T.Optional(T.String()),
        members: T.Optional(
          T.Array(T.String(), {
            description:
              'The ready pods that run exactly this digest, by ordinal (each says so on its admin /status).',
          }),
        ),
        failures: T.Optional(
          T.Array(T.Object({ member: T.String(), code: T.Optional(T.String()), reason: T.String() }), {
            description: "Pods whose farm failed to deploy this digest, with the farm's code and reason.",
          }),
        ),
      }),
      {
        description:
          'spec.applications as the operator sees them: the SHA-256 of each ConfigMap\'s archive (the digest the farm deploys it under) or why it cannot be read, and which ready pods run that digest or failed to (docs/applications.md, "On Kubernetes").',
      },
    ),
  ),
})

export type SessionClusterSpec = Static<typeof SessionClusterSpecSchema>
export type SessionClusterStatus = Static<typeof SessionClusterStatusSchema>

export interface SessionCluster {
  apiVersion: typeof API_VERSION
  kind: typeof KIND
  metadata: {
    name: string
    namespace: string
    uid?: string
    generation?: number
    labels?: Record<string, string>
  }
  spec: SessionClusterSpec
  status?: SessionClusterStatus
}

/** A spec with every default filled in, as the API server stores it. */
export function withDefaults(spec: Partial<SessionClusterSpec>): SessionClusterSpec {
  return Value.Default(SessionClusterSpecSchema, structuredClone(spec)) as SessionClusterSpec
}
