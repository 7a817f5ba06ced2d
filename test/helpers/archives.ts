/** Application archives for tests: real ones made with `tar`, and hand-made hostile ones. */
import { gzipSync } from 'node:zlib'
import { c as create } from 'tar'

/** A .tgz of the directory `dir` (its content at the archive's top, as apps.dir expects). */
export async function packDir(dir: string, file: string, prefix = ''): Promise<void> {
  await create({ gzip: true, file, cwd: dir, ...(prefix ? { prefix } : {}), portable: true }, ['.'])
}

export interface RawEntry {
  path: string
  /** '0' file, '2' symlink, '1' hard link, '5' directory, '3' character device. */
  type?: '0' | '1' | '2' | '3' | '5'
  body?: string | Buffer
  linkpath?: string
  /** Declared size, when it should differ from the body (a header that lies). */
  size?: number
}

/** A gzip tar written byte by byte, so it can hold what a well-behaved tar never writes. */
export function rawTgz(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '')
    const h = Buffer.alloc(512)
    h.write(e.path, 0, 100, 'utf8')
    h.write('0000644\0', 100)
    h.write('0000000\0', 108)
    h.write('0000000\0', 116)
    h.write(`${(e.size ?? body.length).toString(8).padStart(11, '0')}\0`, 124)
    h.write('00000000000\0', 136)
    h.write('        ', 148)
    h.write(e.type ?? '0', 156)
    if (e.linkpath) h.write(e.linkpath, 157, 100, 'utf8')
    h.write('ustar\0', 257)
    h.write('00', 263)
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}
