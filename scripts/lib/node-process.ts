/**
 * Runs `cattery-node` (node/main.ts on Node 24) as a real child process and follows its pino JSON log,
 * so tests, benchmarks and `make demo` can wait for what the node says it sees.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const MAIN = path.resolve(import.meta.dirname, '../../node/main.ts')
/** The example app base: the demo application (/demo) lives there. */
export const EXAMPLE_APPS = path.resolve(import.meta.dirname, '../../examples/apps')

export interface LogLine {
  time: number
  level: number
  msg: string
  event?: string
  member?: { name: string; host: string; port: number }
  reason?: string
  view?: string[]
  [key: string]: unknown
}

export class NodeProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly lines: LogLine[] = []
  stderr = ''
  readonly #waiters = new Set<() => void>()
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(
    name: string,
    args: string[],
    options: { command?: string[]; env?: NodeJS.ProcessEnv; passName?: boolean } = {},
  ) {
    this.name = name
    const named = options.passName === false ? [] : ['--name', name]
    const argv = [...(options.command ?? [process.execPath, MAIN]), ...named, ...args]
    this.child = spawn(argv[0] as string, argv.slice(1), {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let buf = ''
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          this.lines.push(JSON.parse(line) as LogLine)
        } catch {}
        nl = buf.indexOf('\n')
      }
      for (const w of this.#waiters) w()
    })
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      this.stderr += c
    })
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })))
    this.exited.then(() => {
      for (const w of this.#waiters) w()
    })
  }

  /** Names this node currently sees, from its latest membership log line. */
  view(): string[] {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i] as LogLine
      if (l.view) return l.view
    }
    return []
  }

  /** Resolves with the first log line (from `from` on) matching `predicate`. */
  async waitFor(predicate: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      for (let i = from; i < this.lines.length; i++)
        if (predicate(this.lines[i] as LogLine)) return this.lines[i] as LogLine
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr}`,
        )
      }
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(`${this.name}: timed out; last lines: ${JSON.stringify(this.lines.slice(-5))}`)
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(done)
          clearTimeout(t)
          resolve()
        }
        const t = setTimeout(done, left)
        this.#waiters.add(done)
      })
    }
  }

  /** Waits until the node's current view (its latest membership line) is exactly `names`. */
  waitForView(names: string[], timeoutMs = 10_000): Promise<LogLine> {
    const want = [...names].sort().join(',')
    let last = -1
    for (let i = this.lines.length - 1; i >= 0 && last < 0; i--) if (this.lines[i]?.view) last = i
    return this.waitFor(
      (l) => l.view !== undefined && [...l.view].sort().join(',') === want,
      timeoutMs,
      Math.max(0, last),
    )
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill(signal)
    await this.exited
  }
}

/**
 * Flags of a node on loopback in a static cluster: its receiver, the member list, HTTP and admin
 * ports, and an app base (the examples', which serves /demo, unless `appsDir` says otherwise).
 */
export function loopbackNodeArgs(o: {
  receiver: number
  members: number[]
  http: number
  admin: number
  appsDir?: string
}): string[] {
  return [
    '--apps-dir',
    o.appsDir ?? EXAMPLE_APPS,
    '--receiver-host',
    '127.0.0.1',
    '--receiver-port',
    String(o.receiver),
    '--membership',
    'static',
    '--members',
    o.members.map((p) => `127.0.0.1:${p}`).join(','),
    '--http-host',
    '127.0.0.1',
    '--http-port',
    String(o.http),
    '--admin-host',
    '127.0.0.1',
    '--admin-port',
    String(o.admin),
  ]
}

/** `count` TCP ports that are free now on `host`. */
/**
 * Ports that are free now, for processes started next. Drawn below Linux's ephemeral range (32768+),
 * where outgoing connections take their local ports — a port handed out there could be taken by a
 * client socket before the node binds it — and never the same one twice in this process.
 */
const handedOut = new Set<number>()
const LOW = 20_000
const HIGH = 32_767

export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = []
  while (ports.length < count) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1))
    if (handedOut.has(port)) continue
    handedOut.add(port) // taken or not, not tried again
    if (await canListen(port, host)) ports.push(port)
  }
  return ports
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, host, () => s.close(() => resolve(true)))
  })
}

/** Starts `n` nodes on loopback with static membership listing all of them. */
export async function startStaticCluster(n: number, extra: string[] = []): Promise<NodeProcess[]> {
  const ports = await freePorts(n)
  const members = ports.map((p) => `127.0.0.1:${p}`).join(',')
  const nodes = ports.map(
    (port, i) =>
      new NodeProcess(`n${i + 1}`, [
        '--receiver-host',
        '127.0.0.1',
        '--receiver-port',
        String(port),
        '--membership',
        'static',
        '--members',
        members,
        '--http-port',
        '0',
        '--admin-port',
        '0',
        ...extra,
      ]),
  )
  return nodes
}

export async function stopAll(nodes: NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
  await sleep(0)
}
