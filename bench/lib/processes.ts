/** Small process helpers the benchmarks share: stopping a child, and the CPU a process has used. */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref()
  })
}

/** CPU seconds (user + system) process `pid` has used so far (Linux /proc, USER_HZ 100). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * CPU seconds (user + system) this process's children have used, counted once each has exited and
 * been waited for (cutime + cstime): around a synchronous child such as wrk, the child's own CPU.
 */
export function exitedChildrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[13]) + Number(fields[14])) / 100
}
