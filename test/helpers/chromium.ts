/**
 * The system's Chromium for browser tests (driven with playwright-core; no browser is downloaded):
 * CATTERY_CHROMIUM, or `chromium` / `chromium-browser` on PATH. `make deps` installs Debian's package
 * (scripts/chromium/ensure.sh); without it a test fails with the command that installs it.
 */
import { accessSync, constants } from 'node:fs'
import path from 'node:path'

export const INSTALL_CHROMIUM =
  'scripts/chromium/ensure.sh (as root; it runs: apt-get install -y --no-install-recommends chromium), or set CATTERY_CHROMIUM to a Chromium binary'

export function findChromium(): string {
  const explicit = process.env.CATTERY_CHROMIUM
  if (explicit) {
    if (executable(explicit)) return explicit
    throw new Error(`CATTERY_CHROMIUM=${explicit} is not an executable file`)
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = path.join(dir, name)
      if (dir && executable(candidate)) return candidate
    }
  }
  throw new Error(`Chromium is not installed; install it with ${INSTALL_CHROMIUM}`)
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}
