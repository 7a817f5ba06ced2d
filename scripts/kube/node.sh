#!/usr/bin/env bash
# The worker side of the single-node Kubernetes of `make kube-up` (sourced by up.sh and down.sh; root):
# containerd (Debian's, with runc and its CRI plugin), a bridge CNI network (Debian's
# containernetworking-plugins), the kubelet, kube-proxy (iptables) and kube-scheduler. Everything it
# makes is private to this machine: pods live on the bridge cni0 (10.244.0.0/24, gateway 10.244.0.1,
# no masquerade: nothing routes off the machine), Services on 10.96.0.0/16 through kube-proxy's
# iptables rules. The apiserver listens on the gateway address only, which pods reach through the
# `kubernetes` Service. What this changes on the machine, and how node_down undoes it, is in
# docs/kubernetes-local.md. Facts behind each setting: ../shared/NOTES.md ("A real kubelet here").

NODE_NAME=cattery
BRIDGE=cni0
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
# The machine-wide marker of the one node that may run at a time (cni0 and iptables are global).
NODE_LOCK=/run/cattery-kube-node
# The kubelet changes the first six (setupKernelTunables), kube-proxy route_localnet (localhost node
# ports); we set forwarding and bridged traffic through iptables for kube-proxy.
SAVED_SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
  net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables)
# What the node writes outside the data directory because no flag or setting moves it: the kubelet's
# device-plugin socket (a constant, /var/lib/kubelet/device-plugins/kubelet.sock) and the symlinks of
# /var/log/containers (a constant too), containerd 1.6's shim sockets (/run/containerd/s) and its CNI
# result cache (/var/lib/cni/results), libmount's /run/mount. node_prepare notes which of these
# directories did not exist before the first kube-up (outside.created); node_down removes our files in
# them and then those directories, deepest first.
OUTSIDE_DIRS=(/var/lib/kubelet /var/lib/kubelet/device-plugins /var/log/containers /var/lib/cni
  /var/lib/cni/results /run/containerd /run/containerd/s /run/mount)

node_packages() {
  local want=(containerd runc containernetworking-plugins conntrack iptables gcc libc6-dev) missing=()
  for p in "${want[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} (the kubelet's runtime and network)" >&2
  local log="$dir/apt.log"
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; }
  install || { apt-get update >>"$log" 2>&1 && install; } ||
    { tail -20 "$log" >&2; echo "cannot install ${missing[*]}" >&2; exit 1; }
}

# Before the apiserver starts: it listens on the bridge's gateway address, so the bridge comes first.
node_prepare() {
  [ "$(id -u)" = 0 ] || { echo "a kubelet needs root (make kube-up as root, or CATTERY_KUBE_NODE=0)" >&2; exit 1; }
  if [ -e "$NODE_LOCK" ] && [ "$(cat "$NODE_LOCK")" != "$dir" ]; then
    local other
    other=$(cat "$NODE_LOCK")
    if [ -d "$other" ]; then
      echo "a Kubernetes node of $other is running on this machine: stop it first (CATTERY_KUBE_DIR=$other scripts/kube/down.sh)" >&2
      exit 1
    fi
  fi
  echo "$dir" > "$NODE_LOCK"
  node_packages
  if [ ! -f "$dir/sysctls.saved" ]; then
    for k in "${SAVED_SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k" 2>/dev/null || echo)"; done > "$dir/sysctls.saved"
  fi
  if [ ! -f "$dir/outside.created" ]; then
    for d in "${OUTSIDE_DIRS[@]}"; do [ -e "$d" ] || echo "$d"; done > "$dir/outside.created"
  fi
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr show dev "$BRIDGE" | grep -q " $GATEWAY/" || ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

node_certs() {
  [ -f "$pki/kubelet.crt" ] && return 0
  cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
  cert kube-proxy "/CN=system:kube-proxy"
  cert scheduler "/CN=system:kube-scheduler"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
}

# $1 name, $2 cert name: a kubeconfig for a component.
node_kubeconfig() {
  cat > "$dir/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: cattery, cluster: {server: "https://$api_host:$api_port", certificate-authority: "$pki/ca.crt"}}]
users: [{name: $2, user: {client-certificate: "$pki/$2.crt", client-key: "$pki/$2.key"}}]
contexts: [{name: cattery, context: {cluster: cattery, user: $2}}]
current-context: cattery
KC
}

