/**
 * Session managers for unit tests: the settings of one context (small limits that tests can reach;
 * any field overridden), a channel with no members (nothing is sent, no state transfer) and one
 * whose view the test sets.
 */
import { EventEmitter } from 'node:events'
import pino from 'pino'
import { BackupManager } from '../../node/session/backup-manager.ts'
import { DeltaManager } from '../../node/session/delta-manager.ts'
import { DEFAULT_LIMITS } from '../../node/session/limits.ts'
import type { ManagerSettings } from '../../node/session/managers.ts'
import type { SessionData } from '../../node/session/session.ts'
import type { Channel } from '../../node/tribes/channel-types.ts'
import { decode } from '../../node/tribes/codec.ts'
import { createLocalMember, type Member } from '../../node/tribes/member.ts'

export function managerSettings(
  overrides: Partial<Omit<ManagerSettings, 'policy'>> & { policy?: Partial<ManagerSettings['policy']> } = {},
): ManagerSettings {
  const { policy, ...rest } = overrides
  return {
    type: 'delta',
    jvmRoute: 'n1',
    sessionTimeout: 1800,
    maxActiveSessions: -1,
    processExpiresFrequency: 6,
    backgroundProcessorDelay: 10,
    sendOptions: 8,
    expireSessionsOnShutdown: false,
    notifyListenersOnReplication: false,
    stateTransferTimeout: 1,
    sendAllSessionsSize: 1000,
    ...rest,
    policy: {
      ...DEFAULT_LIMITS,
      maxAttributeSize: 1024,
      maxSessionSize: 4096,
      attributeNameFilter: undefined,
      recordAllActions: false,
      trackInPlaceChanges: false,
      ...policy,
    },
  }
}

/** A channel with nobody in the view: sends go nowhere. */
export function lonelyChannel(): Channel {
  return Object.assign(new EventEmitter(), {
    localMember: createLocalMember({ host: '127.0.0.1', port: 0, name: 'n1' }),
    members: () => [],
    asyncWriteInterval: 10,
    send: async () => {},
    addChannelListener: () => {},
    sendEncoded: async () => {},
  }) as unknown as Channel
}

/** A channel whose view the test sets: it records what is sent and acknowledges every send. */
export function viewChannel(peers: Member[]) {
  const sent: Array<{ to: Member[]; message: Record<string, unknown> }> = []
  let members = peers
  const channel = Object.assign(new EventEmitter(), {
    localMember: createLocalMember({ host: '127.0.0.1', port: 0, name: 'n1' }),
    members: () => members,
    viewVersion: 1,
    started: true,
    asyncWriteInterval: 10,
    send: async (to: Member | Member[], message: Record<string, unknown>) => {
      sent.push({ to: Array.isArray(to) ? to : [to], message })
    },
    addChannelListener: () => {},
    /** A batch reaches its members as its messages, each through `send` (which a test may replace). */
    sendEncoded: async (to: Member | Member[], body: Uint8Array) => {
      const m = decode(body) as Record<string, unknown> & { messages?: Array<Record<string, unknown>> }
      const carried = m.type === 'batch' ? (m.messages ?? []).map((x) => ({ k: m.k, ctx: m.ctx, ...x })) : [m]
      await Promise.all(carried.map((x) => channel.send(to, x)))
    },
  })
  return {
    channel: channel as unknown as Channel,
    sent,
    /** Another view (no event: no repair pass is scheduled). */
    setMembers(list: Member[]) {
      members = list
      channel.viewVersion++
    },
  }
}

/** A member of the view, not ready (a manager asks it for no state). */
export const peer = (name: string): Member => ({
  ...createLocalMember({ host: '127.0.0.2', port: 1, name }),
  ready: false,
})

/**
 * A BackupManager (k = 1) or DeltaManager of context /app on `channel`, with the settings above
 * and synchronous send options (`more` overrides), logging nothing; not started.
 */
export function replicatedManager<K extends 'backup' | 'delta'>(
  kind: K,
  channel: Channel,
  more: { antiEntropyInterval?: number; recordAllActions?: boolean } = {},
): K extends 'backup' ? BackupManager : DeltaManager {
  const { recordAllActions, ...rest } = more
  const { type: _type, ...settings } = managerSettings(
    recordAllActions === undefined ? {} : { policy: { recordAllActions } },
  )
  const options = {
    ...settings,
    sendOptions: 6,
    contextPath: '/app',
    logger: pino({ level: 'silent' }),
    channel,
    ...rest,
  }
  return (
    kind === 'backup' ? new BackupManager({ ...options, backups: 1 }) : new DeltaManager(options)
  ) as K extends 'backup' ? BackupManager : DeltaManager
}

/**
 * A session's data as a member sends it (a creation, a copy, a page): created now, 1800 s, version 1,
 * no attributes, no writer; `more` overrides any field.
 */
export function sessionData(id: string, more: Partial<SessionData> = {}): SessionData {
  const now = Date.now()
  return {
    id,
    creationTime: now,
    lastAccessedTime: now,
    maxInactiveInterval: 1800,
    principal: undefined,
    authType: undefined,
    version: 1,
    attributes: [],
    ...more,
  }
}
