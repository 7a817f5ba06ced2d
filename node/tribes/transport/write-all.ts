/**
 * Writes a list of buffers with one system call: concatenated when they are small together (one copy
 * is cheaper than a writev of many small buffers), corked when large (no copy of megabytes).
 */
import type net from 'node:net'

const CONCAT_UP_TO = 257 * 1024

export function writeAll(socket: net.Socket, out: Buffer[]): void {
  if (out.length === 1) {
    socket.write(out[0] as Buffer)
    return
  }
  let bytes = 0
  for (const b of out) bytes += b.length
  if (bytes <= CONCAT_UP_TO) {
    socket.write(Buffer.concat(out, bytes))
    return
  }
  socket.cork()
  for (const b of out) socket.write(b)
  socket.uncork()
}
