/**
 * Kubernetes Events on a SessionCluster, for what a user should see in `kubectl describe`: objects
 * created, scaling, readiness won or lost, failures. Recording never fails the reconcile.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node'
import type { Logger } from 'pino'
import { API_VERSION, KIND, type SessionCluster } from '../api/session-cluster.ts'

export type EventType = 'Normal' | 'Warning'

export class EventRecorder {
  readonly #api: CoreV1Api
  readonly #logger: Logger
  readonly #component: string

  constructor(kc: KubeConfig, logger: Logger, component = 'cattery-operator') {
    this.#api = kc.makeApiClient(CoreV1Api)
    this.#logger = logger
    this.#component = component
  }

  record(sc: SessionCluster, type: EventType, reason: string, message: string): void {
    const now = new Date()
    this.#logger.info({ cluster: `${sc.metadata.namespace}/${sc.metadata.name}`, type, reason }, message)
    this.#api
      .createNamespacedEvent({
        namespace: sc.metadata.namespace,
        body: {
          metadata: { generateName: `${sc.metadata.name}.`, namespace: sc.metadata.namespace },
          involvedObject: {
            apiVersion: API_VERSION,
            kind: KIND,
            name: sc.metadata.name,
            namespace: sc.metadata.namespace,
            ...(sc.metadata.uid ? { uid: sc.metadata.uid } : {}),
          },
          type,
          reason,
          message,
          source: { component: this.#component },
          reportingComponent: this.#component,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch((err: Error) => this.#logger.warn({ err: err.message, reason }, 'cannot record an event'))
  }
}
