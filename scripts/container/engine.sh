#!/usr/bin/env bash
# The one place that chooses the container engine for the images (make image), the container tests
# (testcontainers) and the benchmarks, so all of them use the same one. Prints the environment that
# points them at it:   eval "$(scripts/container/engine.sh)"
#   CATTERY_ENGINE        podman or docker (the command scripts run)
#   CATTERY_IMAGE_PREFIX  how the engine names a locally built image (podman: localhost/)
#   DOCKER_HOST           the Docker-compatible API testcontainers talks to
#   TESTCONTAINERS_*      no Ryuk (its image cannot be pulled without a registry); loopback as host
# The choice, by whether an engine answers, not by whether a command exists:
#   1. CATTERY_ENGINE=podman|docker when set (docker must answer);
#   2. podman when it is installed (set up by scripts/podman/setup.sh, which starts its API socket);
#   3. docker when `docker info` answers (a client with a daemon behind it);
#   4. otherwise podman, installed and set up now (a docker client without a daemon is not an engine).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

docker_answers() { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }

engine="${CATTERY_ENGINE:-}"
case "$engine" in
  podman | docker) ;;
  "")
    if command -v podman >/dev/null; then engine=podman
    elif docker_answers; then engine=docker
    else
      command -v docker >/dev/null &&
        echo "docker at $(command -v docker) does not answer (no daemon): using podman instead" >&2
      engine=podman
    fi
    ;;
  *) echo "CATTERY_ENGINE=$engine: expected podman or docker" >&2; exit 1 ;;
esac

if [ "$engine" = podman ]; then
  "$root/scripts/podman/setup.sh" >&2
  echo "export CATTERY_ENGINE=podman"
  echo "export CATTERY_IMAGE_PREFIX=localhost/"
  echo "export DOCKER_HOST=unix://$root/.local/podman/podman.sock"
  # /.dockerenv exists on this kind of machine, so testcontainers would otherwise reach mapped ports
  # through the bridge gateway; loopback works for a local socket everywhere.
  echo "export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
else
  docker_answers || { echo "CATTERY_ENGINE=docker but docker info does not answer: is its daemon running?" >&2; exit 1; }
  echo "export CATTERY_ENGINE=docker"
  echo "export CATTERY_IMAGE_PREFIX="
  # testcontainers finds docker the way the docker client does (DOCKER_HOST, else its default socket).
  [ -n "${DOCKER_HOST:-}" ] && echo "export DOCKER_HOST=$DOCKER_HOST"
fi
echo "export TESTCONTAINERS_RYUK_DISABLED=true"
