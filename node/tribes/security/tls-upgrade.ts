/**
 * After the AUTH handshake (handshake.ts) both sides of a connection continue in TLS 1.2 with the
 * connection's key as the pre-shared key (PSK-AES256-GCM-SHA384, no certificates): TLS encrypts and
 * authenticates every byte from there on, and refuses a replayed, reordered or altered record.
 * Why TLS and not records sealed from JavaScript (as before): each node:crypto cipher costs ~3 µs to
 * set up, one per record in each direction, a quarter of a synchronous replication's CPU; OpenSSL
 * keeps its cipher state across records, so a TLS write costs little more than a plain one
 * (bench/transport-crypto.ts, bench/RESULTS.md "Cluster secret").
 *
 * TLS 1.2 because Node offers PSK only there; the key is fresh per connection (the handshake's
 * nonces), so the session needs no key exchange of its own. The PSK identity names the connection
 * (a one-way function of its key), so the accepting side's one TLS server finds the key of each.
 */
import type net from 'node:net'
import tls from 'node:tls'
import { derive } from './keys.ts'

const TLS_OPTIONS = {
  ciphers: 'PSK-AES256-GCM-SHA384',
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.2',
} as const

/** The PSK identity of the connection whose key is `psk` (it reveals nothing of the key). */
const identityOf = (psk: Buffer): string => derive(psk, '', 'cattery v1 tls identity', 16).toString('hex')

/** The connecting side's TLS options for a connection whose key is `psk`. */
export const clientOptions = (psk: Buffer): tls.ConnectionOptions => {
  const identity = identityOf(psk)
  return {
    ...TLS_OPTIONS,
    pskCallback: () => ({ psk, identity }),
    // No certificate: the PSK, fresh from the handshake, is what authenticates the peer.
    checkServerIdentity: () => undefined,
  }
}

/** The connecting side: starts TLS on `socket` (which must not be read from any more). */
export function secureClient(socket: net.Socket, psk: Buffer): tls.TLSSocket {
  socket.removeAllListeners('data')
  const secure = tls.connect({ socket, ...clientOptions(psk) })
  secure.setNoDelay(true)
  return secure
}

export interface SecureAcceptorHooks<T> {
  /** The TLS session of `owner`'s connection is up: read and write `socket` from now on. */
  secure(owner: T, socket: tls.TLSSocket): void
  /** The TLS handshake failed (`owner` undefined when the peer named no connection we expect). */
  failed(owner: T | undefined, err: Error, socket: tls.TLSSocket): void
}

/**
 * The accepting side: one TLS server (never listening) that each connection is handed to after
 * AUTH 3, the documented way to start TLS on an accepted socket (and the one under which TLS errors
 * after the handshake reach the socket's 'error' listeners). Holds one key per connection between
 * AUTH 3 and the TLS handshake: dropped when the handshake uses it, or after handshakeTimeout.
 */
export class SecureAcceptor<T> {
  readonly #pending = new Map<string, { psk: Buffer; owner: T }>()
  readonly #owners = new WeakMap<tls.TLSSocket, T>()
  readonly #server: tls.Server
  readonly #handshakeTimeout: number

  constructor(hooks: SecureAcceptorHooks<T>, handshakeTimeout: number) {
    this.#handshakeTimeout = handshakeTimeout
    this.#server = tls.createServer({
      ...TLS_OPTIONS,
      handshakeTimeout,
      pskCallback: (socket, identity) => {
        const p = this.#pending.get(identity)
        if (!p) return null
        this.#pending.delete(identity)
        this.#owners.set(socket, p.owner)
        return p.psk
      },
    })
    this.#server.on('secureConnection', (socket: tls.TLSSocket) => {
      const owner = this.#owners.get(socket)
      if (owner === undefined) socket.destroy()
      else hooks.secure(owner, socket)
    })
    this.#server.on('tlsClientError', (err, socket) => hooks.failed(this.#owners.get(socket), err, socket))
  }

  /** Continues `socket` in TLS keyed by `psk`; `early`: bytes read after AUTH 3 (a ClientHello). */
  accept(socket: net.Socket, psk: Buffer, early: Buffer[], owner: T): void {
    const identity = identityOf(psk)
    this.#pending.set(identity, { psk, owner })
    // Forgotten once used, or when the handshake could no longer start (TLS times it out then).
    setTimeout(() => this.#pending.delete(identity), this.#handshakeTimeout).unref()
    socket.removeAllListeners('data')
    socket.pause()
    if (early.length > 0) socket.unshift(Buffer.concat(early))
    this.#server.emit('connection', socket)
  }
}
