#!/usr/bin/env bash
# Puts the images pods need into the local kubelet's containerd (namespace k8s.io), since no registry
# can be reached here: the pause image (scripts/kube/pause/pause.c, static, FROM scratch; containerd's
# sandbox_image) and cattery-node / cattery-operator as `make image` built them. Each is exported from
# the container engine (scripts/container/engine.sh) and imported under the names a pod spec uses:
# docker.io/library/cattery-node:<version> is what the image `cattery-node:<version>` means.
#   scripts/kube/images.sh CONTAINERD_SOCKET [pause-only]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sock="$1"
ctr=(ctr --address "$sock" -n k8s.io)
eval "$("$root/scripts/container/engine.sh")"
engine=$CATTERY_ENGINE
prefix=$CATTERY_IMAGE_PREFIX
export PAUSE_IMAGE="${PAUSE_IMAGE:-localhost/cattery-pause:1}"
work=$(mktemp -d "${TMPDIR:-/tmp}/cattery-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# $1: image in the engine; $2...: names it gets in containerd. Skipped when this containerd holds that
# very image already (the engine's image id is noted beside the socket at each import).
stamps="$(dirname "$sock")/imported"
mkdir -p "$stamps"
import() {
  local src="$1"; shift
  local id stamp="$stamps/${1//[\/:]/_}"
  id=$("$engine" image inspect --format '{{.Id}}' "$src" 2>/dev/null) ||
    { echo "image $src is missing: build it with make image" >&2; exit 1; }
  [ "$(cat "$stamp" 2>/dev/null)" = "$id" ] && "${ctr[@]}" images ls -q | grep -qxF "$1" && return 0
  # A docker archive names the image by its tag (an OCI archive from podman would not).
  "$engine" save --format docker-archive -o "$work/image.tar" "$src" >/dev/null 2>&1 ||
    "$engine" save -o "$work/image.tar" "$src" >/dev/null
  local imported
  imported=$("${ctr[@]}" images import "$work/image.tar" | sed -n 's/^unpacking \([^ ]*\) .*/\1/p' | head -1)
  [ -n "$imported" ] || { echo "containerd did not import $src" >&2; exit 1; }
  for name in "$@"; do
    [ "$imported" = "$name" ] || "${ctr[@]}" images tag --force "$imported" "$name" >/dev/null
  done
  rm -f "$work/image.tar"
  echo "$id" > "$stamp"
}

if ! "$engine" image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
  command -v gcc >/dev/null || apt-get install -y -qq gcc libc6-dev >/dev/null
  gcc -static -Os -o "$work/pause" "$root/scripts/kube/pause/pause.c"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$work/Containerfile"
  "$engine" build -q -f "$work/Containerfile" -t "$PAUSE_IMAGE" "$work" >/dev/null
fi
import "$PAUSE_IMAGE" "$PAUSE_IMAGE"
[ "${2:-}" = pause-only ] && exit 0
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json")
for image in cattery-node cattery-operator; do
  import "$prefix$image:$version" "docker.io/library/$image:$version"
done
