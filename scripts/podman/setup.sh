#!/usr/bin/env bash
# Makes podman usable here for the images and the container tests; idempotent, prints nothing when all
# is in place (only errors):
#  - installs podman, runc, netavark + aardvark-dns (user networks with DNS for container names) and
#    iptables from Debian when missing;
#  - writes the settings this kind of machine needs (no systemd, hybrid cgroups where crun fails, no
#    CAP_SYS_RESOURCE, no registry) as a drop-in, /etc/containers/containers.conf.d/cattery.conf:
#    a drop-in is read after /etc/containers/containers.conf and overrides only these keys, so a
#    user's own containers.conf is never edited (remove the drop-in to undo);
#  - starts podman's Docker-compatible API on .local/podman/podman.sock (for testcontainers) when it
#    does not answer. scripts/podman/env.sh prints the environment that points clients at it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/.local/podman"
sock="$dir/podman.sock"
mkdir -p "$dir"

# Packages, installed only when missing (apt output is shown only when it fails).
packages=(podman runc netavark aardvark-dns iptables)
if command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log="$dir/apt.log"
    install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; }
    # Stale package lists are the usual reason an install fails on a fresh machine: update once and retry.
    install || { apt-get update >>"$log" 2>&1 && install; } || { cat "$log" >&2; echo "cannot install ${missing[*]}" >&2; exit 1; }
  fi
elif ! command -v podman >/dev/null; then
  echo "podman is missing: install podman (and runc) with this system's package manager" >&2
  exit 1
fi

# Settings (../shared/NOTES.md): crun fails with hybrid cgroups and podman's default nofile ulimit
# cannot be set without CAP_SYS_RESOURCE; no systemd, so cgroupfs and a file events log; never pull,
# so a missing image fails at once instead of after seconds of retries against unreachable registries.
conf=/etc/containers/containers.conf.d/cattery.conf
want=$(cat <<'CONF'
# Written by Cattery's scripts/podman/setup.sh (docs/images.md); remove this file to undo.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
pull_policy = "never"

[engine.runtimes]
runc = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/bin/runc"]

[network]
network_backend = "netavark"
CONF
)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" > "$conf"
fi

# The API socket; started detached so it outlives this script (and make).
answers() { podman --remote --url "unix://$sock" version >/dev/null 2>&1; }
if ! answers; then
  rm -f "$sock"
  setsid nohup podman system service --time=0 "unix://$sock" >>"$dir/service.log" 2>&1 </dev/null &
  echo $! > "$dir/service.pid"
  for _ in $(seq 1 50); do answers && break; sleep 0.1; done
  answers || { tail -20 "$dir/service.log" >&2; echo "podman's API did not start on $sock" >&2; exit 1; }
fi
