import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { WatchedDeploys } from '../../../node/farm/watched-deploys.ts'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)

/** Watched deploys over a farm that holds `held` (name → digest) and records what it is asked. */
function farm(held: Map<string, string | null>, digestOf: (file: string) => string = () => A) {
  const calls: string[] = []
  const watched = new WatchedDeploys({
    logger: pino({ level: 'silent' }),
    deploy: async (name, file, o) => {
      calls.push(`deploy ${name} ${file} ${o.stamp ?? '-'}`)
      held.set(name, digestOf(file))
      return { digest: digestOf(file) }
    },
    undeploy: async (name) => {
      calls.push(`undeploy ${name}`)
      held.set(name, null)
    },
    current: (name) => held.get(name),
  })
  return { watched, calls }
}

describe('what the watch directory does to the farm', () => {
  it('deploys an archive found at the first look with its modification time as the stamp', async () => {
    const { watched, calls } = farm(new Map())
    await watched.change({ kind: 'added', name: 'shop', file: '/w/shop.tgz', mtimeMs: 1234.7, initial: true })
    await watched.change({
      kind: 'modified',
      name: 'shop',
      file: '/w/shop.tgz',
      mtimeMs: 2000,
      initial: false,
    })
    assert.deepEqual(calls, ['deploy shop /w/shop.tgz 1234', 'deploy shop /w/shop.tgz -'])
  })

  it('undeploys when the watched archive is removed', async () => {
    const held = new Map<string, string | null>()
    const { watched, calls } = farm(held)
    await watched.change({ kind: 'added', name: 'shop', file: '/w/shop.tgz', mtimeMs: 1, initial: true })
    await watched.change({ kind: 'removed', name: 'shop', file: '/w/shop.tgz' })
    assert.deepEqual(calls.slice(1), ['undeploy shop'])
    assert.equal(held.get('shop'), null)
  })

  it('leaves a later deploy of the name alone, and what it never deployed', async () => {
    const held = new Map<string, string | null>()
    const { watched, calls } = farm(held)
    await watched.change({ kind: 'added', name: 'shop', file: '/w/shop.tgz', mtimeMs: 1, initial: true })
    held.set('shop', B) // uploaded through the admin API since
    await watched.change({ kind: 'removed', name: 'shop', file: '/w/shop.tgz' })
    await watched.change({ kind: 'removed', name: 'cart', file: '/w/cart.tgz' })
    assert.deepEqual(calls.slice(1), [])
  })

  it('rejects as the deploy does, and remembers nothing then', async () => {
    const held = new Map<string, string | null>([['shop', A]])
    const watched = new WatchedDeploys({
      logger: pino({ level: 'silent' }),
      deploy: async () => {
        throw new Error('refused')
      },
      undeploy: async () => assert.fail('nothing was deployed from the file'),
      current: (name) => held.get(name),
    })
    await assert.rejects(
      watched.change({ kind: 'added', name: 'shop', file: '/w/shop.tgz', mtimeMs: 1, initial: false }),
      /refused/,
    )
    await watched.change({ kind: 'removed', name: 'shop', file: '/w/shop.tgz' })
  })
})
