import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { codes } from '../../../node/tribes/errors.ts'
import { isAsync, parseSendOptions, wantsAck, wantsSyncAck } from '../../../node/tribes/send-options.ts'

describe('send options', () => {
  it("keeps Tribes' numbers", () => {
    assert.equal(parseSendOptions(8), 8)
    assert.equal(parseSendOptions('10'), 10)
    assert.equal(parseSendOptions('async,ack'), 10)
    assert.equal(parseSendOptions('sync | ack'), 6)
    assert.ok(isAsync(8) && !isAsync(2))
    assert.ok(wantsAck(2) && wantsAck(4) && !wantsAck(8))
    assert.ok(wantsSyncAck(4) && !wantsSyncAck(2))
  })

  it('refuses unknown names and out-of-range numbers', () => {
    assert.throws(() => parseSendOptions('fast'), { code: codes.BAD_SEND_OPTIONS })
    assert.throws(() => parseSendOptions(32), { code: codes.BAD_SEND_OPTIONS })
  })
})
