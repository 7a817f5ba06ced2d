/**
 * Loads the node's configuration: flags, then environment variables, then the YAML file named by
 * --config (or CATTERY_CONFIG), then defaults — in that order of precedence — validated by one schema.
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import type { ValidateFunction } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { codes } from '../tribes/errors.ts'
import type { ChannelOptions, InterceptorConfig } from '../tribes/options.ts'
import type { SecurityOptions } from '../tribes/security/channel-security.ts'
import { HOW_TO_MAKE_A_SECRET, securityMode } from '../tribes/security/policy.ts'
import { parseSecretFile } from '../tribes/security/secret-file.ts'
import { parseSendOptions } from '../tribes/send-options.ts'
import { ConfigError, type ConfigProblem } from './errors.ts'
import { explain } from './explain.ts'
import * as compiled from './node-config.validators.js'
import type { NodeConfig } from './schema.ts'

/** Flags and their environment variables; each sets one key of the schema. */
export const SETTINGS = [
  { flag: 'name', env: 'CATTERY_NAME', key: 'name' },
  { flag: 'receiver-host', env: 'CATTERY_RECEIVER_HOST', key: 'receiver.host' },
  { flag: 'receiver-port', env: 'CATTERY_RECEIVER_PORT', key: 'receiver.port' },
  // The downward API's status.podIP in the operator's pods.
  { flag: 'receiver-advertise-address', env: 'CATTERY_POD_IP', key: 'receiver.advertiseAddress' },
  { flag: 'membership', env: 'CATTERY_MEMBERSHIP', key: 'membership.type' },
  { flag: 'members', env: 'CATTERY_MEMBERS', key: 'membership.members', list: true },
  { flag: 'multicast-address', env: 'CATTERY_MULTICAST_ADDRESS', key: 'membership.address' },
  { flag: 'multicast-port', env: 'CATTERY_MULTICAST_PORT', key: 'membership.port' },
  { flag: 'kubernetes-cluster', env: 'CATTERY_CLUSTER', key: 'membership.cluster' },
  { flag: 'kubernetes-namespace', env: 'CATTERY_NAMESPACE', key: 'membership.namespace' },
  { flag: 'kubernetes-api', env: 'CATTERY_KUBERNETES_API', key: 'membership.apiServer' },
  { flag: 'kubernetes-token-file', env: 'CATTERY_KUBERNETES_TOKEN_FILE', key: 'membership.tokenFile' },
  { flag: 'kubernetes-ca-file', env: 'CATTERY_KUBERNETES_CA_FILE', key: 'membership.caFile' },
  { flag: 'domain', env: 'CATTERY_DOMAIN', key: 'domain' },
  { flag: 'send-options', env: 'CATTERY_SEND_OPTIONS', key: 'channel.sendOptions' },
  { flag: 'log-level', env: 'CATTERY_LOG_LEVEL', key: 'logLevel' },
  { flag: 'http-host', env: 'CATTERY_HTTP_HOST', key: 'http.host' },
  { flag: 'http-port', env: 'CATTERY_HTTP_PORT', key: 'http.port' },
  { flag: 'admin-host', env: 'CATTERY_ADMIN_HOST', key: 'admin.host' },
  { flag: 'admin-port', env: 'CATTERY_ADMIN_PORT', key: 'admin.port' },
  { flag: 'admin-token', env: 'CATTERY_ADMIN_TOKEN', key: 'admin.token' },
  // The operator mounts the admin token Secret here: the env name is a contract with it.
  { flag: 'admin-token-file', env: 'CATTERY_ADMIN_TOKEN_FILE', key: 'admin.tokenFile' },
  { flag: 'admin-open', env: 'CATTERY_ADMIN_OPEN', key: 'admin.open', bool: true },
  {
    flag: 'admin-show-session-values',
    env: 'CATTERY_ADMIN_SHOW_SESSION_VALUES',
    key: 'admin.showSessionValues',
    bool: true,
  },
  { flag: 'apps-dir', env: 'CATTERY_APPS_DIR', key: 'apps.dir' },
  { flag: 'apps-work-dir', env: 'CATTERY_APPS_WORK_DIR', key: 'apps.workDir' },
  { flag: 'farm-watch-dir', env: 'CATTERY_FARM_WATCH_DIR', key: 'farm.watchDir' },
  { flag: 'farm-deploy-dir', env: 'CATTERY_FARM_DEPLOY_DIR', key: 'farm.deployDir' },
  { flag: 'farm-temp-dir', env: 'CATTERY_FARM_TEMP_DIR', key: 'farm.tempDir' },
  { flag: 'farm-watch-enabled', env: 'CATTERY_FARM_WATCH_ENABLED', key: 'farm.watchEnabled', bool: true },
  {
    flag: 'farm-process-deploy-frequency',
    env: 'CATTERY_FARM_PROCESS_DEPLOY_FREQUENCY',
    key: 'farm.processDeployFrequency',
  },
  { flag: 'manager', env: 'CATTERY_MANAGER', key: 'manager.type' },
  { flag: 'backups', env: 'CATTERY_BACKUPS', key: 'manager.backups' },
  { flag: 'map-send-options', env: 'CATTERY_MAP_SEND_OPTIONS', key: 'manager.mapSendOptions' },
  {
    flag: 'terminate-on-start-failure',
    env: 'CATTERY_TERMINATE_ON_START_FAILURE',
    key: 'manager.terminateOnStartFailure',
    bool: true,
  },
  { flag: 'session-timeout', env: 'CATTERY_SESSION_TIMEOUT', key: 'session.timeout' },
  { flag: 'cookie-name', env: 'CATTERY_COOKIE_NAME', key: 'session.cookie.name' },
  { flag: 'jvm-route-binder', env: 'CATTERY_JVM_ROUTE_BINDER', key: 'jvmRouteBinder.enabled', bool: true },
  { flag: 'read-your-writes', env: 'CATTERY_READ_YOUR_WRITES', key: 'manager.readYourWrites', bool: true },
  // The operator mounts the secret and sets CATTERY_CLUSTER_SECRET_FILE: that name is a contract.
  { flag: 'cluster-secret-file', env: 'CATTERY_CLUSTER_SECRET_FILE', key: 'cluster.secretFile' },
  { flag: 'insecure-cluster', env: 'CATTERY_INSECURE_CLUSTER', key: 'cluster.insecure', bool: true },
] as const

