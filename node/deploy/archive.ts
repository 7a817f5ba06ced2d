/**
 * Unpacks an application archive (a gzip tar, as `npm pack` makes) into a directory, safely: the
 * archive is refused whole — nothing is written — when it is larger than maxArchiveBytes, unpacks to
 * more than maxUnpackedBytes (checked while decompressing, so a zip bomb stops at the bound) or holds
 * more than maxEntries entries, or when any entry is not a plain file or directory (links, devices,
 * FIFOs) or names a path that is absolute or climbs out (`..`). Files land in a fresh sibling
 * directory renamed onto `dest` at the end, so `dest` holds the whole archive or what it held before.
 * An archive whose entries all start with `package/` (npm pack) is unpacked without that prefix.
 * `dest` may depend on the archive's SHA-256 (a directory per version, so modules never mix).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { Parser, type ReadEntry, Unpack } from 'tar'
import { CatteryError, codes } from '../tribes/errors.ts'

export interface ArchiveLimits {
  maxArchiveBytes: number
  maxUnpackedBytes: number
  maxEntries: number
}

export interface Unpacked {
  /** SHA-256 of the archive file, hex. */
  sha256: string
  files: number
  bytes: number
}

const gunzip = promisify(zlib.gunzip)
const PLAIN = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory'])
/** Per entry, a tar stream holds a 512-byte header and up to 511 bytes of padding (pax headers: more). */
const TAR_OVERHEAD_PER_ENTRY = 2048

/** `label` names the archive in errors (the application's name or file). */
export async function unpackArchive(
  file: string,
  destination: string | ((sha256: string) => string),
  limits: ArchiveLimits,
  label = path.basename(file),
): Promise<Unpacked> {
  const fail = (code: string, why: string, cause?: unknown) =>
    new CatteryError(code, `archive ${label}: ${why}`, cause === undefined ? undefined : { cause })
  const size = (await stat(file)).size
  if (size > limits.maxArchiveBytes)
    throw fail(
      codes.ARCHIVE_TOO_LARGE,
      `${size} bytes, more than apps.maxArchiveBytes (${limits.maxArchiveBytes})`,
    )
  const gz = await readFile(file)
  const sha256 = createHash('sha256').update(gz).digest('hex')
  const dest = typeof destination === 'string' ? destination : destination(sha256)
  const bound = limits.maxUnpackedBytes + limits.maxEntries * TAR_OVERHEAD_PER_ENTRY + 1024
  let tarBytes: Buffer
  try {
    tarBytes = await gunzip(gz, { maxOutputLength: bound })
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw fail(
        codes.ARCHIVE_TOO_LARGE,
        `unpacks to more than apps.maxUnpackedBytes (${limits.maxUnpackedBytes})`,
      )
    throw fail(codes.ARCHIVE_CORRUPT, `not a gzip archive: ${(err as Error).message}`, err)
  }

  const entries = await listEntries(tarBytes).catch((err: unknown) => {
    throw fail(codes.ARCHIVE_CORRUPT, `not a tar archive: ${(err as Error).message}`, err)
  })
  if (entries.length === 0) throw fail(codes.ARCHIVE_CORRUPT, 'holds no entries')
  if (entries.length > limits.maxEntries)
    throw fail(
      codes.ARCHIVE_TOO_LARGE,
      `${entries.length} entries, more than apps.maxEntries (${limits.maxEntries})`,
    )
  let bytes = 0
  for (const e of entries) {
    if (!PLAIN.has(e.type))
      throw fail(
        codes.ARCHIVE_UNSAFE,
        `entry ${JSON.stringify(e.path)} is a ${e.type}; only files and directories are allowed`,
      )
    const problem = isTop(e.path) && e.type !== 'Directory' ? 'names no file' : unsafePath(e.path)
    if (problem) throw fail(codes.ARCHIVE_UNSAFE, `entry ${JSON.stringify(e.path)} ${problem}`)
    bytes += e.size
  }
  if (bytes > limits.maxUnpackedBytes)
    throw fail(
      codes.ARCHIVE_TOO_LARGE,
      `unpacks to ${bytes} bytes, more than apps.maxUnpackedBytes (${limits.maxUnpackedBytes})`,
    )
  const strip = entries.every((e) => e.path === 'package' || e.path.startsWith('package/')) ? 1 : 0

  const staging = `${dest}.partial-${randomBytes(4).toString('hex')}`
  await mkdir(staging, { recursive: true })
  try {
    await extract(tarBytes, staging, strip)
    await rm(dest, { recursive: true, force: true })
    await rename(staging, dest)
  } catch (err) {
    await rm(staging, { recursive: true, force: true })
    throw err instanceof CatteryError ? err : fail(codes.ARCHIVE_CORRUPT, (err as Error).message, err)
  }
  return { sha256, files: entries.filter((e) => e.type !== 'Directory').length, bytes }
}

/** Why `p` may not be written (absolute, climbs out, empty), or undefined when it is a plain relative path. */
function unsafePath(p: string): string | undefined {
  if (p.includes('\0')) return 'holds a NUL character'
  if (p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:/.test(p)) return 'is an absolute path'
  const parts = p.split(/[\\/]/)
  if (parts.includes('..')) return "climbs out of the directory ('..')"
  return undefined
}

/** `.`, `./`: the top directory itself, which tar archives of a directory hold. */
const isTop = (p: string) => p.split(/[\\/]/).every((s) => s === '' || s === '.')

interface Entry {
  path: string
  type: string
  size: number
}

function listEntries(tarBytes: Buffer): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: Entry[] = []
    const parser = new Parser({
      strict: true,
      onReadEntry: (e: ReadEntry) => {
        entries.push({ path: e.path, type: e.type, size: e.size ?? 0 })
        e.resume()
      },
    })
    parser.on('error', reject)
    parser.on('end', () => resolve(entries))
    parser.end(tarBytes)
  })
}

function extract(tarBytes: Buffer, cwd: string, strip: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const unpack = new Unpack({
      cwd,
      strict: true,
      strip,
      preserveOwner: false,
      // Checked above already; kept so that nothing else is ever written.
      filter: (p, e) => PLAIN.has((e as ReadEntry).type) && unsafePath(p) === undefined,
    })
    unpack.on('error', reject)
    unpack.on('close', () => resolve())
    unpack.end(tarBytes)
  })
}
