import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { Staging } from '../../../node/farm/staging.ts'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function staging(o: { maxArchiveBytes?: number; stallMs?: number; maxTransfers?: number } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cattery-staging-'))
  const s = new Staging({ dir, maxArchiveBytes: o.maxArchiveBytes ?? 1 << 20, ...o })
  await s.start()
  return { s, dir }
}

const chunks = (b: Buffer, size: number) => {
  const out: Array<{ offset: number; data: Buffer }> = []
  for (let o = 0; o < b.length; o += size) out.push({ offset: o, data: b.subarray(o, o + size) })
  return out
}

const code = (c: string) => (err: Error & { code?: string }) => err.code === c

describe('staging farm archives', () => {
  it('assembles chunks arriving out of order and twice, then verifies and keeps the archive by digest', async () => {
    const { s, dir } = await staging()
    const bytes = randomBytes(100_000)
    const digest = sha(bytes)
    const done = s.receive(digest, bytes.length, 'm1')
    const parts = chunks(bytes, 7000).reverse()
    const last = parts.pop()
    for (const c of [...parts, parts[0], parts[3], last])
      await s.write({ digest, ...(c as { offset: number; data: Buffer }) }, 'm1')
    const file = await done
    assert.deepEqual(readFileSync(file), bytes)
    assert.deepEqual(readdirSync(dir), [`${digest}.tgz`])
    assert.equal(s.staged(digest), file)
  })

  it('refuses an archive whose bytes do not hash to the announced digest, and removes it', async () => {
    const { s, dir } = await staging()
    const bytes = randomBytes(5000)
    const claimed = sha(Buffer.from('something else'))
    const done = s.receive(claimed, bytes.length, 'm1')
    await s.write({ digest: claimed, offset: 0, data: bytes }, 'm1')
    await assert.rejects(done, (err: Error & { code: string }) => {
      assert.equal(err.code, 'CATTERY_ERR_FARM_DIGEST_MISMATCH')
      assert.match(err.message, new RegExp(`hash to ${sha(bytes)}, not the SHA-256 announced`))
      return true
    })
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(readdirSync(dir), [])
  })

  it('refuses chunks from another member, for no transfer, or outside the archive', async () => {
    const { s, dir } = await staging()
    const bytes = randomBytes(1000)
    const digest = sha(bytes)
    const done = s.receive(digest, bytes.length, 'm1')
    await assert.rejects(s.write({ digest, offset: 0, data: bytes }, 'm2'), /another member/)
    await assert.rejects(
      s.write({ digest: sha(Buffer.from('x')), offset: 0, data: bytes }, 'm1'),
      code('CATTERY_ERR_FARM_BAD_CHUNK'),
    )
    await assert.rejects(
      s.write({ digest, offset: 900, data: bytes.subarray(0, 200) }, 'm1'),
      /outside the 1000 bytes/,
    )
    await assert.rejects(done, code('CATTERY_ERR_FARM_BAD_CHUNK'))
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(readdirSync(dir), [])
  })

  it('fails a transfer that stalls, or whose sender leaves', async () => {
    const { s } = await staging({ stallMs: 100 })
    const stalled = s.receive('1'.repeat(64), 10, 'm1')
    const left = s.receive('2'.repeat(64), 10, 'm2')
    s.abortFrom('m2', 'm2 left')
    await assert.rejects(left, /m2 left/)
    await assert.rejects(
      stalled,
      (err: Error & { code: string }) =>
        err.code === 'CATTERY_ERR_FARM_TRANSFER_FAILED' && /no chunk arrived for 100 ms/.test(err.message),
    )
    s.close()
  })

  it('receives at most maxTransfers archives at once and none larger than maxArchiveBytes', async () => {
    const { s } = await staging({ maxTransfers: 2, maxArchiveBytes: 1000 })
    void s.receive('1'.repeat(64), 10, 'm1')
    void s.receive('2'.repeat(64), 10, 'm1')
    await assert.rejects(s.receive('3'.repeat(64), 10, 'm1'), code('CATTERY_ERR_FARM_BUSY'))
    await assert.rejects(s.receive('4'.repeat(64), 1001, 'm1'), code('CATTERY_ERR_ARCHIVE_TOO_LARGE'))
    s.close()
  })

  it('imports an upload while hashing it, refusing one over the bound or with another digest and keeping nothing', async () => {
    const { s, dir } = await staging({ maxArchiveBytes: 10_000 })
    const bytes = randomBytes(5000)
    const r = await s.importStream(Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]), 'shop')
    assert.deepEqual(r, { digest: sha(bytes), size: 5000, file: path.join(dir, `${sha(bytes)}.tgz`) })
    await assert.rejects(
      s.importStream(Readable.from([randomBytes(10_001)]), 'big'),
      (err: Error & { code: string }) =>
        err.code === 'CATTERY_ERR_ARCHIVE_TOO_LARGE' && /archive big/.test(err.message),
    )
    await assert.rejects(
      s.importStream(Readable.from([randomBytes(10)]), 'bad', 'f'.repeat(64)),
      code('CATTERY_ERR_FARM_DIGEST_MISMATCH'),
    )
    assert.deepEqual(readdirSync(dir), [`${sha(bytes)}.tgz`])
    await s.prune(new Set())
    assert.deepEqual(readdirSync(dir), [])
  })
})