node_containerd() {
  local c="$dir/containerd"
  mkdir -p "$c" "$dir/cni/net.d"
  # A conf dir of its own: containerd loads only the first file of a directory, and podman's lives
  # in /etc/cni/net.d.
  cat > "$dir/cni/net.d/10-cattery.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "cattery",
  "plugins": [
    { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$GATEWAY" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$dir/cni/ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CNI
  cat > "$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
# Kept in the data directory: the opt plugin's directory (else /opt/containerd), pods' network
# namespaces (else /run/netns) and runc's state (else /run/containerd/runc).
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  netns_mounts_under_state_dir = true
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
TOML
  if ! running containerd; then
    setsid nohup containerd --config "$c/config.toml" >> "$dir/containerd.log" 2>&1 < /dev/null &
    echo $! > "$dir/containerd.pid"
  fi
  for _ in $(seq 1 100); do ctr --address "$c/containerd.sock" version >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -20 "$dir/containerd.log" >&2; echo "containerd did not start" >&2; exit 1
}

node_kubelet() {
  node_kubeconfig kubelet kubelet
  printf 'nameserver %s\noptions ndots:1\n' "$GATEWAY" > "$dir/resolv.conf"
  mkdir -p "$dir/kubelet" "$dir/pod-logs"
  cat > "$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 here: kubelet 1.35 refuses it unless told (a deprecation warning remains).
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
address: $GATEWAY
port: ${CATTERY_KUBELET_PORT:-10250}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
podCIDR: $POD_CIDR
# No DNS server exists for pods; they reach the API by the kubernetes Service's address.
resolvConf: $dir/resolv.conf
podLogsDir: $dir/pod-logs
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML
  if ! running kubelet; then
    setsid nohup "$bin/kubelet" --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
      --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$GATEWAY" \
      >> "$dir/kubelet.log" 2>&1 < /dev/null &
    echo $! > "$dir/kubelet.pid"
  fi
}

node_proxy() {
  node_kubeconfig kube-proxy kube-proxy
  cat > "$dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$dir/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
# Leave the machine's oom_score_adj and conntrack sysctls alone (no CAP_SYS_RESOURCE; nothing to tune).
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# No health or metrics servers (empty turns them off): nothing here reads them.
healthzBindAddress: ""
metricsBindAddress: ""
YAML
  if ! running kube-proxy; then
    setsid nohup "$bin/kube-proxy" --config "$dir/kube-proxy.yaml" >> "$dir/kube-proxy.log" 2>&1 < /dev/null &
    echo $! > "$dir/kube-proxy.pid"
  fi
}

node_scheduler() {
  node_kubeconfig scheduler scheduler
  if ! running scheduler; then
    setsid nohup "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" --leader-elect=false \
      --secure-port 0 >> "$dir/scheduler.log" 2>&1 < /dev/null &
    echo $! > "$dir/scheduler.pid"
  fi
}

# After the apiserver answers.
node_start() {
  export PAUSE_IMAGE="${PAUSE_IMAGE:-localhost/cattery-pause:1}"
  node_containerd
  "$root/scripts/kube/images.sh" "$dir/containerd/containerd.sock" ${CATTERY_KUBE_PAUSE_ONLY:+pause-only}
  node_scheduler
  node_proxy
  node_kubelet
  local k=("$bin/kubectl" --kubeconfig "$dir/kubeconfig")
  node_wait "the kubelet's node to be Ready" kubelet \
    '[ "$("${k[@]}" get node "$NODE_NAME" -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}" 2>/dev/null)" = True ]'
  # Pods reach the API through the kubernetes Service: wait for kube-proxy's rule for it.
  node_wait "kube-proxy's rules for the kubernetes Service" kube-proxy \
    'iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q "10.96.0.1/32"'
  running scheduler || { tail -20 "$dir/scheduler.log" >&2; echo "kube-scheduler stopped (log: $dir/scheduler.log)" >&2; exit 1; }
}

# $1 what, $2 the component whose log explains a failure, $3 the condition (a shell command).
node_wait() {
  for _ in $(seq 1 120); do
    eval "$3" && return 0
    running "$2" || break
    sleep 0.5
  done
  tail -20 "$dir/$2.log" >&2
  echo "timed out waiting for $1 (log: $dir/$2.log)" >&2
  exit 1
}

# Stops the node and undoes what node_prepare, containerd, the kubelet and kube-proxy changed, each step
# once the one before it made it possible: processes, the pods' processes, their cgroups, the network,
# mounts, files outside the data directory, sysctls. Safe to run twice.
node_down() {
  # Best effort throughout: one step that finds nothing to undo must not stop the others.
  local -
  set +e +o pipefail
  local c="$dir/containerd" ids=()
  for p in kubelet kube-proxy scheduler; do stop_process "$p"; done
  if [ -S "$c/containerd.sock" ]; then
    local ctr=(ctr --address "$c/containerd.sock")
    ids=($("${ctr[@]}" -n k8s.io containers ls -q 2>/dev/null))
    # Every pod's containers and sandboxes (tasks first), so their network namespaces are released.
    for t in $("${ctr[@]}" -n k8s.io tasks ls -q 2>/dev/null); do "${ctr[@]}" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $("${ctr[@]}" -n k8s.io tasks ls -q 2>/dev/null); do "${ctr[@]}" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for cid in "${ids[@]}"; do "${ctr[@]}" -n k8s.io containers delete "$cid" >/dev/null 2>&1 || true; done
  fi
  stop_process containerd
  # Shims of this containerd that outlived it (a task it could not delete), then the pods' cgroups.
  local pid
  for pid in $(grep -lsF -- "$c/containerd.sock" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    grep -qsF containerd-shim "/proc/$pid/cmdline" && kill -9 "$pid" 2>/dev/null
  done
  node_cgroups_down
  ip link delete "$BRIDGE" 2>/dev/null || true
  # kube-proxy's rules, then the chains the kubelet leaves behind (IPv4 and IPv6).
  [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local ipt table chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle; do
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
        "$ipt" -t "$table" -S 2>/dev/null | grep -E "^-A [A-Z-]+ .*-j $chain( |$)" | grep -v "^-A $chain " |
          sed 's/^-A/-D/' | while read -r rule; do eval "$ipt" -t "$table" "$rule" 2>/dev/null || true; done
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  # Mounts under the kubelet's root and containerd's state (secrets, projected tokens, rootfs, the
  # pods' network namespaces).
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  node_outside_down "${ids[@]}"
  if [ -f "$dir/sysctls.saved" ]; then
    while IFS='=' read -r k v; do [ -n "$v" ] && sysctl -qw "$k=$v" 2>/dev/null || true; done < "$dir/sysctls.saved"
  fi
  [ "$(cat "$NODE_LOCK" 2>/dev/null)" = "$dir" ] && rm -f "$NODE_LOCK"
  return 0
}

# The kubelet's cgroups (cgroupfs driver: kubepods/{burstable,besteffort}/pod<uid>/<container> in every
# hierarchy): a cgroup can be removed only once no process is in it and it has no children, so what
# is left in them is killed and they are removed deepest first, again until none is left (5 s at most).
node_cgroups_down() {
  local left f pid
  for _ in $(seq 1 50); do
    left=$(ls -d /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* 2>/dev/null)
    [ -z "$left" ] && return 0
    for f in $(find $left -name cgroup.procs 2>/dev/null); do
      for pid in $(cat "$f" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
    find $left -depth -type d -exec rmdir {} + 2>/dev/null
    sleep 0.1
  done
  echo "cgroups left behind: $left" >&2
}

# $@: the ids of containerd's containers. Removes what the node wrote outside the data directory
# (OUTSIDE_DIRS), then the directories of those that did not exist before the first kube-up.
node_outside_down() {
  local id f results=/var/lib/cni/results
  # Only our kubelet ran (NODE_LOCK): its registration socket and checkpoint are ours.
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" -delete 2>/dev/null
  # CNI results of our network (cattery-<sandbox>-eth0) and containerd's loopback of the same sandbox.
  for f in "$results"/cattery-*; do
    [ -e "$f" ] || continue
    id=${f#"$results"/cattery-}
    rm -f "$f" "$results/cni-loopback-${id%-*}-lo"
  done
  # A shim's socket is /run/containerd/s/sha256(<containerd socket>/<namespace>/<id>); a shim that
  # exits removes its own, one that was killed does not.
  for id in "$@"; do
    f=$(printf '%s' "$c/containerd.sock/k8s.io/$id" | sha256sum | cut -d' ' -f1)
    rm -f "/run/containerd/s/$f"
  done
  [ -f "$dir/outside.created" ] && tac "$dir/outside.created" | while read -r f; do rmdir "$f" 2>/dev/null; done
}

# What node_down removes and is still there, a line each: nothing once the machine is as it was.
node_left() {
  local - ipt table
  set +e +o pipefail
  ls -d /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* 2>/dev/null | sed 's/^/cgroup /'
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "link $BRIDGE"
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      "$ipt" -t "$table" -S 2>/dev/null | awk -v t="$ipt -t $table" '/^-N KUBE-/ {print "chain " t " " $2}'
    done
  done
  awk -v d="$dir/" 'index($2, d) == 1 {print "mount " $2}' /proc/mounts
  ls -d /var/lib/kubelet/pki/kubelet.* /var/lib/kubelet/device-plugins/kubelet* /var/lib/cni/results/cattery-* 2>/dev/null |
    sed 's/^/file /'
  find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" 2>/dev/null | sed 's/^/file /'
  [ -f "$dir/outside.created" ] && while read -r f; do [ -e "$f" ] && echo "directory $f"; done < "$dir/outside.created"
  [ "$(cat "$NODE_LOCK" 2>/dev/null)" = "$dir" ] && echo "file $NODE_LOCK"
  return 0
}
