#!/usr/bin/env bash
# make image: builds cattery-node:<version> and cattery-operator:<version> (version from package.json)
# with the engine scripts/container/engine.sh chooses (podman, or a docker that answers).
#   scripts/image/build.sh [--official-base]
# By default both build on the local Node.js 24 base (scripts/image/base.sh, built when missing),
# because no registry can be reached here; --official-base (or NODE_IMAGE=...) builds on the
# Dockerfiles' default, the official node:24-slim. Layers are cached: a rebuild after a source change
# reruns only the TypeScript build and the runtime stage's copies.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
eval "$(scripts/container/engine.sh)"
engine=$CATTERY_ENGINE
base="${NODE_IMAGE:-}"
[ "${1:-}" = --official-base ] && base=node:24-slim
args=(--network host)
if [ -z "$base" ]; then
  base="${CATTERY_BASE_IMAGE:-localhost/cattery-node-base:24}"
  CATTERY_BASE_IMAGE=$base scripts/image/base.sh
  # The build stage's npm must trust what this machine trusts (a TLS-intercepting proxy's CA): the
  # local base carries the machine's bundle, NODE_EXTRA_CA_CERTS included, at this path.
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && args+=(--build-arg NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
fi
args+=(--build-arg "NODE_IMAGE=$base")
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
log="$root/.local/image-build.log"
mkdir -p "$root/.local"
for image in node operator; do
  tag="cattery-$image:$version"
  echo "building $tag on $base" >&2
  previous=$("$engine" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  "$engine" build "${args[@]}" -f "images/$image/Dockerfile" -t "$tag" . >"$log" 2>&1 ||
    { tail -40 "$log" >&2; echo "building $tag failed (whole log: $log)" >&2; exit 1; }
  # The image this tag named before is left untagged: remove it (not the build cache's layers).
  current=$("$engine" image inspect --format '{{.Id}}' "$tag")
  [ -z "$previous" ] || [ "$previous" = "$current" ] || "$engine" rmi "$previous" >/dev/null 2>&1 || true
done