export interface LoadInput {
  argv: string[]
  env: NodeJS.ProcessEnv
  readFile?: (path: string) => string
}

export interface Loaded {
  config: NodeConfig
  channelOptions: Omit<ChannelOptions, 'logger'>
  help: boolean
  version: boolean
}

// Compiled ahead of time (scripts/lib/validator-source.ts): with defaults filled in and strings coerced.
const validate = compiled.validateNodeConfig as ValidateFunction<NodeConfig>
const validateInterceptor = Object.fromEntries(
  Object.entries(compiled)
    .filter(([name]) => name !== 'validateNodeConfig')
    .map(([name, v]) => [name.slice('validate'.length), v as ValidateFunction]),
)

export function loadConfig(input: LoadInput): Loaded {
  const { flags, help, version } = parseFlags(input.argv)
  const sources = new Map<string, string>()
  const config: Record<string, unknown> = {}

  const file = (flags.config as string | undefined) ?? input.env.CATTERY_CONFIG
  if (file) {
    const fromFile = readYaml(file, input.readFile ?? ((p) => readFileSync(p, 'utf8')))
    merge(config, fromFile, '', sources, `config file ${file}`)
  }
  for (const s of SETTINGS) {
    const raw = input.env[s.env]
    if (raw !== undefined && raw !== '') setKey(config, s.key, toValue(raw, 'list' in s), sources, s.env)
  }
  for (const s of SETTINGS) {
    const raw = flags[s.flag]
    if (raw === true) setKey(config, s.key, true, sources, `--${s.flag}`)
    else if (raw !== undefined)
      setKey(config, s.key, toValue(raw as string, 'list' in s), sources, `--${s.flag}`)
  }
  if (config.name === undefined) {
    config.name = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-')
    sources.set('name', 'default (host name)')
  }
  const sourceOf = (key: string) => sources.get(key) ?? nearestSource(sources, key) ?? 'default'

  if (!validate(config)) {
    throw new ConfigError(
      explain(validate.errors ?? [], config, sourceOf, (type, value, path) => {
        const v = validateInterceptor[type]
        if (!v || v(value)) return undefined
        return (v.errors ?? []).map((e) => ({ ...e, instancePath: path + e.instancePath }))
      }),
    )
  }
  const valid = config as NodeConfig
  const problems: ConfigProblem[] = []
  try {
    parseSendOptions(valid.manager.mapSendOptions)
  } catch (err) {
    problems.push({
      key: 'manager.mapSendOptions',
      source: sourceOf('manager.mapSendOptions'),
      value: valid.manager.mapSendOptions,
      problem: (err as Error).message,
    })
  }
  let sendOptions = 8
  try {
    sendOptions = parseSendOptions(valid.channel.sendOptions)
  } catch (err) {
    problems.push({
      key: 'channel.sendOptions',
      source: sourceOf('channel.sendOptions'),
      value: valid.channel.sendOptions,
      problem: (err as Error).message,
    })
  }
  for (const [i, ic] of valid.channel.interceptors.entries()) {
    if (ic.type === 'Encrypt' && (ic.keyFile === undefined) === (ic.keyEnv === undefined)) {
      const key = `channel.interceptors[${i}]`
      problems.push({
        key,
        source: sourceOf(key),
        value: ic,
        problem: 'Encrypt needs exactly one of keyFile, keyEnv',
      })
    }
  }
  for (const key of ['manager.sessionAttributeNameFilter', 'replicationValve.filter'] as const) {
    const [a, b] = key.split('.') as [string, string]
    const value = (valid as unknown as Record<string, Record<string, unknown>>)[a]?.[b]
    if (typeof value !== 'string') continue
    try {
      new RegExp(value)
    } catch (err) {
      problems.push({
        key,
        source: sourceOf(key),
        value,
        problem: `not a regular expression: ${(err as Error).message}`,
      })
    }
  }
  problems.push(...adminTokenProblems(valid, input, sourceOf))
  const { timeout, maxTimeout } = valid.session
  if (maxTimeout >= 0 && (timeout < 0 || timeout > maxTimeout)) {
    problems.push({
      key: 'session.timeout',
      source: sourceOf('session.timeout'),
      value: timeout,
      problem: `must be at most session.maxTimeout (${maxTimeout} minutes); sessions that never expire (-1) need session.maxTimeout -1`,
    })
  }
  if (valid.membership.type === 'kubernetes') problems.push(...kubernetesDefaults(valid, input, sourceOf))
  // --help and --version need no secret.
  const security = help || version ? undefined : clusterSecurity(valid, input, sourceOf, problems)
  if (problems.length) throw new ConfigError(problems)
  return {
    config: valid,
    channelOptions: { ...toChannelOptions(valid, sendOptions), security },
    help,
    version,
  }
}

