#!/usr/bin/env bash
# make kube-down: stops what up.sh started — the node (pods, containerd, kubelet, kube-proxy,
# scheduler; scripts/kube/node.sh undoes its cgroups, network, iptables chains, mounts, files outside
# the data directory and sysctls) and the control plane — and removes its data. Fails, naming them,
# when any of the node's changes is still there afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="${CATTERY_KUBE_DIR:-$root/.local/kube}"
[ -d "$dir" ] || { echo "nothing to stop in $dir"; exit 0; }
dir=$(cd "$dir" && pwd)
cache="${CATTERY_KUBE_CACHE:-$HOME/.cache/cattery/kube}"
bin=$(ls -d "$cache"/*/bin 2>/dev/null | tail -1 || true)
. "$root/scripts/kube/lib.sh"
. "$root/scripts/kube/node.sh"

left=""
if [ -f "$dir/kubelet.pid" ] || [ -f "$dir/containerd.pid" ] || [ -f "$dir/sysctls.saved" ]; then
  node_down
  left=$(node_left)
fi
for p in controller-manager apiserver etcd; do stop_process "$p"; done
rm -rf "$dir"
# What could not be undone fails the command (docs/kubernetes-local.md lists what each part changes).
[ -z "$left" ] || { echo "Kubernetes stopped, but these are left on the machine:" >&2; echo "$left" >&2; exit 1; }
echo "Kubernetes stopped"
