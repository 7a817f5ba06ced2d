/**
 * A throwaway network for tests that must cross a real network: a bridge and N network namespaces,
 * each joined to the bridge by a veth pair, on a random 10.x.y.0/24, with a multicast route. Needs
 * root and iproute2; everything is removed by destroy() (also on process exit).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export interface TestNetwork {
  namespaces: Array<{ name: string; address: string }>
  /** argv prefix that runs a command inside namespace i. */
  exec(i: number): string[]
  linkDown(i: number): void
  linkUp(i: number): void
  destroy(): void
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

export function requireNetns(): void {
  if (spawnSync('ip', ['-V']).error) {
    throw new Error('this test needs iproute2: apt-get install -y iproute2 (or run make deps)')
  }
  if (process.getuid?.() !== 0) throw new Error('this test creates network namespaces and must run as root')
}

export function createTestNetwork(count: number): TestNetwork {
  requireNetns()
  const tag = randomBytes(3).toString('hex')
  const bridge = `ctb${tag}`
  const subnet = `10.${200 + ((randomBytes(1)[0] as number) % 50)}.${randomBytes(1)[0]}`
  const hostSide = (i: number) => `ctv${tag}${i}`
  const namespaces = Array.from({ length: count }, (_, i) => ({
    name: `ct${tag}-${i}`,
    address: `${subnet}.${i + 10}`,
  }))
  let destroyed = false
  const destroy = () => {
    if (destroyed) return
    destroyed = true
    for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns.name])
    spawnSync('ip', ['link', 'del', bridge])
    process.off('exit', destroy)
  }
  process.on('exit', destroy)
  try {
    ip('link', 'add', bridge, 'type', 'bridge', 'mcast_snooping', '0')
    ip('link', 'set', bridge, 'up')
    namespaces.forEach((ns, i) => {
      ip('netns', 'add', ns.name)
      ip('link', 'add', hostSide(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name)
      ip('link', 'set', hostSide(i), 'master', bridge, 'up')
      ip('-n', ns.name, 'addr', 'add', `${ns.address}/24`, 'dev', 'eth0')
      ip('-n', ns.name, 'link', 'set', 'eth0', 'up')
      ip('-n', ns.name, 'link', 'set', 'lo', 'up')
      ip('-n', ns.name, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    })
  } catch (err) {
    destroy()
    throw new Error(
      `cannot create the test network: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`,
    )
  }
  return {
    namespaces,
    exec: (i) => ['ip', 'netns', 'exec', (namespaces[i] as { name: string }).name],
    linkDown: (i) => ip('link', 'set', hostSide(i), 'down'),
    linkUp: (i) => ip('link', 'set', hostSide(i), 'up'),
    destroy,
  }
}
