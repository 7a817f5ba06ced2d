#!/usr/bin/env bash
# make kube-up: a real Kubernetes control plane on loopback for tests and development — etcd (Debian's
# etcd-server), kube-apiserver and kube-controller-manager (built by build-binaries.sh) — with a
# generated CA, serving certificates and an admin kubeconfig written to .local/kube/kubeconfig.
# No kubelet runs: a test that needs a Running pod sets its status through the API.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="${CATTERY_KUBE_DIR:-$root/.local/kube}"
etcd_port="${CATTERY_ETCD_PORT:-23790}"
api_port="${CATTERY_APISERVER_PORT:-16443}"
bin=$("$root/scripts/kube/build-binaries.sh")
command -v etcd >/dev/null || apt-get install -y etcd-server >&2
command -v openssl >/dev/null || apt-get install -y openssl >&2
# Each component is started only when it is not running, so running this again after one of them
# stopped (a test restarts the apiserver that way) starts just that one.
# (A killed process whose parent has not reaped it is a zombie: not running.)
running() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}
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
  cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"
  cert admin "/O=system:masters/CN=cattery-admin"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
fi
cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: cattery, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}}]
contexts: [{name: cattery, context: {cluster: cattery, user: admin}}]
current-context: cattery
KC
if ! running etcd; then
  nohup etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$((etcd_port + 10))" \
    >> "$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"
fi
if ! running apiserver; then
  nohup "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
    --secure-port "$api_port" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --service-cluster-ip-range 10.96.0.0/16 >> "$dir/apiserver.log" 2>&1 &
  echo $! > "$dir/apiserver.pid"
fi
for _ in $(seq 1 120); do
  "$bin/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
"$bin/kubectl" --kubeconfig "$dir/kubeconfig" get --raw /readyz >/dev/null || { tail -20 "$dir/apiserver.log" >&2; exit 1; }
if ! running controller-manager; then
  nohup "$bin/kube-controller-manager" --kubeconfig "$dir/kubeconfig" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials=false \
    --bind-address 127.0.0.1 --secure-port 0 >> "$dir/controller-manager.log" 2>&1 &
  echo $! > "$dir/controller-manager.pid"
fi
echo "control plane up: export KUBECONFIG=$dir/kubeconfig  (kubectl: $bin/kubectl)"
