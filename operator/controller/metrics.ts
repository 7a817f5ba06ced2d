/** The operator's Prometheus metrics (controller-runtime's names where they exist). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export function operatorMetrics() {
  const registry = new Registry()
  return {
    registry,
    reconciles: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciles by result (success, error).',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconciles that failed.',
      labelNames: ['controller'],
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Duration of reconciles.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Keys waiting in the work queue.',
      labelNames: ['name'],
      registers: [registry],
    }),
    watchErrors: new Counter({
      name: 'cattery_operator_watch_errors_total',
      help: 'Watch failures (each is retried with back-off).',
      labelNames: ['kind'],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'leader_election_master_status',
      help: '1 while this replica is the leader.',
      labelNames: ['name'],
      registers: [registry],
    }),
  }
}

export type OperatorMetrics = ReturnType<typeof operatorMetrics>
