import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DeployQueue } from '../../../node/farm/deploy-queue.ts'

const tick = () => new Promise((r) => setImmediate(r))

describe('the farm deploy queue (one deploy at a time on a member)', () => {
  it('runs tasks one at a time, in order', async () => {
    const q = new DeployQueue(async () => {})
    const log: string[] = []
    let running = 0
    const task = (name: string) => async () => {
      assert.equal(running++, 0, 'another task runs')
      log.push(`start ${name}`)
      await tick()
      log.push(`end ${name}`)
      running--
    }
    await Promise.all([q.exclusive(task('a')), q.exclusive(task('b'))])
    assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b'])
  })

  it('queues a name at most once while it waits, and again once it runs', async () => {
    const realized: string[] = []
    const q = new DeployQueue(async (name) => void realized.push(name))
    const gate = Promise.withResolvers<void>()
    void q.exclusive(() => gate.promise)
    q.schedule('shop')
    q.schedule('shop')
    q.schedule('cart')
    gate.resolve()
    await q.idle()
    assert.deepEqual(realized, ['shop', 'cart'])
    q.schedule('shop')
    await q.idle()
    assert.deepEqual(realized, ['shop', 'cart', 'shop'])
  })

  it('goes on after a task that fails, which rejects to its caller', async () => {
    const q = new DeployQueue(async () => {})
    const failed = q.exclusive(async () => {
      throw new Error('refused')
    })
    let after = false
    const next = q.exclusive(async () => {
      after = true
    })
    await assert.rejects(failed, /refused/)
    await next
    assert.equal(after, true)
  })

  it('idle waits for tasks queued while it waits; settled only for those queued before', async () => {
    const realized: string[] = []
    const q = new DeployQueue(async (name) => {
      await tick()
      realized.push(name)
      if (name === 'a') q.schedule('b')
    })
    q.schedule('a')
    await q.settled()
    assert.deepEqual(realized, ['a'])
    await q.idle()
    assert.deepEqual(realized, ['a', 'b'])
  })
})
