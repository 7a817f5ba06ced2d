#!/usr/bin/env bash
# make kube-down: stops what up.sh started — the node (pods, containerd, kubelet, kube-proxy,
# scheduler; scripts/kube/node.sh undoes its network, iptables chains, mounts and sysctls) and the
# control plane — and removes its data.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="${CATTERY_KUBE_DIR:-$root/.local/kube}"
[ -d "$dir" ] || { echo "nothing to stop in $dir"; exit 0; }
dir=$(cd "$dir" && pwd)
cache="${CATTERY_KUBE_CACHE:-$HOME/.cache/cattery/kube}"
bin=$(ls -d "$cache"/*/bin 2>/dev/null | tail -1 || true)
. "$root/scripts/kube/lib.sh"
. "$root/scripts/kube/node.sh"

[ -f "$dir/kubelet.pid" ] || [ -f "$dir/containerd.pid" ] || [ -f "$dir/sysctls.saved" ] && node_down
for p in controller-manager apiserver etcd; do stop_process "$p"; done
rm -rf "$dir"
echo "Kubernetes stopped"
