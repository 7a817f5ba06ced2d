/**
 * What sealing costs per record, and what moving it into C++ (Node's TLS) would save: the cost of one
 * AES-256-GCM record sealed from JavaScript (node:crypto, as the channel did before it moved to TLS
 * after the AUTH handshake: security/tls-upgrade.ts), and a
 * 200-byte ping-pong over plain TCP against TLS 1.2 PSK-AES256-GCM on loopback, interleaved rounds,
 * medians. Command: `node bench/transport-crypto.ts`. Results: bench/RESULTS.md ("Cluster secret").
 */
import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'

const psk = randomBytes(32)
const ciphers = 'PSK-AES256-GCM-SHA384'
const ROUNDS = 5
const TRIPS = 20_000

function perCall(f: () => void, n = 200_000): number {
  for (let i = 0; i < 20_000; i++) f()
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) f()
  return Number(process.hrtime.bigint() - t) / n / 1000
}

function listen(kind: 'tcp' | 'tls'): Promise<net.Server> {
  const echo = (s: net.Socket) => {
    s.setNoDelay(true)
    s.on('data', (d) => s.write(d))
  }
  const server =
    kind === 'tls'
      ? tls.createServer({ ciphers, maxVersion: 'TLSv1.2', pskCallback: () => psk }, echo)
      : net.createServer(echo)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

function connect(kind: 'tcp' | 'tls', port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s: net.Socket =
      kind === 'tls'
        ? tls.connect(
            {
              port,
              host: '127.0.0.1',
              ciphers,
              maxVersion: 'TLSv1.2',
              checkServerIdentity: () => undefined,
              pskCallback: () => ({ psk, identity: 'bench' }),
            },
            () => resolve(s),
          )
        : net.connect({ port, host: '127.0.0.1' }, () => resolve(s))
    s.setNoDelay(true)
    s.on('error', reject)
  })
}

/** CPU µs per round trip (client and server are this process). */
async function pingPong(kind: 'tcp' | 'tls'): Promise<number> {
  const server = await listen(kind)
  const c = await connect(kind, (server.address() as net.AddressInfo).port)
  const msg = randomBytes(200)
  const cpu0 = process.cpuUsage()
  await new Promise<void>((resolve) => {
    let trips = 0
    let got = 0
    c.on('data', (d: Buffer) => {
      got += d.length
      if (got < msg.length) return
      got -= msg.length
      if (++trips === TRIPS) resolve()
      else c.write(msg)
    })
    c.write(msg)
  })
  const cpu = process.cpuUsage(cpu0)
  c.destroy()
  server.close()
  return (cpu.user + cpu.system) / TRIPS
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

const key = createSecretKey(randomBytes(32))
const iv = Buffer.alloc(12)
const aad = Buffer.alloc(20)
const small = randomBytes(200)
const seal = () => {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  c.setAAD(aad)
  c.update(small)
  c.final()
  c.getAuthTag()
}
const tcp: number[] = []
const tlsRuns: number[] = []
const seals: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  seals.push(perCall(seal))
  tcp.push(await pingPong('tcp'))
  tlsRuns.push(await pingPong('tls'))
}
const server = await listen('tls')
const t0 = process.hrtime.bigint()
for (let i = 0; i < 200; i++) (await connect('tls', (server.address() as net.AddressInfo).port)).destroy()
const handshakeMs = Number(process.hrtime.bigint() - t0) / 200 / 1e6
server.close()
const perRecordTls = (median(tlsRuns) - median(tcp)) / 4 // two records each way per round trip
console.log(
  `# transport crypto, Node ${process.version}, ${new Date().toISOString()}, ${ROUNDS} rounds, medians`,
)
console.log(`AES-256-GCM record of 200 bytes sealed from JavaScript: ${median(seals).toFixed(2)} µs`)
console.log(
  `200-byte ping-pong, CPU per round trip (both ends): TCP ${median(tcp).toFixed(1)} µs, TLS-PSK ${median(tlsRuns).toFixed(1)} µs`,
)
console.log(
  `TLS record in C++: about ${perRecordTls.toFixed(2)} µs each; TLS-PSK handshake ${handshakeMs.toFixed(2)} ms`,
)
