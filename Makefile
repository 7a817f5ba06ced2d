# Every target runs on Node.js 24 (fetched into .local/node from the npm registry when the machine's
# node is older) and installs what it needs first.
SHELL := /bin/bash
NODE_PATH_PREFIX = export PATH="$$(scripts/ensure-node.sh):$$PATH"

.PHONY: deps build lint test test-unit test-integration test-e2e demo bench bench-full clean kube-up kube-down kube-binaries podman image

deps: node_modules/.installed
	@command -v ip >/dev/null || { echo "installing iproute2 (network namespace tests)"; apt-get install -y iproute2; }
	@command -v etcd >/dev/null || { echo "installing etcd-server (operator tests)"; apt-get install -y etcd-server; }
	@scripts/chromium/ensure.sh >/dev/null

# The Kubernetes binaries (apiserver, controller-manager, scheduler, kubelet, kube-proxy, kubectl) and helm
# from the Go module proxy (cached in ~/.cache/cattery/kube; about 7 minutes on 2 cores the first time, with an empty Go cache).
kube-binaries:
	@scripts/kube/build-binaries.sh >/dev/null

# podman (with runc, this machine's settings and the API socket for testcontainers): scripts/podman/setup.sh.
podman:
	@scripts/podman/setup.sh

# cattery-node and cattery-operator images on a local Node.js 24 base (docs/images.md), with the engine
# scripts/container/engine.sh chooses (podman, installed and set up when no engine answers).
image:
	@scripts/image/build.sh

node_modules/.installed: package.json package-lock.json
	@$(NODE_PATH_PREFIX); npm ci --no-audit --no-fund
	@touch $@

build: deps
	@$(NODE_PATH_PREFIX); npm run build

lint: deps
	@$(NODE_PATH_PREFIX); npx biome check . && npx tsc -p tsconfig.json --noEmit && npx knip --no-progress --exclude types

test-unit: deps
	@$(NODE_PATH_PREFIX); npm run test:unit

test-integration: deps kube-binaries image
	@$(NODE_PATH_PREFIX); npm run test:integration

# The user story on a real single-node Kubernetes (kubelet, containerd, pods of the images); root.
test-e2e: deps kube-binaries image
	@$(NODE_PATH_PREFIX); npm run test:e2e

test: lint build test-unit test-integration test-e2e

demo: build
	@$(NODE_PATH_PREFIX); node scripts/demo.ts $(ARGS)

# Every benchmark at its standard length (~11 min); bench-full: the full-length runs (~30 min).
bench: build image
	@$(NODE_PATH_PREFIX); node bench/run.ts --quick

bench-full: build image
	@$(NODE_PATH_PREFIX); node bench/run.ts

# A single-node Kubernetes on this machine with the images imported (docs/kubernetes-local.md).
kube-up: deps image
	@scripts/kube/up.sh

kube-down:
	@scripts/kube/down.sh

clean:
	rm -rf dist .local node_modules
