/**
 * A real Kubernetes for a test file, started by scripts/kube/up.sh with its own data directory and
 * stopped by down.sh: the control plane alone (etcd, kube-apiserver, kube-controller-manager on free
 * loopback ports; no kubelet), or with `node: true` the single-node cluster of `make kube-up` (a
 * kubelet with containerd, kube-proxy, kube-scheduler; one such node per machine at a time).
 * The binaries come from scripts/kube/build-binaries.sh; without them the test fails with that command.
 */
import { execFile } from 'node:child_process'
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { until } from './http-nodes.ts'
import { freePorts, NodeProcess } from './node-process.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
export const KUBE_VERSION = 'v1.35.4'
const CACHE = path.join(
  process.env.CATTERY_KUBE_CACHE ?? path.join(os.homedir(), '.cache/cattery/kube'),
  KUBE_VERSION,
  'bin',
)
const run = promisify(execFile)

export function kubeBinaries(): string {
  for (const b of [
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubelet',
    'kube-proxy',
    'kubectl',
    'helm',
  ]) {
    if (!existsSync(path.join(CACHE, b)))
      throw new Error(
        `${b} ${KUBE_VERSION} is missing from ${CACHE}: build it with scripts/kube/build-binaries.sh (or make kube-binaries)`,
      )
  }
  if (!existsSync('/usr/bin/etcd')) throw new Error('etcd is missing: apt-get install -y etcd-server')
  return CACHE
}

export interface ControlPlane {
  dir: string
  kubeconfig: string
  apiPort: number
  caFile: string
  kubectl(...args: string[]): Promise<string>
  /** kubectl with a JSON result. */
  // biome-ignore lint/suspicious/noExplicitAny: API objects are read freely
  json<T = Record<string, any>>(...args: string[]): Promise<T>
  /** Kills the apiserver and resolves once it is gone (up.sh would otherwise take it as running). */
  stopApiserver(): Promise<void>
  /** Starts whatever is not running (after stopApiserver). */
  up(): Promise<void>
  down(): Promise<void>
}

