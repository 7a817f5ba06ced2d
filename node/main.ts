#!/usr/bin/env node
/**
 * cattery-node: one cluster member. Flags, then CATTERY_* environment variables, then the YAML file
 * of --config, then defaults (see docs/configuration.md). Logs are pino JSON on stdout.
 */
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { ConfigError } from './config/errors.ts'
import { loadConfig, SETTINGS } from './config/load.ts'
import { createNodeHost } from './server/host.ts'
import { createChannel } from './tribes/channel.ts'
import type { Member } from './tribes/member.ts'

function usage(): string {
  const lines = SETTINGS.map((s) => `  --${s.flag.padEnd(20)} ${s.env.padEnd(28)} ${s.key}`)
  return `usage: cattery-node [flags]\n\n  flag                   environment variable         key\n  --config FILE          CATTERY_CONFIG               YAML file with any key of docs/configuration.md\n${lines.join('\n')}\n`
}

/** The package version: package.json is one level up from node/, two from dist/node/. */
function version(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version
    } catch {}
  }
  return 'unknown'
}

let loaded: ReturnType<typeof loadConfig>
try {
  loaded = loadConfig({ argv: process.argv.slice(2), env: process.env })
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`cattery-node: ${err.message}\n`)
    process.exit(2)
  }
  throw err
}
if (loaded.help) {
  process.stdout.write(usage())
  process.exit(0)
}
if (loaded.version) {
  process.stdout.write(`${version()}\n`)
  process.exit(0)
}

const { config } = loaded
const logger = pino({ level: config.logLevel, base: { name: config.name } })
const channel = createChannel({ ...loaded.channelOptions, logger })
const host = createNodeHost(config, channel, logger)
const brief = (m: Member) => ({ name: m.name, host: m.host, port: m.port })
const view = () =>
  channel
    .members()
    .map((m) => m.name)
    .sort()

channel.on('memberAdded', (m: Member) => {
  logger.info({ event: 'member-added', member: brief(m), view: view() }, 'member added')
})
channel.on('memberDisappeared', (m: Member, reason: string) => {
  logger.info({ event: 'member-disappeared', member: brief(m), reason, view: view() }, 'member disappeared')
})

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1) // a second signal: do not wait
  stopping = true
  logger.info({ event: 'stopping', signal }, 'stopping')
  try {
    await host.stop()
  } finally {
    logger.info({ event: 'stopped' }, 'stopped')
    logger.flush()
    process.exit(0)
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))

try {
  const { httpPort, adminPort } = await host.start()
  // uptimeMs: from the process's start to serving (ready), module loading and state transfer included.
  const uptimeMs = Math.round(process.uptime() * 1000)
  logger.info(
    { event: 'started', member: brief(channel.localMember), httpPort, adminPort, uptimeMs },
    'node started',
  )
} catch (err) {
  const e = err as Error & { code?: string }
  logger.fatal({ code: e.code, err: e.message }, 'cannot start')
  process.stderr.write(`cattery-node: cannot start: ${e.message}\n`)
  process.exit(1)
}
