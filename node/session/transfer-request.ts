/**
 * The `get-all` request of state transfer (state-transfer.ts): the message a joiner sends to ask a
 * donor for its sessions, and the request the donor reads from it (state-transfer-donor.ts serves
 * it). With fromEveryDonor (the BackupManager) it names the donors the joiner asks and those of the
 * donor's earlier transfer (joiner-share.ts), so that each session is sent once; a scope that is not
 * well formed is ignored, and the donor sends everything.
 */
import { SESSION_MESSAGE, type SessionMessage } from './messages.ts'
import { isWriter } from './rank.ts'

/** With fromEveryDonor: the donors a joiner asks, and those of an earlier transfer (writer ids). */
export interface TransferScope {
  readonly donors: readonly string[]
  readonly sent?: readonly string[]
}

/** Donors a request may name, at most (more: the request is served without its scope, in full). */
const MAX_SCOPE = 1024

/** The scope a `get-all` request names, when it is well formed (else undefined: send everything). */
export function transferScope(request: { donors?: unknown; sent?: unknown }): TransferScope | undefined {
  const list = (x: unknown) =>
    Array.isArray(x) && x.length <= MAX_SCOPE && x.every(isWriter) ? (x as string[]) : undefined
  const donors = list(request.donors)
  if (!donors) return undefined
  if (request.sent === undefined) return { donors }
  const sent = list(request.sent)
  return sent ? { donors, sent } : undefined
}

/** A joiner's `get-all` request as the donor serves it. */
export interface TransferRequest {
  readonly transfer: number
  /** Which donors the joiner asks (joiner-share.ts), when its request says. */
  readonly scope?: TransferScope | undefined
  /** Sessions go as tuples (SessionTuple): the joiner said it reads them. */
  readonly packed?: boolean
}

/** The request a `get-all` message makes. */
export function transferRequest(m: {
  transfer: number
  donors?: unknown
  sent?: unknown
  packed?: unknown
}): TransferRequest {
  return { transfer: m.transfer, scope: transferScope(m), packed: m.packed === true }
}

/** The `get-all` message of transfer `transfer`: sessions packed as tuples, `scope` when given. */
export function getAllMessage(
  contextPath: string,
  transfer: number,
  scope?: TransferScope,
): SessionMessage & { type: 'get-all' } {
  return {
    k: SESSION_MESSAGE,
    type: 'get-all',
    ctx: contextPath,
    transfer,
    packed: true,
    ...(scope ? { donors: [...scope.donors], ...(scope.sent ? { sent: [...scope.sent] } : {}) } : {}),
  }
}
