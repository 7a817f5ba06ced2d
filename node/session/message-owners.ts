/**
 * Which session a BackupManager's session message is about, and so which members it goes to
 * (backup-manager.ts: the replicated manager's targets, replicated-manager.ts): a session's other
 * owners only (placement-cache.ts), not every member; a change of id to the other owners of the old
 * id and of the new one. Messages about no one session go to no one from here.
 */
import type { Member } from '../tribes/member.ts'
import type { SessionMessage } from './messages.ts'
import type { PlacementCache } from './placement-cache.ts'
import { keyOf } from './store.ts'

/** The members `message` goes to: the other owners of the session(s) it is about. */
export function ownersToTell(
  message: SessionMessage,
  placement: Pick<PlacementCache, 'otherOwners'>,
): Member[] {
  switch (message.type) {
    case 'created':
      return placement.otherOwners(keyOf(message.session.id))
    case 'delta':
    case 'accessed':
    case 'expired':
      return placement.otherOwners(keyOf(message.id))
    case 'change-id': {
      const to = placement.otherOwners(keyOf(message.id))
      for (const m of placement.otherOwners(keyOf(message.newId))) if (!to.includes(m)) to.push(m)
      return to
    }
    default:
      return []
  }
}

/** The session a new session, a change or a change of id is about (its key), else undefined. */
export function changedKey(m: SessionMessage): string | undefined {
  if (m.type === 'created') return keyOf(m.session.id)
  if (m.type === 'change-id') return keyOf(m.newId)
  if (m.type === 'delta') return keyOf(m.id)
  return undefined
}
