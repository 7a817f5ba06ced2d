#!/usr/bin/env bash
# make kube-up: a real single-node Kubernetes for tests and development — etcd (Debian's etcd-server),
# kube-apiserver, kube-controller-manager, and the node (scripts/kube/node.sh: containerd, a bridge
# CNI, kubelet, kube-proxy, kube-scheduler), the Kubernetes binaries built by build-binaries.sh — with a
# generated CA, certificates per component and an admin kubeconfig written to .local/kube/kubeconfig.
# The project's images are imported into the node's containerd, so pods of them start (no registry).
#   CATTERY_KUBE_NODE=0  the control plane alone on loopback (no kubelet: pods stay Pending; several
#                        can run at once, each with CATTERY_KUBE_DIR and ports of its own)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="${CATTERY_KUBE_DIR:-$root/.local/kube}"
etcd_port="${CATTERY_ETCD_PORT:-23790}"
api_port="${CATTERY_APISERVER_PORT:-16443}"
with_node="${CATTERY_KUBE_NODE:-1}"
bin=$("$root/scripts/kube/build-binaries.sh")
missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    { echo "cannot install ${missing[*]}" >&2; exit 1; }
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
. "$root/scripts/kube/lib.sh"
. "$root/scripts/kube/node.sh"
api_host=127.0.0.1
if [ "$with_node" = 1 ]; then
  node_prepare
  api_host=$GATEWAY
fi
# Each component is started only when it is not running, so running this again after one of them
# stopped (a test restarts the apiserver that way) starts just that one.
mkdir -p "$dir/pki"
pki="$dir/pki"
cert() { # name subject [san]
  openssl genrsa -out "$pki/$1.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$1.key" -subj "$2" -out "$pki/$1.csr" 2>/dev/null
  local ext="$pki/$1.ext"
  echo "basicConstraints=CA:FALSE" > "$ext"
  [ -n "${3:-}" ] && echo "subjectAltName=$3" >> "$ext"
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 -extfile "$ext" -out "$pki/$1.crt" 2>/dev/null
}
if [ ! -f "$pki/ca.crt" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 30 -subj "/CN=cattery-test-ca" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,IP:10.96.0.1,IP:10.244.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=cattery-admin"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
[ "$with_node" = 1 ] && node_certs
cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: cattery, cluster: {server: "https://$api_host:$api_port", certificate-authority: "$pki/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}}]
contexts: [{name: cattery, context: {cluster: cattery, user: admin}}]
current-context: cattery
KC
if ! running etcd; then
  nohup etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$((etcd_port + 10))" \
    >> "$dir/etcd.log" 2>&1 < /dev/null &
  echo $! > "$dir/etcd.pid"
fi
if ! running apiserver; then
  node_args=()
  # With a node: pods reach the apiserver at the gateway address (through the kubernetes Service), and
  # it reaches the kubelet (logs, exec) at the node's address with a client certificate.
  [ "$with_node" = 1 ] && node_args=(--advertise-address "$GATEWAY" --kubelet-preferred-address-types InternalIP
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key")
  setsid nohup "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address "$api_host" "${node_args[@]}" \
    --secure-port "$api_port" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --service-cluster-ip-range "$SERVICE_CIDR" >> "$dir/apiserver.log" 2>&1 < /dev/null &
  echo $! > "$dir/apiserver.pid"
fi
for _ in $(seq 1 120); do
  "$bin/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
"$bin/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz >/dev/null || { tail -20 "$dir/apiserver.log" >&2; exit 1; }
if ! running controller-manager; then
  setsid nohup "$bin/kube-controller-manager" --kubeconfig "$dir/kubeconfig" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials=false \
    --bind-address 127.0.0.1 --secure-port 0 >> "$dir/controller-manager.log" 2>&1 < /dev/null &
  echo $! > "$dir/controller-manager.pid"
fi
if [ "$with_node" = 1 ]; then
  node_start
  echo "Kubernetes up (node $NODE_NAME Ready): export KUBECONFIG=$dir/kubeconfig PATH=$bin:\$PATH"
else
  echo "control plane up: export KUBECONFIG=$dir/kubeconfig  (kubectl: $bin/kubectl)"
fi
