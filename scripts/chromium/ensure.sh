#!/usr/bin/env bash
# Makes Debian's Chromium available for the dashboard's browser test (test/integration/dashboard-
# browser.test.ts drives it with playwright-core; no browser is downloaded from anywhere else).
# Idempotent: installs the `chromium` package when missing (apt output shown only when it fails), then
# prints the browser's path. CATTERY_CHROMIUM names another binary instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
find_it() {
  if [ -n "${CATTERY_CHROMIUM:-}" ]; then echo "$CATTERY_CHROMIUM"; return 0; fi
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null; then command -v "$c"; return 0; fi
  done
  return 1
}
if find_it; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "chromium is missing: install Chromium with this system's package manager (or set CATTERY_CHROMIUM)" >&2
  exit 1
fi
mkdir -p "$root/.local"
log="$root/.local/chromium-apt.log"
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >"$log" 2>&1; }
# Stale package lists are the usual reason an install fails on a fresh machine: update once and retry.
install || { apt-get update >>"$log" 2>&1 && install; } || {
  cat "$log" >&2
  echo "cannot install chromium: apt-get install -y --no-install-recommends chromium" >&2
  exit 1
}
find_it
