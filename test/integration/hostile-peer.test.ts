/**
 * A cluster started with a cluster secret, against a peer that speaks the documented wire format
 * (test/helpers/hostile-peer.ts): everything it tries is refused, counted, and leaves every node's
 * sessions and views as they were (issue 12, parts 1 and 5).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { SESSION_MESSAGE } from '../../node/session/messages.ts'
import { codes } from '../../node/tribes/errors.ts'
import { FrameKind } from '../../node/tribes/transport/frame.ts'
import { MAX_CONNECTIONS_PER_SOURCE } from '../../node/tribes/transport/receiver.ts'
import { HostilePeer } from '../helpers/hostile-peer.ts'
import {
  formed,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  status,
  until,
} from '../helpers/http-nodes.ts'
import { freePorts, MAIN, NodeProcess, stopAll } from '../helpers/node-process.ts'

const SECRET = randomBytes(32).toString('base64')
const WRONG = randomBytes(32).toString('base64')

function secretFile(content: string): string {
  const file = path.join(os.tmpdir(), `cattery-secret-${process.pid}-${randomBytes(4).toString('hex')}`)
  writeFileSync(file, `${content}\n`, { mode: 0o600 })
  return file
}

describe('a cluster with a secret against a hostile peer', () => {
  let nodes: HttpNode[] = []
  let sessionId = ''
  let snapshot = ''
  const receiverOf = (i: number) => (nodes[i] as HttpNode).receiver
  const refused = async (i: number, code: string): Promise<number> =>
    (await status(nodes[i] as HttpNode)).channel.framesRefused[code] ?? 0
  /** The session as every node holds it, and every node's view. */
  const everywhere = async () =>
    JSON.stringify(
      await Promise.all(
        nodes.map(async (n) => ({
          session: (await getJson(`http://127.0.0.1:${n.admin}/sessions/${sessionId}`)).body,
          view: (await status(n)).members.map((m: { name: string }) => m.name).sort(),
        })),
      ),
    )
  /** Waits for `code` to be counted once more on node 0, then checks nothing changed anywhere. */
  const refusedAndUnchanged = async (code: string, before: number) => {
    await until(`${code} counted`, async () => (await refused(0, code)) > before)
    await sleep(100)
    assert.equal(await everywhere(), snapshot)
  }
  const victim = () => ({
    id: sessionId,
    creationTime: Date.now(),
    lastAccessedTime: Date.now(),
    maxInactiveInterval: -1,
    principal: 'admin',
    authType: 'FORM',
    version: 2 ** 53 - 1,
    attributes: [['user', 'mallory']],
  })
  const forged = () => [
    { k: SESSION_MESSAGE, type: 'created', ctx: '/demo', session: victim() },
    { k: SESSION_MESSAGE, type: 'expired', ctx: '/demo', id: sessionId },
    { k: SESSION_MESSAGE, type: 'accessed', ctx: '/demo', id: sessionId, a: Date.now() + 1e9 },
    { k: SESSION_MESSAGE, type: 'get-all', ctx: '/demo', transfer: 1 },
  ]

  before(async () => {
    const plan = await planCluster(3, [
      '--cluster-secret-file',
      secretFile(SECRET),
      '--admin-show-session-values',
    ])
    nodes = await Promise.all([0, 1, 2].map((i) => startHttpNode(plan, i)))
    await Promise.all(nodes.map((n) => started(n)))
    await formed(nodes)
    const set = await getJson(`http://127.0.0.1:${nodes[0]?.http}/demo/set?k=user&v=alice`)
    sessionId = String(set.body.sessionId).replace(/\..*$/, '')
    await until('the session on every node', async () => {
      const all = await Promise.all(
        nodes.map((n) => getJson(`http://127.0.0.1:${n.admin}/sessions/${sessionId}`)),
      )
      return all.every((r) => r.status === 200 && r.body.attributes.user?.value === 'alice')
    })
    snapshot = await everywhere()
  })
  after(() => stopAll(nodes.map((n) => n.process)))

  it("shows security 'secret' in /status and logs it at start", async () => {
    assert.equal((await status(nodes[0] as HttpNode)).channel.security, 'secret')
    assert.ok(nodes[0]?.process.lines.some((l) => l.msg === 'channel started' && l.security === 'secret'))
  })

  it('refuses an unauthenticated HELLO and the forged created, expired, accessed and get-all after it', async () => {
    for (const message of forged()) {
      const before = await refused(0, codes.AUTH_REQUIRED)
      const peer = await HostilePeer.connect(receiverOf(0))
      peer.hello()
      peer.message(message, 2)
      await peer.closed
      await refusedAndUnchanged(codes.AUTH_REQUIRED, before)
    }
  })

  it('refuses an unauthenticated PING (nobody learns a uniqueId) and BYE (nobody is evicted)', async () => {
    for (const kind of [FrameKind.PING, FrameKind.BYE]) {
      const before = await refused(0, codes.AUTH_REQUIRED)
      const peer = await HostilePeer.connect(receiverOf(0))
      peer.frame(kind, 0, 1, new Uint8Array(0))
      await peer.closed
      assert.equal(peer.frames.length, 0, 'answered without authentication')
      await refusedAndUnchanged(codes.AUTH_REQUIRED, before)
    }
  })

  it('refuses a peer with a wrong secret at the handshake', async () => {
    const before = await refused(0, codes.AUTH_FAILED)
    const peer = await HostilePeer.connect(receiverOf(0))
    assert.equal(await peer.handshake(WRONG), false)
    peer.hello()
    peer.message(forged()[0], 2)
    await peer.closed
    await refusedAndUnchanged(codes.AUTH_FAILED, before)
  })

  it('refuses a recorded handshake and its frames replayed on a new connection', async () => {
    const recorded = await HostilePeer.connect(receiverOf(0))
    assert.equal(await recorded.handshake(SECRET), true)
    recorded.hello()
    recorded.message({ hello: 'recorded' }, 8, 2)
    await sleep(100)
    recorded.close()
    const before = await refused(0, codes.AUTH_FAILED)
    const replay = await HostilePeer.connect(receiverOf(0))
    for (const b of recorded.sent) replay.raw(b)
    await replay.closed
    await refusedAndUnchanged(codes.AUTH_FAILED, before)
  })

  it('refuses a frame replayed on its own connection', async () => {
    const peer = await HostilePeer.connect(receiverOf(0))
    assert.equal(await peer.handshake(SECRET), true)
    peer.hello()
    peer.message({ any: 1 }, 8, 2)
    await peer.next((f) => f.id === 2) // answered: its TLS record is the last one sent
    const before = await refused(0, codes.FRAME_AUTH_FAILED)
    peer.raw(peer.sent.at(-1) as Buffer)
    await peer.closed
    await refusedAndUnchanged(codes.FRAME_AUTH_FAILED, before)
  })

  it('refuses (FAIL_ACK) messages from a member that holds the secret but is not in the view', async () => {
    for (const message of forged()) {
      const before = await refused(0, codes.NOT_A_MEMBER)
      const peer = await HostilePeer.connect(receiverOf(0))
      assert.equal(await peer.handshake(SECRET), true)
      peer.hello()
      peer.message(message, 2, 7)
      const answer = await peer.next((f) => f.id === 7)
      assert.equal(answer?.kind, FrameKind.FAIL_ACK)
      assert.match(String(answer?.body), new RegExp(`^${codes.NOT_A_MEMBER} `))
      peer.close()
      await refusedAndUnchanged(codes.NOT_A_MEMBER, before)
    }
  })

  it('refuses a BYE that names another member than the handshake proved', async () => {
    const spy = await HostilePeer.connect(receiverOf(1))
    assert.equal(await spy.handshake(SECRET), true)
    spy.frame(FrameKind.PING, 0, 1, new Uint8Array(0))
    const n2 = HostilePeer.memberOf(await spy.next((f) => f.kind === FrameKind.PONG))
    assert.equal(n2?.name, 'n2')
    spy.close()
    const before = await refused(0, codes.AUTH_FAILED)
    const peer = await HostilePeer.connect(receiverOf(0))
    assert.equal(await peer.handshake(SECRET), true)
    const { encodePlain } = await import('../../node/tribes/codec.ts')
    const { toWire } = await import('../../node/tribes/member.ts')
    peer.frame(FrameKind.BYE, 0, 1, encodePlain(toWire(n2 as never)))
    await peer.closed
    await refusedAndUnchanged(codes.AUTH_FAILED, before)
  })

  it('closes a connection whose first frame announces more than 64 KiB before the handshake', async () => {
    const before = await refused(0, codes.FRAME_TOO_LARGE)
    const peers = await Promise.all(Array.from({ length: 20 }, () => HostilePeer.connect(receiverOf(0))))
    for (const p of peers) {
      const head = Buffer.alloc(20)
      head.write('CTRB', 0)
      head[4] = 1
      head[5] = FrameKind.AUTH
      head.writeUInt32BE(16 * 1024 * 1024 - 40, 16)
      p.raw(head)
    }
    await Promise.all(peers.map((p) => p.closed))
    await until('all counted', async () => (await refused(0, codes.FRAME_TOO_LARGE)) >= before + 20)
    assert.equal(await everywhere(), snapshot)
  })

  it(`refuses more than ${MAX_CONNECTIONS_PER_SOURCE} connections from one source address`, async () => {
    const before = await refused(2, codes.TOO_MANY_CONNECTIONS)
    const peers = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS_PER_SOURCE + 8 }, () => HostilePeer.connect(receiverOf(2))),
    )
    await until('refusals counted', async () => (await refused(2, codes.TOO_MANY_CONNECTIONS)) > before)
    for (const p of peers) p.close()
    await formed(nodes)
    assert.equal(await everywhere(), snapshot)
  })

  it('keeps a node with another secret out: every member refuses its handshakes and counts them', async () => {
    const [receiver, http, admin] = (await freePorts(3)) as [number, number, number]
    const members = [...nodes.map((n) => `127.0.0.1:${n.receiver}`), `127.0.0.1:${receiver}`].join(',')
    const before = await Promise.all(nodes.map((_, i) => refused(i, codes.AUTH_FAILED)))
    const outsider = new NodeProcess('x1', [
      ...['--receiver-host', '127.0.0.1', '--receiver-port', String(receiver), '--membership', 'static'],
      ...['--members', members, '--http-port', String(http), '--admin-port', String(admin)],
      ...['--admin-host', '127.0.0.1', '--cluster-secret-file', secretFile(WRONG)],
    ])
    try {
      await outsider.waitFor((l) => l.event === 'started', 30_000)
      // Its pings reach no member: each refuses the key id of AUTH 1 (a secret it does not hold).
      await until('every member to refuse the outsider', async () => {
        const now = await Promise.all(nodes.map((_, i) => refused(i, codes.AUTH_FAILED)))
        return now.every((c, i) => c > (before[i] as number))
      })
      assert.deepEqual((await getJson(`http://127.0.0.1:${admin}/status`)).body.members, [])
      assert.equal(await everywhere(), snapshot)
    } finally {
      await outsider.stop('SIGKILL')
    }
  })
})