/**
 * The cluster secrets from `cluster.secretFile` (one per line, the primary first:
 * security/secret-file.ts), and the refusal of a reachable node without one (security/policy.ts).
 * A secret is never echoed.
 */
function clusterSecurity(
  c: NodeConfig,
  input: LoadInput,
  sourceOf: (key: string) => string,
  problems: ConfigProblem[],
): SecurityOptions | undefined {
  const file = c.cluster.secretFile
  let secrets: string[] | undefined
  if (file !== undefined) {
    const key = 'cluster.secretFile'
    let content: string | undefined
    try {
      content = (input.readFile ?? ((p) => readFileSync(p, 'utf8')))(file)
    } catch (err) {
      problems.push({
        key,
        source: sourceOf(key),
        value: file,
        problem: `${codes.CLUSTER_SECRET}: cannot read the cluster secret: ${(err as Error).message}`,
      })
    }
    if (content !== undefined) {
      try {
        secrets = parseSecretFile(content)
      } catch (err) {
        problems.push({
          key,
          source: sourceOf(key),
          value: file,
          problem: `${codes.CLUSTER_SECRET}: the secret file ${file}: ${(err as Error).message}`,
        })
      }
    }
  }
  const mode = securityMode({
    receiverHost: c.receiver.host,
    membership: c.membership.type,
    hasSecret: file !== undefined,
    insecure: c.cluster.insecure,
  })
  if (!mode) {
    problems.push({
      key: 'cluster.secretFile',
      source: sourceOf('cluster.secretFile'),
      value: undefined,
      problem: `${codes.INSECURE_CHANNEL}: the receiver ${c.receiver.host} (${c.membership.type} membership) is reachable from the network and no cluster secret is set: ${HOW_TO_MAKE_A_SECRET}`,
    })
  }
  if (secrets !== undefined) return { secret: secrets }
  return c.cluster.insecure ? { insecure: true } : undefined
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace'

/** kubernetes membership: fills what a pod provides (API address, namespace); names what is missing. */
function kubernetesDefaults(
  c: NodeConfig,
  input: LoadInput,
  sourceOf: (key: string) => string,
): ConfigProblem[] {
  const m = c.membership
  const problems: ConfigProblem[] = []
  const missing = (key: string, problem: string) =>
    problems.push({ key, source: sourceOf(key), value: undefined, problem })
  if (!m.cluster)
    missing('membership.cluster', 'kubernetes membership needs the SessionCluster name (CATTERY_CLUSTER)')
  if (!m.namespace) {
    try {
      m.namespace = (input.readFile ?? ((f) => readFileSync(f, 'utf8')))(SERVICE_ACCOUNT_NAMESPACE).trim()
    } catch {
      missing(
        'membership.namespace',
        'kubernetes membership needs a namespace outside a pod (CATTERY_NAMESPACE)',
      )
    }
  }
  if (!m.apiServer) {
    const host = input.env.KUBERNETES_SERVICE_HOST
    const port = input.env.KUBERNETES_SERVICE_PORT ?? '443'
    if (host) m.apiServer = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
    else
      missing(
        'membership.apiServer',
        'kubernetes membership needs the API address outside a pod (CATTERY_KUBERNETES_API)',
      )
  }
  return problems
}

function toChannelOptions(c: NodeConfig, sendOptions: number): Omit<ChannelOptions, 'logger'> {
  const m = c.membership
  return {
    name: c.name,
    domain: c.domain,
    receiver: c.receiver,
    sender: c.sender,
    membership:
      m.type === 'static'
        ? { type: 'static', members: m.members, pingInterval: m.pingInterval, expireTime: m.expireTime }
        : m.type === 'kubernetes'
          ? {
              type: 'kubernetes',
              cluster: m.cluster as string,
              namespace: m.namespace as string,
              apiServer: m.apiServer as string,
              tokenFile: m.tokenFile,
              caFile: m.caFile,
              pingInterval: m.pingInterval,
              expireTime: m.expireTime,
            }
          : {
              type: 'multicast',
              address: m.address,
              port: m.port,
              frequency: m.frequency,
              dropTime: m.dropTime,
              ttl: m.ttl,
              bind: m.bind,
            },
    interceptors: c.channel.interceptors as InterceptorConfig[],
    sendOptions,
  }
}

function parseFlags(argv: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  }
  for (const s of SETTINGS) options[s.flag] = { type: 'string' }
  try {
    const { values } = parseArgs({ args: bareBooleans(argv), options, strict: true, allowPositionals: false })
    return {
      flags: values as Record<string, string | boolean | undefined>,
      help: !!values.help,
      version: !!values.version,
    }
  } catch (err) {
    const flag = /'(-[^']+)'/.exec((err as Error).message)?.[1] ?? String(argv.join(' '))
    throw new ConfigError([
      {
        key: flag,
        source: 'command line',
        value: undefined,
        problem: `${(err as Error).message.replace(/\. To specify.*$/s, '')}; flags: --config, ${SETTINGS.map((s) => `--${s.flag}`).join(', ')}, --help, --version`,
      },
    ])
  }
}

