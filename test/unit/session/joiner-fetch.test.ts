import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { fetchFromDonors, type JoinerFetchOptions } from '../../../node/session/joiner-fetch.ts'
import { NOT_YET_KNOWN, type TransferStatus } from '../../../node/session/transfer-receiver.ts'
import type { Channel } from '../../../node/tribes/channel-types.ts'
import { createLocalMember, type Member } from '../../../node/tribes/member.ts'

const member = (name: string, startTime: number, ready = true): Member => ({
  ...createLocalMember({ host: '127.0.0.1', port: startTime, name }),
  startTime,
  ready,
})

/**
 * Runs the loop over `view`; each attempt from a donor answers the next of its scripted reasons
 * (undefined: complete). Returns the donors asked and the pauses taken, in order.
 */
async function run(view: Member[], answers: Record<string, Array<string | undefined>>) {
  const asked: string[] = []
  const pauses: number[] = []
  const status: TransferStatus = { state: 'waiting', received: 0, skipped: 0, attempts: 0, since: Date.now() }
  const options: JoinerFetchOptions = {
    channel: { members: () => view } as unknown as Channel,
    logger: pino({ level: 'silent' }),
    timeoutSeconds: 60,
    retryPauseMs: 1000,
    fromEveryDonor: false,
    status,
    fetchFrom: async (donor) => {
      asked.push(donor.name)
      return answers[donor.name]?.shift()
    },
    pause: async (ms) => void pauses.push(ms),
    stopped: () => false,
    received: () => 0,
  }
  await fetchFromDonors(options)
  return { asked, pauses, status }
}

test('the longest-running ready member is asked first, the next one when it fails, round again after retryPauseMs', async () => {
  const [young, old, notReady] = [member('young', 3), member('old', 1), member('n', 2, false)]
  const { asked, pauses, status } = await run([young, old, notReady], {
    old: ['the donor left', 'the donor left'],
    young: ['incomplete', undefined],
  })
  assert.deepEqual(asked, ['old', 'young', 'old', 'young'])
  assert.deepEqual(pauses, [1000])
  assert.equal(status.attempts, 4)
  assert.equal(status.reason, undefined)
  assert.equal(status.state, 'done')
})

test('a donor that does not know this member yet is asked again shortly, not after a round’s pause', async () => {
  const [a, b] = [member('a', 1), member('b', 2)]
  const { asked, pauses } = await run([a, b], { a: [NOT_YET_KNOWN, NOT_YET_KNOWN, undefined] })
  assert.deepEqual(asked, ['a', 'a', 'a'])
  assert.deepEqual(pauses, [50, 50])
})

test('with no ready member the loop ends at once and says why', async () => {
  const { asked, status } = await run([member('n', 1, false)], {})
  assert.deepEqual(asked, [])
  assert.equal(status.attempts, 0)
  assert.equal(status.reason, 'no ready member to ask')
  assert.equal(status.state, 'done')
})
