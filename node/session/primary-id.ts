/**
 * A new session's id under the BackupManager (backup-manager.ts newIdBase): as in Tomcat, the member
 * that creates a session is its primary, so the id is drawn until this member ranks first among its
 * owners in the view (placement.ts). Each draw succeeds with probability 1/N (N members in the view);
 * the id keeps 128 - log2(N) bits of randomness. After 64·N failed draws (about e^-64 likely) any id
 * is taken.
 */
import type { PlacementView } from './placement.ts'
import { newSessionIdBase } from './session.ts'

/** A new session id base (session.ts newSessionIdBase) whose primary under `view` is `self`. */
export function primaryIdBase(view: PlacementView, self: string): string {
  const tries = 64 * view.members.length
  for (let i = 0; i < tries; i++) {
    const id = newSessionIdBase()
    if (view.owners(id, 1)[0] === self) return id
  }
  return newSessionIdBase()
}
