/**
 * The farm's tempDir: archives arrive here and are kept, by digest (`<sha256>.tgz`), while an
 * application deploys them, so this member can send them to a joiner.
 *
 * Receiving: `receive(digest, size, source)` opens `<sha256>.<random>.part`; chunks from that source
 * are written at their offsets as they come (in any order, duplicates ignored); when every byte is
 * there the file is hashed, and renamed to `<sha256>.tgz` only if the SHA-256 is the announced one
 * (else CATTERY_ERR_FARM_DIGEST_MISMATCH and the file is removed). Chunks from another member, or for
 * an archive not being received, are refused (CATTERY_ERR_FARM_BAD_CHUNK), so their sender stops.
 *
 * Importing: `importStream` copies a local file or an upload here while hashing it, and stops at
 * maxArchiveBytes (CATTERY_ERR_ARCHIVE_TOO_LARGE, nothing left behind).
 *
 * Bounds: at most maxTransfers archives received at once (beyond: CATTERY_ERR_FARM_BUSY); each at most
 * maxArchiveBytes; a transfer without a chunk for stallMs, or whose source left, fails with
 * CATTERY_ERR_FARM_TRANSFER_FAILED and its part file is removed. Memory: one chunk per write in flight.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CatteryError, codes } from '../tribes/errors.ts'
import type { Chunk } from './file-message.ts'

export interface StagingOptions {
  dir: string
  maxArchiveBytes: number
  /** Archives received at once (4). */
  maxTransfers?: number
  /** A transfer that gets no chunk for this long fails (10 s). */
  stallMs?: number
}

interface Transfer {
  readonly digest: string
  readonly size: number
  readonly source: string
  readonly part: string
  readonly fh: Promise<FileHandle>
  readonly offsets: Set<number>
  readonly done: Promise<string>
  received: number
  lastProgress: number
  settled: boolean
  resolve(file: string): void
  reject(err: CatteryError): void
}

export interface Imported {
  digest: string
  size: number
  file: string
}

export class Staging {
  readonly #dir: string
  readonly #maxBytes: number
  readonly #maxTransfers: number
  readonly #stallMs: number
  readonly #transfers = new Map<string, Transfer>()
  /** Digests whose archive is staged (verified) in the directory. */
  readonly #staged = new Set<string>()
  #watch: NodeJS.Timeout | undefined

  constructor(o: StagingOptions) {
    this.#dir = o.dir
    this.#maxBytes = o.maxArchiveBytes
    this.#maxTransfers = o.maxTransfers ?? 4
    this.#stallMs = o.stallMs ?? 10_000
  }

