import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { CatteryError, codes } from '../../../../node/tribes/errors.ts'
import { TcpFailureDetector } from '../../../../node/tribes/interceptors/tcp-failure-detector.ts'
import type { Member } from '../../../../node/tribes/member.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

const lost = new CatteryError(codes.CONNECTION_LOST, 'lost')

describe('TcpFailureDetector', () => {
  it('keeps a member that membership timed out but that still answers over TCP', async () => {
    const m = peer('b')
    const d = new TcpFailureDetector({ type: 'TcpFailureDetector' })
    const h = harness(d, { probe: async () => m })
    d.memberDisappeared(m, 'timeout')
    await sleep(10)
    assert.equal(h.gone.length, 0)
    assert.equal(d.stats().falsePositives, 1)
  })

  it('lets the disappearance through when the member does not answer', async () => {
    const m = peer('b')
    const d = new TcpFailureDetector({ type: 'TcpFailureDetector' })
    const h = harness(d)
    d.memberDisappeared(m, 'timeout')
    await sleep(10)
    assert.deepEqual(
      h.gone.map((g) => [g.member.name, g.reason]),
      [['b', 'timeout']],
    )
  })

  it('does not mistake a restarted process on the same address for the member', async () => {
    const m = peer('b')
    const d = new TcpFailureDetector({ type: 'TcpFailureDetector' })
    const h = harness(d, { probe: async () => peer('b') })
    d.memberDisappeared(m, 'timeout')
    await sleep(10)
    assert.equal(h.gone.length, 1)
  })

  it('removes a suspect at once when the TCP check fails', async () => {
    const m = peer('b')
    const removed: Array<{ member: Member; reason: string }> = []
    const d = new TcpFailureDetector({ type: 'TcpFailureDetector' })
    const h = harness(d, { removed })
    h.members.push(m)
    d.memberSuspect(m, lost)
    await sleep(10)
    assert.deepEqual(
      removed.map((r) => [r.member.name, r.reason]),
      [['b', 'crashed']],
    )
  })

  it('passes an announced departure straight through', () => {
    const d = new TcpFailureDetector({ type: 'TcpFailureDetector' })
    const h = harness(d, { probe: async (m) => m })
    d.memberDisappeared(peer('b'), 'shutdown')
    assert.equal(h.gone.length, 1)
  })
})
