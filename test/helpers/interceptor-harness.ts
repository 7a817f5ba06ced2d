/** One interceptor between a fake transport (below) and a fake channel (above), for unit tests. */
import pino from 'pino'
import type { CatteryError } from '../../node/tribes/errors.ts'
import type { IncomingMessage, Interceptor, OutgoingMessage } from '../../node/tribes/interceptor.ts'
import { createLocalMember, type Member } from '../../node/tribes/member.ts'

export interface Harness {
  local: Member
  /** What the interceptor sent down. */
  sent: Array<{ to: Member[]; message: OutgoingMessage }>
  /** What the interceptor passed up. */
  delivered: IncomingMessage[]
  /** ACK outcomes of messages fed in: undefined = ok, else the refusal. */
  acks: Array<CatteryError | undefined>
  added: Member[]
  gone: Array<{ member: Member; reason: string }>
  members: Member[]
  /** Feeds a message up into the interceptor, as the transport would. */
  receive(from: Member, message: Partial<IncomingMessage>): void
  /** Lets sends below fail for these members. */
  failFor: Set<Member>
}

export interface HarnessInit {
  domain?: string
  /** Answers the interceptor's TCP probes (default: every probe fails). */
  probe?: (member: Member) => Promise<Member>
  removed?: Array<{ member: Member; reason: string }>
}

export function harness(interceptor: Interceptor, init: HarnessInit = {}): Harness {
  const local = createLocalMember({ host: '127.0.0.1', port: 4000, name: 'local', domain: init.domain ?? '' })
  const h: Harness = {
    local,
    sent: [],
    delivered: [],
    acks: [],
    added: [],
    gone: [],
    members: [],
    failFor: new Set(),
    receive(from, m) {
      interceptor.messageReceived({
        from,
        options: m.options ?? 0,
        header: m.header ?? {},
        body: m.body ?? new Uint8Array(0),
        done: (err) => void h.acks.push(err),
      })
    },
  }
  interceptor.next = {
    sendMessage: async (to, message) => {
      h.sent.push({ to, message })
      const failed = to.filter((m) => h.failFor.has(m))
      if (failed.length)
        throw Object.assign(new Error('send failed'), { failures: failed.map((m) => ({ member: m.name })) })
    },
    messageReceived: () => {},
    memberAdded: () => {},
    memberDisappeared: () => {},
    memberSuspect: () => {},
  }
  interceptor.previous = {
    sendMessage: async () => {},
    messageReceived: (m) => void h.delivered.push(m),
    memberAdded: (m) => void h.added.push(m),
    memberDisappeared: (member, reason) => void h.gone.push({ member, reason }),
    memberSuspect: () => {},
  }
  interceptor.init({
    localMember: local,
    logger: pino({ level: 'silent' }),
    members: () => h.members,
    probe: (m) => (init.probe ? init.probe(m as Member) : Promise.reject(new Error('connection refused'))),
    removeMember: (member, reason) => void init.removed?.push({ member, reason }),
    asyncFailure: () => {},
  })
  return h
}

export const peer = (name: string, domain = ''): Member =>
  createLocalMember({ host: '127.0.0.1', port: 5000, name, domain })
