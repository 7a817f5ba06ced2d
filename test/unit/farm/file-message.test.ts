import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  CHUNK_BYTES,
  CHUNK_HEADER_BYTES,
  chunkBuffer,
  chunkSizeFor,
  decodeChunk,
  isChunk,
} from '../../../node/farm/file-message.ts'
import { encode } from '../../../node/tribes/codec.ts'

const D = '0123456789abcdef'.repeat(4)

describe('farm chunks (file messages)', () => {
  it('carry the digest, the offset and the data', () => {
    const b = chunkBuffer(D, 5 * 2 ** 40, 3)
    b.set([7, 8, 9], CHUNK_HEADER_BYTES)
    assert.ok(isChunk(b))
    const c = decodeChunk(b)
    assert.equal(c.digest, D)
    assert.equal(c.offset, 5 * 2 ** 40)
    assert.deepEqual([...c.data], [7, 8, 9])
  })

  it('are told apart from other messages', () => {
    assert.equal(isChunk(encode({ k: 'cattery.farm' })), false)
    assert.equal(isChunk(new Uint8Array([1, 2])), false)
    assert.equal(isChunk('CFRM'), false)
  })

  it('refuse a short chunk or one of another version with CATTERY_ERR_FARM_BAD_CHUNK', () => {
    const short = chunkBuffer(D, 0, 0).subarray(0, 20)
    assert.throws(() => decodeChunk(short), { code: 'CATTERY_ERR_FARM_BAD_CHUNK' })
    const other = chunkBuffer(D, 0, 1)
    other[4] = 2
    assert.throws(() => decodeChunk(other), /version 2/)
  })

  it('are at most 256 KiB and at most half of the largest frame', () => {
    assert.equal(chunkSizeFor(16 * 1024 * 1024), CHUNK_BYTES)
    assert.equal(chunkSizeFor(64 * 1024), 32 * 1024 - CHUNK_HEADER_BYTES)
  })
})
