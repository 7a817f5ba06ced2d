import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WorkQueue } from '../../../operator/controller/work-queue.ts'

describe('work queue', () => {
  it('holds a key once however often it is added', async () => {
    const q = new WorkQueue()
    q.add('a')
    q.add('a')
    q.add('b')
    assert.equal(q.length, 2)
    assert.equal(await q.get(), 'a')
    assert.equal(await q.get(), 'b')
  })

  it('does not hand out a key being processed; one added meanwhile comes back once after done', async () => {
    const q = new WorkQueue()
    q.add('a')
    const key = (await q.get()) as string
    q.add('a')
    q.add('a')
    assert.equal(q.length, 0, 'not queued while processing')
    q.done(key)
    assert.equal(q.length, 1)
    assert.equal(await q.get(), 'a')
  })

  it('backs off exponentially per key and starts over after forget', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 })
    assert.deepEqual(
      [1, 2, 3, 4].map(() => q.addRateLimited('k')),
      [10, 20, 40, 50],
    )
    q.forget('k')
    assert.equal(q.addRateLimited('k'), 10)
    q.shutDown()
  })

  it('a rate-limited key comes back after its delay', async () => {
    const q = new WorkQueue({ baseDelayMs: 20 })
    const t = Date.now()
    q.addRateLimited('k')
    assert.equal(await q.get(), 'k')
    assert.ok(Date.now() - t >= 15)
  })

  it('get returns undefined to waiting workers on shut down', async () => {
    const q = new WorkQueue()
    const waiting = [q.get(), q.get()]
    q.shutDown()
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined])
  })
})
