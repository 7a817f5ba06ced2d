#!/usr/bin/env bash
# Builds the Kubernetes binaries a single-node cluster needs — kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl — and helm, from their Go modules through the Go module
# proxy, into a cache outside the repository (reused when present):
#   scripts/kube/build-binaries.sh [VERSION]      (default below; cache: $CATTERY_KUBE_CACHE or ~/.cache/cattery/kube)
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local paths, so `go install`
# refuses it; a small module of our own requires it and points each staging module at its published
# v0.N.x version instead.
set -euo pipefail
version="${1:-v1.35.4}"
minor="v0.${version#v1.}"
cache="${CATTERY_KUBE_CACHE:-$HOME/.cache/cattery/kube}/$version"
helm_version="${CATTERY_HELM_VERSION:-v3.22.0}"
kube_minor="${version#v1.}"; kube_minor="${kube_minor%%.*}"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
mkdir -p "$cache/bin"
[ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"
# helm builds the ordinary way (its module has no local replacements).
if [ ! -x "$cache/bin/helm" ]; then
  command -v go >/dev/null || { echo "Go is needed: apt-get install -y golang (or the Go toolchain of this machine)" >&2; exit 1; }
  echo "building helm $helm_version (a minute or two)" >&2
  GOBIN="$cache/bin" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kube_minor" \
    "helm.sh/helm/v3/cmd/helm@$helm_version" >&2
fi
missing=()
for b in "${bins[@]}"; do [ -x "$cache/bin/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then echo "$cache/bin"; exit 0; fi
command -v go >/dev/null || { echo "Go is needed: apt-get install -y golang (or the Go toolchain of this machine)" >&2; exit 1; }

work="$cache/module"
mkdir -p "$work"
cd "$work"
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$gomod" ] || { echo "cannot download k8s.io/kubernetes@$version from the Go module proxy" >&2; exit 1; }
{
  echo "module cattery.local/kubebuild"
  echo
  grep -E '^go [0-9.]+' "$gomod"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  # Each staging module at its published version.
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 '"$minor"'#p' "$gomod"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
GOFLAGS=-mod=mod go mod tidy >&2
for b in "${missing[@]}"; do
  echo "building $b $version (minutes on 2 cores)" >&2
  v="k8s.io/component-base/version"
  minor_num="${version#v1.}"; minor_num="${minor_num%%.*}"
  GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor_num -X $v.gitTreeState=clean" \
    -o "$cache/bin/$b" "k8s.io/kubernetes/cmd/$b" >&2
done
echo "$cache/bin"
