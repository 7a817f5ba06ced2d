/**
 * The content of a cluster secret file: one secret per line, the first the primary (the one this
 * member proves and tags with), the others only accepted — the shape of a rotation
 * (docs/security.md, "Rotating the secret"). Lines are trimmed and blank lines ignored; there must be
 * 1 to MAX_SECRETS secrets of at least MIN_SECRET_CHARS characters each. A refusal is a
 * CATTERY_ERR_CLUSTER_SECRET naming the line, never echoing a secret.
 */
import { CatteryError, codes } from '../errors.ts'
import { MAX_SECRETS, MIN_SECRET_CHARS } from './keys.ts'

/** The secrets of a file's content, the primary first. Throws CLUSTER_SECRET. */
export function parseSecretFile(content: string): string[] {
  const secrets: string[] = []
  const lines = content.split(/\r?\n/)
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '') continue
    if (line.length < MIN_SECRET_CHARS) {
      throw new CatteryError(
        codes.CLUSTER_SECRET,
        `line ${i + 1} holds a secret of ${line.length} characters; at least ${MIN_SECRET_CHARS} are needed (make one with: head -c 32 /dev/urandom | base64)`,
      )
    }
    if (secrets.length === MAX_SECRETS) {
      throw new CatteryError(
        codes.CLUSTER_SECRET,
        `line ${i + 1} holds secret ${MAX_SECRETS + 1}; a member holds at most ${MAX_SECRETS} (the first is its primary, the others are accepted during a rotation)`,
      )
    }
    secrets.push(line)
  }
  if (secrets.length === 0) throw new CatteryError(codes.CLUSTER_SECRET, 'the file holds no secret')
  return secrets
}