/** A boolean flag given without a value (`--admin-open`) means true; `--admin-open false` still works. */
function bareBooleans(argv: string[]): string[] {
  const bools = new Set<string>(SETTINGS.filter((s) => 'bool' in s).map((s) => `--${s.flag}`))
  return argv.map((a, i) => {
    const next = argv[i + 1]
    return bools.has(a) && (next === undefined || next.startsWith('--')) ? `${a}=true` : a
  })
}

/** admin.tokenFile: read now, so a missing or short token stops the node with the others' problems. */
function adminTokenProblems(
  c: NodeConfig,
  input: LoadInput,
  sourceOf: (key: string) => string,
): ConfigProblem[] {
  const { token, tokenFile } = c.admin
  if (tokenFile === undefined) return []
  const problem = (problem: string) => [
    { key: 'admin.tokenFile', source: sourceOf('admin.tokenFile'), value: tokenFile, problem },
  ]
  if (token !== undefined) return problem('set admin.token or admin.tokenFile, not both')
  try {
    const read = readAdminToken(tokenFile, input.readFile)
    if (read.length < 8) return problem(`the token in the file has ${read.length} characters; at least 8`)
  } catch (err) {
    return problem(`cannot read: ${(err as Error).message}`)
  }
  return []
}

/** The token in admin.tokenFile: the file's content without surrounding white space. */
export function readAdminToken(file: string, read?: (path: string) => string): string {
  return (read ?? ((p) => readFileSync(p, 'utf8')))(file).trim()
}

