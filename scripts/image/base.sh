#!/usr/bin/env bash
# Builds the local Node.js 24 base image that stands in for the official node:24-slim, which cannot be
# pulled here (no registry). Only when the tag is missing, or with --force:
#   scripts/image/base.sh [--force]      (tag: $CATTERY_BASE_IMAGE or localhost/cattery-node-base:24)
# The image is an empty tree with what the project's Dockerfiles use of node:24-slim: node (the binary
# scripts/ensure-node.sh provides, with the libraries ldd lists), a POSIX shell and the usual commands
# (busybox-static's applets: npm runs scripts with sh, and bins start with #!/usr/bin/env node), npm
# from the npm registry, a `node` user and group with id 1000, /tmp (1777) and CA certificates.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tag="${CATTERY_BASE_IMAGE:-localhost/cattery-node-base:24}"
[ -n "${CATTERY_ENGINE:-}" ] || eval "$("$root/scripts/container/engine.sh")"
engine=$CATTERY_ENGINE
if [ "${1:-}" != --force ] && "$engine" image inspect "$tag" >/dev/null 2>&1; then exit 0; fi

bin=$("$root/scripts/ensure-node.sh")
export PATH="$bin:$PATH"
node=$(readlink -f "$bin/node")
if [ "$(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null)" != installed ]; then
  { apt-get install -y -qq busybox-static || { apt-get update -qq && apt-get install -y -qq busybox-static; }; } >/dev/null ||
    { echo "cannot install busybox-static" >&2; exit 1; }
fi

tree=$(mktemp -d "${TMPDIR:-/tmp}/cattery-base.XXXXXX")
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules,etc/ssl/certs,root,home/node,tmp}

# node and the shared libraries it loads (with the dynamic loader), at their paths on this machine.
install -m 755 "$node" "$tree/usr/local/bin/node"
for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
  mkdir -p "$tree$(dirname "$lib")"
  cp -L "$lib" "$tree$lib"
done

# busybox and a link per applet at its usual path (sh, env, ls, cat, wget, ...).
cp /bin/busybox "$tree/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  [ -e "$tree/$applet" ] || ln -s /bin/busybox "$tree/$applet"
done

# npm, as the official image has it: the package in /usr/local/lib/node_modules and two launchers.
(cd "$tree" && npm pack --silent npm@11 >/dev/null)
tar -xzf "$tree"/npm-*.tgz -C "$tree/usr/local/lib/node_modules"
rm "$tree"/npm-*.tgz
mv "$tree/usr/local/lib/node_modules/package" "$tree/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tree/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tree/usr/local/bin/npx"

# Users and groups as in the official image (node is 1000:1000), name resolution, CAs, /tmp.
cat > "$tree/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
node:x:1000:1000::/home/node:/bin/sh
PASSWD
cat > "$tree/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
node:x:1000:
GROUP
echo 'hosts: files dns' > "$tree/etc/nsswitch.conf"
# The machine's CA bundle, with the file of NODE_EXTRA_CA_CERTS when that is another one: behind a
# TLS-intercepting proxy the build stage's npm needs the proxy's CA (build.sh passes the variable).
cat /etc/ssl/certs/ca-certificates.crt > "$tree/etc/ssl/certs/ca-certificates.crt"
extra="${NODE_EXTRA_CA_CERTS:-}"
if [ -f "$extra" ] && [ "$(readlink -f "$extra")" != /etc/ssl/certs/ca-certificates.crt ]; then
  cat "$extra" >> "$tree/etc/ssl/certs/ca-certificates.crt"
fi
chmod 1777 "$tree/tmp"
chmod 700 "$tree/root"
chown 1000:1000 "$tree/home/node"

version=$("$node" -p process.versions.node)
previous=$("$engine" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
tar --numeric-owner -C "$tree" -c . | "$engine" import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$version" \
  --change "LABEL org.opencontainers.image.description=Node.js $version built locally by scripts/image/base.sh" \
  --change 'CMD ["node"]' - "$tag" >"$tree/import.log" 2>&1 || { cat "$tree/import.log" >&2; exit 1; }
# A forced rebuild leaves the previous image untagged: remove it unless an image still builds on it.
current=$("$engine" image inspect --format '{{.Id}}' "$tag")
[ -z "$previous" ] || [ "$previous" = "$current" ] || "$engine" rmi "$previous" >/dev/null 2>&1 || true
