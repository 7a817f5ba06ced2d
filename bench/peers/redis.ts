/**
 * The Redis peer for bench/peers.ts: a Redis server (Debian's redis-server, installed with apt-get when
 * missing; no persistence) and N fastify + @fastify/session + connect-redis nodes (redis-app.ts)
 * sharing it.
 */
import { execFileSync, fork, spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { stopChild } from '../lib/processes.ts'

export interface RedisPeer {
  nodes: Array<{ name: string; http: number; pid: number }>
  redisPid: number
  version: string
  stop(): Promise<void>
}

export function ensureRedis(): void {
  if (spawnSync('redis-server', ['--version']).status === 0) return
  console.error('installing Redis (apt-get install -y --no-install-recommends redis-server)')
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
}

export async function startRedisPeer(redisPort: number, httpPorts: number[]): Promise<RedisPeer> {
  ensureRedis()
  const version =
    /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? '?'
  const redis = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    { stdio: 'ignore' },
  )
  for (let i = 0; ; i++) {
    const up = spawnSync('redis-cli', ['-p', String(redisPort), 'ping'], { encoding: 'utf8' }).stdout?.trim()
    if (up === 'PONG') break
    if (i > 100) throw new Error(`redis-server on port ${redisPort} did not answer`)
    await sleep(50)
  }
  const apps = httpPorts.map((port, i) =>
    fork(path.join(import.meta.dirname, 'redis-app.ts'), [String(port), String(redisPort), `r${i + 1}`], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  )
  await Promise.all(
    apps.map(
      (a) =>
        new Promise<void>((resolve, reject) => {
          a.once('message', () => resolve())
          a.once('exit', (code) => reject(new Error(`a Redis peer node exited (${code})`)))
        }),
    ),
  )
  return {
    nodes: apps.map((a, i) => ({ name: `r${i + 1}`, http: httpPorts[i] as number, pid: a.pid as number })),
    redisPid: redis.pid as number,
    version,
    async stop() {
      await Promise.all(apps.map((a) => stopChild(a, 3000)))
      await stopChild(redis, 3000)
    },
  }
}