describe('a node reachable from the network', () => {
  const run = (args: string[]) => new NodeProcess('r1', ['--http-port', '0', '--admin-port', '0', ...args])

  it('refuses to start without a secret, saying how to make one', async () => {
    for (const args of [
      ['--receiver-host', '0.0.0.0', '--membership', 'static'],
      ['--membership', 'multicast'],
    ]) {
      const n = run(args)
      const { code } = await n.exited
      assert.equal(code, 2)
      assert.match(n.stderr, /CATTERY_ERR_INSECURE_CHANNEL: the receiver .* is reachable from the network/)
      assert.match(n.stderr, /head -c 32 \/dev\/urandom \| base64 > \/etc\/cattery\/cluster-secret/)
      assert.match(n.stderr, /--cluster-secret-file/)
    }
  })

  it('refuses a secret file shorter than 32 characters, naming the file', async () => {
    const file = secretFile('short')
    const n = run(['--receiver-host', '0.0.0.0', '--membership', 'static', '--cluster-secret-file', file])
    assert.equal((await n.exited).code, 2)
    assert.ok(
      n.stderr.includes(`the secret file ${file}: line 1 holds a secret of 5 characters; at least 32`),
      n.stderr,
    )
  })

  it("runs with --insecure-cluster, warning at start and showing security 'insecure' in /status", async () => {
    const [port] = (await freePorts(1)) as [number]
    const n = new NodeProcess('i1', [
      ...['--receiver-host', '0.0.0.0', '--receiver-port', String(port), '--membership', 'static'],
      ...['--http-port', '0', '--admin-port', '0', '--admin-host', '127.0.0.1', '--insecure-cluster'],
    ])
    try {
      const startedLine = await n.waitFor((l) => l.event === 'started', 30_000)
      assert.ok(n.lines.some((l) => l.level === 40 && l.code === codes.INSECURE_CHANNEL))
      const s = (await getJson(`http://127.0.0.1:${startedLine.adminPort}/status`)).body
      assert.equal(s.channel.security, 'insecure')
    } finally {
      await n.stop('SIGKILL')
    }
  })

  it("keeps a loopback node without a secret working, showing security 'none (loopback)'", async () => {
    const [port] = (await freePorts(1)) as [number]
    const n = new NodeProcess('l1', [
      ...['--receiver-host', '127.0.0.1', '--receiver-port', String(port), '--membership', 'static'],
      ...['--http-port', '0', '--admin-port', '0', '--admin-host', '127.0.0.1'],
    ])
    try {
      const startedLine = await n.waitFor((l) => l.event === 'started', 30_000)
      const s = (await getJson(`http://127.0.0.1:${startedLine.adminPort}/status`)).body
      assert.equal(s.channel.security, 'none (loopback)')
    } finally {
      await n.stop('SIGKILL')
    }
  })
})
void MAIN
