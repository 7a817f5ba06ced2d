#!/usr/bin/env bash
# make kube-down: stops the control plane of up.sh and removes its data.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="${CATTERY_KUBE_DIR:-$root/.local/kube}"
for p in controller-manager apiserver etcd; do
  [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
done
sleep 1
rm -rf "$dir"
echo "control plane stopped"
