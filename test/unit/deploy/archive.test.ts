import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { gunzipSync, gzipSync } from 'node:zlib'
import { type ArchiveLimits, unpackArchive } from '../../../node/deploy/archive.ts'
import { packDir, rawTgz } from '../../helpers/archives.ts'

const LIMITS: ArchiveLimits = { maxArchiveBytes: 1 << 20, maxUnpackedBytes: 1 << 20, maxEntries: 100 }

function workspace() {
  const root = mkdtempSync(path.join(tmpdir(), 'cattery-archive-'))
  const dest = path.join(root, 'work', 'app')
  mkdirSync(path.dirname(dest), { recursive: true })
  return { root, dest }
}

async function refusal(archive: Buffer, limits = LIMITS) {
  const { root, dest } = workspace()
  const file = path.join(root, 'app.tgz')
  writeFileSync(file, archive)
  const err = await unpackArchive(file, dest, limits, 'app').then(
    () => assert.fail('expected a refusal'),
    (e: Error & { code: string }) => e,
  )
  // Nothing was written: not the destination, not its staging directory, nothing beside the archive.
  assert.deepEqual(readdirSync(path.join(root, 'work')), [])
  assert.deepEqual(readdirSync(root).sort(), ['app.tgz', 'work'])
  return err
}

describe('unpacking an application archive', () => {
  it('unpacks files and directories, and drops the package/ prefix npm pack adds', async () => {
    const { root, dest } = workspace()
    const src = path.join(root, 'src')
    mkdirSync(path.join(src, 'lib'), { recursive: true })
    writeFileSync(path.join(src, 'package.json'), '{"name":"x"}')
    writeFileSync(path.join(src, 'lib', 'a.js'), 'export default 1')
    for (const prefix of ['', 'package']) {
      const file = path.join(root, `x${prefix}.tgz`)
      await packDir(src, file, prefix)
      const out = await unpackArchive(file, dest, LIMITS)
      assert.equal(readFileSync(path.join(dest, 'lib', 'a.js'), 'utf8'), 'export default 1')
      assert.equal(out.files, 2)
      assert.match(out.sha256, /^[0-9a-f]{64}$/)
    }
  })

  it('names the directory after the digest when asked', async () => {
    const { root } = workspace()
    const file = path.join(root, 'a.tgz')
    writeFileSync(file, rawTgz([{ path: 'package.json', body: '{}' }]))
    let named = ''
    const out = await unpackArchive(file, (sha) => (named = path.join(root, sha)), LIMITS)
    assert.equal(named, path.join(root, out.sha256))
    assert.ok(existsSync(path.join(named, 'package.json')))
  })

  it('refuses entries that climb out or are absolute, writing nothing', async () => {
    for (const bad of ['../../etc/x', 'ok/../../x', '/etc/x']) {
      const e = await refusal(
        rawTgz([
          { path: 'package.json', body: '{}' },
          { path: bad, body: 'owned' },
        ]),
      )
      assert.equal(e.code, 'CATTERY_ERR_ARCHIVE_UNSAFE', bad)
      assert.match(e.message, /^archive app: entry/)
    }
  })

  it('refuses symbolic links, hard links and devices', async () => {
    for (const type of ['2', '1', '3'] as const) {
      const e = await refusal(
        rawTgz([
          { path: 'package.json', body: '{}' },
          { path: 'link', type, ...(type === '3' ? {} : { linkpath: '/etc/passwd' }) },
        ]),
      )
      assert.equal(e.code, 'CATTERY_ERR_ARCHIVE_UNSAFE')
      assert.match(e.message, /only files and directories are allowed/)
    }
  })

  it('stops decompressing a zip bomb at maxUnpackedBytes', async () => {
    const bomb = rawTgz([{ path: 'zeros', body: Buffer.alloc(64 << 20) }])
    assert.ok(bomb.length < 1 << 20, 'the bomb is small')
    const e = await refusal(bomb)
    assert.equal(e.code, 'CATTERY_ERR_ARCHIVE_TOO_LARGE')
    assert.match(e.message, /unpacks to more than apps.maxUnpackedBytes/)
  })

  it('refuses an archive over maxArchiveBytes or maxEntries', async () => {
    const many = rawTgz(Array.from({ length: 5 }, (_, i) => ({ path: `f${i}`, body: 'x' })))
    assert.equal((await refusal(many, { ...LIMITS, maxEntries: 4 })).code, 'CATTERY_ERR_ARCHIVE_TOO_LARGE')
    assert.equal(
      (await refusal(many, { ...LIMITS, maxArchiveBytes: 50 })).code,
      'CATTERY_ERR_ARCHIVE_TOO_LARGE',
    )
  })

  it('refuses what is not a gzip tar, or ends early', async () => {
    assert.equal((await refusal(Buffer.from('not an archive'))).code, 'CATTERY_ERR_ARCHIVE_CORRUPT')
    assert.equal((await refusal(gzipSync(Buffer.from('x'.repeat(600))))).code, 'CATTERY_ERR_ARCHIVE_CORRUPT')
    const whole = rawTgz([{ path: 'a', body: 'x'.repeat(2000) }])
    const truncated = gzipSync(gunzipPrefix(whole, 700))
    assert.equal((await refusal(truncated)).code, 'CATTERY_ERR_ARCHIVE_CORRUPT')
  })
})

function gunzipPrefix(gz: Buffer, bytes: number): Buffer {
  return gunzipSync(gz).subarray(0, bytes)
}
