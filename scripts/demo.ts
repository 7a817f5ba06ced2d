/**
 * make demo: starts three cattery-node processes on loopback (static membership), shows each node's
 * view as the cluster forms, then stops one (SIGTERM) and kills another (SIGKILL) and shows how fast
 * the survivor notices each. Until the session layer lands, membership is what there is to see.
 */
import { freePorts, NodeProcess } from '../test/helpers/node-process.ts'

const say = (s: string) => process.stdout.write(`${s}\n`)
const ports = await freePorts(3)
const members = ports.map((p) => `127.0.0.1:${p}`).join(',')
const names = ['alpha', 'beta', 'gamma']
say(`starting 3 nodes on 127.0.0.1 ports ${ports.join(', ')} (static membership)\n`)
const nodes = names.map(
  (name, i) =>
    new NodeProcess(name, [
      '--receiver-host',
      '127.0.0.1',
      '--receiver-port',
      String(ports[i]),
      '--membership',
      'static',
      '--members',
      members,
      '--http-port',
      '0',
      '--admin-port',
      '0',
    ]),
)
const stopAll = () => Promise.all(nodes.map((n) => n.stop('SIGKILL')))
process.on('SIGINT', () => void stopAll().then(() => process.exit(130)))

try {
  const t0 = Date.now()
  await Promise.all(
    nodes.map((n) =>
      n.waitForView(
        names.filter((x) => x !== n.name),
        15_000,
      ),
    ),
  )
  say(`cluster formed in ${Date.now() - t0} ms:`)
  for (const n of nodes) say(`  ${n.name.padEnd(6)} sees ${n.view().join(', ')}`)

  const [alpha, beta, gamma] = nodes as [NodeProcess, NodeProcess, NodeProcess]
  let mark = alpha.lines.length
  let at = Date.now()
  say(`\nSIGTERM to ${gamma.name}: it drains and announces its departure`)
  await gamma.stop('SIGTERM')
  let seen = await alpha.waitFor((l) => l.event === 'member-disappeared', 10_000, mark)
  say(
    `  ${alpha.name} dropped ${seen.member?.name} after ${seen.time - at} ms (reason: ${seen.reason}); sees ${alpha.view().join(', ') || 'nobody'}`,
  )

  mark = alpha.lines.length
  at = Date.now()
  say(`\nSIGKILL to ${beta.name}: no goodbye; the failure detector confirms over TCP`)
  await beta.stop('SIGKILL')
  seen = await alpha.waitFor((l) => l.event === 'member-disappeared', 10_000, mark)
  say(
    `  ${alpha.name} dropped ${seen.member?.name} after ${seen.time - at} ms (reason: ${seen.reason}); sees ${alpha.view().join(', ') || 'nobody'}`,
  )
  say(`\nlogs are pino JSON; try: node node/main.ts --help`)
} finally {
  await stopAll()
}
