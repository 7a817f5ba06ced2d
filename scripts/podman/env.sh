#!/usr/bin/env bash
# Prints the environment that points testcontainers (or any Docker client) at the podman API socket
# started by setup.sh. Usage: eval "$(scripts/podman/env.sh)"
#  - Ryuk (testcontainers' reaper) is off: its image cannot be pulled here; tests remove their
#    containers by the label org.testcontainers=true instead.
#  - The host override: /.dockerenv exists on this machine, so testcontainers would otherwise reach
#    mapped ports through the bridge gateway; loopback works for a local socket everywhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
echo "export DOCKER_HOST=unix://$root/.local/podman/podman.sock"
echo "export TESTCONTAINERS_RYUK_DISABLED=true"
echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
