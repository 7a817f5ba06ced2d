/**
 * wrk, the HTTP load generator the benchmarks share (installed with apt-get when missing): one
 * thread, a fixed number of keep-alive connections, requests/s and latency percentiles parsed from
 * its report.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { exitedChildrenCpuSeconds } from './processes.ts'

export interface WrkResult {
  rps: number
  p50: string
  p99: string
  /** Requests wrk completed. */
  requests: number
  /** The CPU wrk itself used (user + system), in seconds. */
  cpuSeconds: number
}

export function ensureWrk(): void {
  if (!spawnSync('wrk', ['--version']).error) return
  console.error('installing wrk (apt-get install -y wrk)')
  execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' })
}

export function wrk(
  url: string,
  o: { cookie?: string | undefined; duration: string; connections?: number },
): WrkResult {
  const args = [
    '-t1',
    `-c${o.connections ?? 8}`,
    `-d${o.duration}`,
    '--latency',
    ...(o.cookie ? ['-H', `Cookie: ${o.cookie}`] : []),
    url,
  ]
  const cpuBefore = exitedChildrenCpuSeconds()
  const out = execFileSync('wrk', args, { encoding: 'utf8' })
  const cpuSeconds = exitedChildrenCpuSeconds() - cpuBefore
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0)
  if (non2xx > 0) throw new Error(`wrk ${url}: ${non2xx} responses were not 2xx`)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: /\s50%\s+(\S+)/.exec(out)?.[1] ?? '?',
    p99: /\s99%\s+(\S+)/.exec(out)?.[1] ?? '?',
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    cpuSeconds,
  }
}

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
