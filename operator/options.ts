/**
 * The operator's command line (flags, with CATTERY_OPERATOR_* environment fallbacks for a Deployment).
 * A bad flag or value exits 2 with a message naming it.
 */
import os from 'node:os'
import { parseArgs } from 'node:util'
import { leaderElectionDefaults } from './controller/leader-election.ts'
import type { OperatorLocation } from './resources/network-policy.ts'

export interface OperatorOptions {
  namespaces: string[]
  leaderElect: boolean
  leaderElectionNamespace: string
  leaderElectionId: string
  leaseDurationMs: number
  renewDeadlineMs: number
  retryPeriodMs: number
  healthAddress: { host: string; port: number }
  metricsAddress: { host: string; port: number }
  logLevel: string
  identity: string
  /** Where the operator's own pods are (POD_NAMESPACE and --operator-pod-selector); unset on a host. */
  operator: OperatorLocation | undefined
  help: boolean
}

export class OptionsError extends Error {
  readonly code = 'CATTERY_ERR_OPERATOR_OPTIONS'
}

export const USAGE = `usage: cattery-operator [flags]

  --namespace NS[,NS]          namespaces to watch (repeatable; default: all)   CATTERY_OPERATOR_NAMESPACES
  --leader-elect BOOL          elect one active replica on a Lease (default true)
  --leader-election-namespace  namespace of the Lease (default: the pod's, else default)  POD_NAMESPACE
  --leader-election-id NAME    name of the Lease (default cattery-operator)
  --lease-duration SECONDS     (default 15)   --renew-deadline SECONDS (default 10)   --retry-period SECONDS (default 2)
  --health-probe-bind-address HOST:PORT   /healthz and /readyz (default :8081)
  --metrics-bind-address HOST:PORT        /metrics (default :8080; 0 turns it off)
  --log-level LEVEL            trace|debug|info|warn|error (default info)
  --operator-pod-selector K=V[,K=V]   labels of the operator's own pods: with POD_NAMESPACE, the node
                               pods' NetworkPolicy admits them to the admin port   CATTERY_OPERATOR_POD_SELECTOR
  KUBECONFIG                   kubeconfig to use; in a pod, the service account is used
`

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): OperatorOptions {
  let values: Record<string, string | string[] | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        namespace: { type: 'string', multiple: true },
        'leader-elect': { type: 'string' },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        'health-probe-bind-address': { type: 'string' },
        'metrics-bind-address': { type: 'string' },
        'log-level': { type: 'string' },
        'operator-pod-selector': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    throw new OptionsError((err as Error).message)
  }
  const str = (k: string) => values[k] as string | undefined
  const namespaces = ((values.namespace as string[] | undefined) ?? [env.CATTERY_OPERATOR_NAMESPACES ?? ''])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)
  const seconds = (flag: string, fallback: number) => {
    const v = str(flag)
    if (v === undefined) return fallback * 1000
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0)
      throw new OptionsError(`--${flag} must be a positive number of seconds, got "${v}"`)
    return n * 1000
  }
  const address = (flag: string, fallback: number) => {
    const v = str(flag) ?? `:${fallback}`
    const m = /^(.*):(\d+)$/.exec(v)
    const port = m ? Number(m[2]) : Number.NaN
    if (!m || port > 65535) throw new OptionsError(`--${flag} must be HOST:PORT or :PORT, got "${v}"`)
    return { host: m[1] || '0.0.0.0', port }
  }
  const elect = str('leader-elect') ?? 'true'
  if (elect !== 'true' && elect !== 'false')
    throw new OptionsError(`--leader-elect must be true or false, got "${elect}"`)
  const logLevel = str('log-level') ?? 'info'
  if (!LEVELS.includes(logLevel))
    throw new OptionsError(`--log-level must be one of ${LEVELS.join('|')}, got "${logLevel}"`)
  const podLabels = labelsOf(str('operator-pod-selector') ?? env.CATTERY_OPERATOR_POD_SELECTOR ?? '')
  const o: OperatorOptions = {
    namespaces: namespaces.length ? [...new Set(namespaces)] : [''],
    leaderElect: elect === 'true',
    leaderElectionNamespace: str('leader-election-namespace') ?? env.POD_NAMESPACE ?? 'default',
    leaderElectionId: str('leader-election-id') ?? 'cattery-operator',
    leaseDurationMs: seconds('lease-duration', leaderElectionDefaults.leaseDurationMs / 1000),
    renewDeadlineMs: seconds('renew-deadline', leaderElectionDefaults.renewDeadlineMs / 1000),
    retryPeriodMs: seconds('retry-period', leaderElectionDefaults.retryPeriodMs / 1000),
    healthAddress: address('health-probe-bind-address', 8081),
    metricsAddress: address('metrics-bind-address', 8080),
    logLevel,
    identity: `${env.POD_NAME ?? os.hostname()}_${process.pid}`,
    operator:
      env.POD_NAMESPACE && Object.keys(podLabels).length
        ? { namespace: env.POD_NAMESPACE, podLabels }
        : undefined,
    help: values.help === true,
  }
  if (o.renewDeadlineMs >= o.leaseDurationMs)
    throw new OptionsError('--renew-deadline must be shorter than --lease-duration')
  if (o.retryPeriodMs >= o.renewDeadlineMs)
    throw new OptionsError('--retry-period must be shorter than --renew-deadline')
  return o
}

/** `k=v,k=v` as labels; an empty string is none. */
function labelsOf(v: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(part)
    if (!m) throw new OptionsError(`--operator-pod-selector must be KEY=VALUE[,KEY=VALUE], got "${v}"`)
    out[m[1] as string] = m[2] as string
  }
  return out
}