  /** Creates the directory and removes what an earlier run left in it (part files, archives). */
  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
    for (const f of await readdir(this.#dir)) {
      if (/^[0-9a-f]{64}\.(tgz|.*\.part)$/.test(f) || /^import-.*\.part$/.test(f))
        await rm(path.join(this.#dir, f), { force: true })
    }
  }

  pathOf(digest: string): string {
    return path.join(this.#dir, `${digest}.tgz`)
  }

  /** The staged archive of `digest`, if it is here. */
  staged(digest: string): string | undefined {
    return this.#staged.has(digest) ? this.pathOf(digest) : undefined
  }

  /** The transfer of `digest` under way, if any: resolves with the staged archive. */
  receiving(digest: string): Promise<string> | undefined {
    return this.#transfers.get(digest)?.done
  }

  get transfers(): number {
    return this.#transfers.size
  }

  /**
   * Expects the archive `digest` of `size` bytes from `source` (a member id); resolves with the staged
   * archive once it is complete and verified. Already staged: at once; already coming: that transfer.
   */
  receive(digest: string, size: number, source: string): Promise<string> {
    const staged = this.staged(digest)
    if (staged) return Promise.resolve(staged)
    const running = this.#transfers.get(digest)
    if (running) return running.done
    const fail = (code: string, why: string) =>
      Promise.reject(new CatteryError(code, `archive ${digest.slice(0, 12)}: ${why}`))
    if (size > this.#maxBytes)
      return fail(
        codes.ARCHIVE_TOO_LARGE,
        `${size} bytes, more than apps.maxArchiveBytes (${this.#maxBytes})`,
      )
    if (size <= 0) return fail(codes.FARM_BAD_CHUNK, 'announced with no bytes')
    if (this.#transfers.size >= this.#maxTransfers)
      return fail(
        codes.FARM_BUSY,
        `${this.#transfers.size} archives are being received already (at most ${this.#maxTransfers})`,
      )
    const part = path.join(this.#dir, `${digest}.${randomBytes(4).toString('hex')}.part`)
    let resolve!: (file: string) => void
    let reject!: (err: CatteryError) => void
    const done = new Promise<string>((res, rej) => {
      resolve = res
      reject = rej
    })
    done.catch(() => {}) // the caller may not wait for it; rejections are reported where awaited
    const t: Transfer = {
      digest,
      size,
      source,
      part,
      fh: open(part, 'w'),
      offsets: new Set(),
      done,
      received: 0,
      lastProgress: Date.now(),
      settled: false,
      resolve,
      reject,
    }
    t.fh.catch((err: Error) =>
      this.#fail(t, codes.FARM_TRANSFER_FAILED, `cannot write ${part}: ${err.message}`),
    )
    this.#transfers.set(digest, t)
    this.#watch ??= setInterval(() => this.#checkStalls(), Math.min(500, this.#stallMs)).unref()
    return done
  }

  /** Writes a chunk from `source` (a member id); throws CATTERY_ERR_FARM_BAD_CHUNK when it is not expected. */
  async write(chunk: Chunk, source: string): Promise<void> {
    const t = this.#transfers.get(chunk.digest)
    const tag = chunk.digest.slice(0, 12)
    if (!t || t.settled)
      throw new CatteryError(codes.FARM_BAD_CHUNK, `no transfer of archive ${tag} is under way here`)
    if (t.source !== source)
      throw new CatteryError(codes.FARM_BAD_CHUNK, `archive ${tag} is being received from another member`)
    const end = chunk.offset + chunk.data.length
    if (chunk.data.length === 0 || end > t.size) {
      const why = `a chunk at ${chunk.offset} of ${chunk.data.length} bytes lies outside the ${t.size} bytes announced`
      this.#fail(t, codes.FARM_BAD_CHUNK, why)
      throw new CatteryError(codes.FARM_BAD_CHUNK, `archive ${tag}: ${why}`)
    }
    t.lastProgress = Date.now()
    if (t.offsets.has(chunk.offset)) return
    t.offsets.add(chunk.offset)
    const fh = await t.fh
    await fh.write(chunk.data, 0, chunk.data.length, chunk.offset)
    t.received += chunk.data.length
    if (t.received >= t.size) await this.#complete(t)
  }

  /** Fails the transfers from `source` (it left the view). */
  abortFrom(source: string, reason: string): void {
    for (const t of this.#transfers.values())
      if (t.source === source) this.#fail(t, codes.FARM_TRANSFER_FAILED, reason)
  }

  /** Fails the transfer of `digest` if it comes from `source` (the member has no such archive). */
  abort(digest: string, source: string, reason: string): void {
    const t = this.#transfers.get(digest)
    if (t && t.source === source) this.#fail(t, codes.FARM_TRANSFER_FAILED, reason)
  }

  /**
   * Copies `input` here while hashing it; at most maxArchiveBytes. With `expected`, an archive whose
   * SHA-256 differs is refused (CATTERY_ERR_FARM_DIGEST_MISMATCH). `label` names it in errors.
   */
  async importStream(input: NodeJS.ReadableStream, label: string, expected?: string): Promise<Imported> {
    const part = path.join(this.#dir, `import-${randomBytes(6).toString('hex')}.part`)
    const hash = createHash('sha256')
    let size = 0
    const max = this.#maxBytes
    const counter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        size += chunk.length
        if (size > max)
          return callback(
            new CatteryError(
              codes.ARCHIVE_TOO_LARGE,
              `archive ${label}: more than apps.maxArchiveBytes (${max} bytes)`,
            ),
          )
        hash.update(chunk)
        callback(null, chunk)
      },
    })
    try {
      await pipeline(input, counter, createWriteStream(part))
    } catch (err) {
      await rm(part, { force: true })
      if (err instanceof CatteryError) throw err
      throw new CatteryError(
        codes.FARM_BAD_REQUEST,
        `archive ${label}: cannot be read: ${(err as Error).message}`,
        {
          cause: err,
        },
      )
    }
    const digest = hash.digest('hex')
    if (expected !== undefined && expected !== digest) {
      await rm(part, { force: true })
      throw new CatteryError(
        codes.FARM_DIGEST_MISMATCH,
        `archive ${label}: its SHA-256 is ${digest}, not ${expected} as given`,
      )
    }
    if (this.#staged.has(digest)) await rm(part, { force: true })
    else {
      await rename(part, this.pathOf(digest))
      this.#staged.add(digest)
    }
    return { digest, size, file: this.pathOf(digest) }
  }

  /** Removes staged archives whose digest is not in `keep` (and not being received). */
  async prune(keep: ReadonlySet<string>): Promise<void> {
    for (const d of [...this.#staged]) {
      if (keep.has(d) || this.#transfers.has(d)) continue
      this.#staged.delete(d)
      await rm(this.pathOf(d), { force: true })
    }
  }

  close(): void {
    for (const t of this.#transfers.values())
      this.#fail(t, codes.FARM_TRANSFER_FAILED, 'the node is stopping')
    clearInterval(this.#watch)
    this.#watch = undefined
  }

  async #complete(t: Transfer): Promise<void> {
    if (t.settled) return
    t.settled = true
    try {
      await (await t.fh).close()
      const actual = await sha256Of(t.part)
      if (actual !== t.digest)
        throw new CatteryError(
          codes.FARM_DIGEST_MISMATCH,
          `archive ${t.digest.slice(0, 12)}: the ${t.size} bytes received hash to ${actual}, not the SHA-256 announced (${t.digest})`,
        )
      await rename(t.part, this.pathOf(t.digest))
      this.#staged.add(t.digest)
      this.#end(t)
      t.resolve(this.pathOf(t.digest))
    } catch (err) {
      await rm(t.part, { force: true })
      this.#end(t)
      t.reject(
        err instanceof CatteryError
          ? err
          : new CatteryError(codes.FARM_TRANSFER_FAILED, (err as Error).message, { cause: err }),
      )
    }
  }

  #fail(t: Transfer, code: string, why: string): void {
    if (t.settled) return
    t.settled = true
    this.#end(t)
    t.reject(new CatteryError(code, `archive ${t.digest.slice(0, 12)}: ${why}`))
    void t.fh
      .then(
        (fh) => fh.close().catch(() => {}),
        () => {},
      )
      .then(() => rm(t.part, { force: true }))
  }

  #end(t: Transfer): void {
    if (this.#transfers.get(t.digest) === t) this.#transfers.delete(t.digest)
    if (this.#transfers.size === 0) {
      clearInterval(this.#watch)
      this.#watch = undefined
    }
  }

  #checkStalls(): void {
    const now = Date.now()
    for (const t of this.#transfers.values())
      if (now - t.lastProgress > this.#stallMs)
        this.#fail(
          t,
          codes.FARM_TRANSFER_FAILED,
          `no chunk arrived for ${this.#stallMs} ms (${t.received} of ${t.size} bytes)`,
        )
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}