export async function startControlPlane(o: { node?: boolean } = {}): Promise<ControlPlane> {
  const bin = kubeBinaries()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-kube-'))
  const [etcdPort, apiPort] = (await freePorts(2)) as [number, number]
  const env = {
    ...process.env,
    CATTERY_KUBE_DIR: dir,
    CATTERY_ETCD_PORT: String(etcdPort),
    CATTERY_APISERVER_PORT: String(apiPort),
    CATTERY_KUBE_NODE: o.node ? '1' : '0',
  }
  const up = async () => {
    await run(path.join(ROOT, 'scripts/kube/up.sh'), { env, maxBuffer: 16 << 20 }).catch((err) => {
      throw new Error(`scripts/kube/up.sh failed: ${err.stderr || err.message}`)
    })
  }
  await up()
  const kubeconfig = path.join(dir, 'kubeconfig')
  const kubectl = async (...args: string[]) => {
    const r = await run(path.join(bin, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], {
      maxBuffer: 64 << 20,
    })
    return r.stdout
  }
  return {
    dir,
    kubeconfig,
    apiPort,
    caFile: path.join(dir, 'pki/ca.crt'),
    kubectl,
    json: async (...args) => JSON.parse(await kubectl(...args, '-o', 'json')),
    stopApiserver: async () => {
      const pid = Number(readFileSync(path.join(dir, 'apiserver.pid'), 'utf8'))
      process.kill(pid, 'SIGKILL')
      // Gone, or a zombie (up.sh's `running` counts neither as running).
      const dead = () => {
        try {
          return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, ''))
        } catch {
          return true
        }
      }
      const deadline = Date.now() + 30_000
      while (!dead()) {
        if (Date.now() > deadline)
          throw new Error(`the apiserver (pid ${pid}) is still alive 30 s after SIGKILL`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    up,
    down: async () => {
      await run(path.join(ROOT, 'scripts/kube/down.sh'), { env }).catch((err) => {
        throw new Error(`scripts/kube/down.sh failed: ${err.stderr || err.message}`)
      })
    },
  }
}

/** `until`, for API reads: a failing check (not found yet, API restarting) counts as not yet. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  let lastError = ''
  return until(
    what,
    () =>
      check().catch((err: Error) => {
        lastError = err.message
        return undefined
      }),
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(lastError ? `${err.message}; last error: ${lastError}` : err.message)
  })
}

/**
 * cattery-operator (operator/main.ts) as a child process with the given kubeconfig, its health and
 * metrics servers on free loopback ports.
 */
export async function operatorProcess(
  name: string,
  kubeconfig: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ proc: NodeProcess; health: number; metrics: number }> {
  const [health, metrics] = (await freePorts(2)) as [number, number]
  const proc = new NodeProcess(
    name,
    [
      '--health-probe-bind-address',
      `127.0.0.1:${health}`,
      '--metrics-bind-address',
      `127.0.0.1:${metrics}`,
      ...args,
    ],
    {
      command: [process.execPath, path.join(ROOT, 'operator/main.ts')],
      env: { ...env, KUBECONFIG: kubeconfig },
      passName: false,
    },
  )
  return { proc, health, metrics }
}

/** helm with the control plane's kubeconfig (or none, for lint and template). */
export async function helm(cp: ControlPlane | undefined, ...args: string[]): Promise<string> {
  const kube = cp ? ['--kubeconfig', cp.kubeconfig] : []
  const r = await run(path.join(kubeBinaries(), 'helm'), [...kube, ...args], { maxBuffer: 64 << 20 })
  return r.stdout
}

/** Directories a node writes to outside its data directory (scripts/kube/node.sh, OUTSIDE_DIRS). */
const OUTSIDE = ['/var/lib/kubelet', '/var/log/containers', '/var/lib/cni', '/run/containerd', '/run/mount']
/** The kubelet's and kube-proxy's sysctls, and ours (node.sh, SAVED_SYSCTLS). */
const SYSCTLS = [
  'kernel.panic',
  'kernel.panic_on_oops',
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.conf.all.route_localnet',
  'net.ipv4.ip_forward',
  'net.bridge.bridge-nf-call-iptables',
]

/**
 * What a node of up.sh changes on the machine outside its data directory (docs/kubernetes-local.md,
 * "What it changes"), read so that the state before kube-up and after kube-down can be compared:
 * no kubepods cgroup, cni0 link or KUBE-* chain may be left, and the rest must be as it was.
 */
export interface MachineTraces {
  /** The kubelet's cgroups (kubepods* in every hierarchy). */
  cgroups: string[]
  links: string[]
  /** KUBE-* chains of iptables and ip6tables. */
  chains: string[]
  /** Every path under the directories outside the data directory that the node writes to, and the node lock. */
  files: string[]
  /** Mounts under the data directory. */
  mounts: string[]
  sysctls: Record<string, string>
}

/** `dataDir`: the node's data directory, whose mounts are listed (none without it). */
export async function machineTraces(dataDir?: string): Promise<MachineTraces> {
  // cgroup v1: /sys/fs/cgroup/<hierarchy>/kubepods; v2: /sys/fs/cgroup/kubepods.
  const cgroups = readdirSync('/sys/fs/cgroup').flatMap((h) =>
    h.startsWith('kubepods')
      ? [`/sys/fs/cgroup/${h}`]
      : tryReaddir(`/sys/fs/cgroup/${h}`)
          .filter((name) => name.startsWith('kubepods'))
          .map((name) => `/sys/fs/cgroup/${h}/${name}`),
  )
  const chains: string[] = []
  for (const ipt of ['iptables', 'ip6tables'])
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = await run(ipt, ['-t', table, '-S']).then(
        (r) => r.stdout,
        () => '',
      )
      for (const m of rules.matchAll(/^-N (KUBE-\S+)/gm)) chains.push(`${ipt} -t ${table} ${m[1]}`)
    }
  const files: string[] = []
  const walk = (p: string) => {
    if (!existsSync(p) && !isLink(p)) return
    files.push(isLink(p) ? `${p} -> ${readlinkSync(p)}` : p)
    for (const name of tryReaddir(p)) walk(path.join(p, name))
  }
  for (const d of [...OUTSIDE, '/run/cattery-kube-node']) walk(d)
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => dataDir !== undefined && m.startsWith(`${dataDir}/`))
  const sysctls = Object.fromEntries(
    SYSCTLS.map((k) => {
      try {
        return [k, readFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, 'utf8').trim()]
      } catch {
        return [k, '']
      }
    }),
  )
  return { cgroups, links: existsSync('/sys/class/net/cni0') ? ['cni0'] : [], chains, files, mounts, sysctls }
}

function tryReaddir(p: string): string[] {
  try {
    return isLink(p) ? [] : readdirSync(p).sort()
  } catch {
    return []
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}
