import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { Pacer } from '../../../node/tribes/pacer.ts'

test('afterTask runs once, after the synchronous work that asked, before the turn ends', async () => {
  const order: string[] = []
  const pacer = new Pacer(10, () => order.push('run'))
  setImmediate(() => order.push('end of turn'))
  pacer.afterTask()
  pacer.afterTask()
  order.push('caller done')
  await nextTurn()
  assert.deepEqual(order, ['caller done', 'run', 'end of turn'])
})

test('cancel forgets a run asked for with afterTask', async () => {
  let runs = 0
  const pacer = new Pacer(10, () => runs++)
  pacer.afterTask()
  pacer.cancel()
  await nextTurn()
  assert.equal(runs, 0)
})

test('after a run, paced waits the interval; the first call after a quiet spell runs at the end of the turn', async () => {
  let runs = 0
  const pacer = new Pacer(40, () => {
    runs++
    pacer.ran()
  })
  pacer.paced()
  await nextTurn()
  assert.equal(runs, 1)
  pacer.paced()
  await nextTurn()
  assert.equal(runs, 1, 'within the interval it waits')
  await new Promise((r) => setTimeout(r, 60))
  assert.equal(runs, 2)
})