function readYaml(file: string, read: (p: string) => string): Record<string, unknown> {
  let text: string
  try {
    text = read(file)
  } catch (err) {
    throw new ConfigError([
      {
        key: '--config',
        source: 'command line',
        value: file,
        problem: `cannot read: ${(err as Error).message}`,
      },
    ])
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new ConfigError([
      {
        key: '(file)',
        source: `config file ${file}`,
        value: undefined,
        problem: `not valid YAML: ${(err as Error).message}`,
      },
    ])
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([
      { key: '(file)', source: `config file ${file}`, value: doc, problem: 'must be a map of keys' },
    ])
  }
  return doc as Record<string, unknown>
}

function toValue(raw: string, list: boolean): unknown {
  return list
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : raw
}

function setKey(
  target: Record<string, unknown>,
  key: string,
  value: unknown,
  sources: Map<string, string>,
  src: string,
) {
  const parts = key.split('.')
  let o = target
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {}
    o = o[p] as Record<string, unknown>
  }
  o[parts.at(-1) as string] = value
  sources.set(key, src)
}

function merge(
  target: Record<string, unknown>,
  from: Record<string, unknown>,
  prefix: string,
  sources: Map<string, string>,
  src: string,
) {
  for (const [k, v] of Object.entries(from)) {
    const key = prefix ? `${prefix}.${k}` : k
    sources.set(key, src)
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if (typeof target[k] !== 'object' || target[k] === null) target[k] = {}
      merge(target[k] as Record<string, unknown>, v as Record<string, unknown>, key, sources, src)
    } else target[k] = v
  }
}

function nearestSource(sources: Map<string, string>, key: string): string | undefined {
  const parts = key.replace(/\[\d+\]/g, '').split('.')
  while (parts.length) {
    const s = sources.get(parts.join('.'))
    if (s) return s
    parts.pop()
  }
  return undefined
}
