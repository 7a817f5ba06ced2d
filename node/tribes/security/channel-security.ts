/**
 * One channel's security: its mode (policy.ts), the key ring of its cluster secrets (keys.ts: the
 * primary it proves and tags with, and up to three more it accepts during a rotation), the
 * uniqueId its handshakes name, and the refusals counted by everything that checks (receiver,
 * outbound connections, probes, multicast), which channel.stats() reports as `framesRefused`.
 * Built before the channel starts, so a reachable node without a secret fails before it binds.
 */
import { randomBytes } from 'node:crypto'
import { CatteryError, codes } from '../errors.ts'
import { ClientHandshake, ServerHandshake } from './handshake.ts'
import { type KeyRing, keyRing, type SecretInput } from './keys.ts'
import { HOW_TO_MAKE_A_SECRET, type SecurityMode, securityMode } from './policy.ts'

export interface SecurityOptions {
  /**
   * The cluster secret (at least 32 characters), or during a rotation a list of up to 4: the first
   * is the one this member uses, the others are accepted as well (docs/security.md).
   */
  secret?: SecretInput | readonly SecretInput[] | undefined
  /** Run without a secret on a receiver reachable from the network (warned about at start). */
  insecure?: boolean | undefined
}

export class ChannelSecurity {
  readonly mode: SecurityMode
  /** The secrets held, the primary first; undefined without a secret. */
  readonly keys: KeyRing | undefined
  /** The local member's uniqueId, chosen before the receiver listens. */
  readonly localId: Uint8Array = randomBytes(16)
  readonly refused: Record<string, number> = {}

  constructor(mode: SecurityMode, keys: KeyRing | undefined) {
    this.mode = mode
    this.keys = keys
  }

  count(code: string): void {
    this.refused[code] = (this.refused[code] ?? 0) + 1
  }

  /** The key ids of the secrets held (hex, the primary first): not secret, shown in /status. */
  keyIds(): string[] | undefined {
    return this.keys?.map((k) => k.id.toString('hex'))
  }

  /** A handshake for a connection we open (with the primary); undefined without a secret. */
  client(): ClientHandshake | undefined {
    return this.keys ? new ClientHandshake(this.keys[0], this.localId) : undefined
  }

  /** A handshake for a connection we accept (with any secret held); undefined without a secret. */
  server(): ServerHandshake | undefined {
    return this.keys ? new ServerHandshake(this.keys, this.localId) : undefined
  }
}

/** Decides the mode from the channel's options; throws INSECURE_CHANNEL or CLUSTER_SECRET. */
export function createChannelSecurity(
  options: SecurityOptions | undefined,
  receiverHost: string,
  membership: string,
): ChannelSecurity {
  const secret = options?.secret
  const hasSecret = secret !== undefined && secret !== '' && !(Array.isArray(secret) && secret.length === 0)
  const mode = securityMode({ receiverHost, membership, hasSecret, insecure: options?.insecure === true })
  if (!mode) {
    throw new CatteryError(
      codes.INSECURE_CHANNEL,
      `the receiver ${receiverHost} (${membership} membership) is reachable from the network and no cluster secret is set: ${HOW_TO_MAKE_A_SECRET}`,
    )
  }
  return new ChannelSecurity(mode, hasSecret ? keyRing(secret) : undefined)
}
