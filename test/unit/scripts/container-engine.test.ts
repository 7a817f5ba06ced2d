/**
 * scripts/container/engine.sh chooses the engine by whether it answers, not by whether a command
 * exists (issue 10: a docker client with no daemon stopped `make test`). Each case runs the script
 * with a PATH holding only what it needs, a stub `docker` and, where the case says so, no podman.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'

const SCRIPT = path.resolve(import.meta.dirname, '../../../scripts/container/engine.sh')
const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A bin directory with bash, env, timeout, dirname and a `docker` whose `info` exits `infoStatus`. */
function pathWithDocker(infoStatus: number): string {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'cattery-engine-'))
  dirs.push(bin)
  for (const tool of ['bash', 'env', 'timeout', 'dirname'])
    symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool))
  const stub = path.join(bin, 'docker')
  writeFileSync(
    stub,
    `#!/usr/bin/env bash\n[ "$1" = info ] || exit 0\n${infoStatus ? 'echo "Cannot connect to the Docker daemon" >&2\n' : ''}exit ${infoStatus}\n`,
  )
  chmodSync(stub, 0o755)
  return bin
}

function engine(env: Record<string, string>) {
  const r = spawnSync(SCRIPT, { env, encoding: 'utf8' })
  const exports = Object.fromEntries(
    [...r.stdout.matchAll(/^export (\w+)=(.*)$/gm)].map(([, k, v]) => [k, v]),
  )
  return { status: r.status, exports, stderr: r.stderr }
}

describe('container engine choice', () => {
  it('chooses docker when podman is absent and docker info answers, with bare image names', () => {
    const r = engine({ PATH: pathWithDocker(0) })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.exports.CATTERY_ENGINE, 'docker')
    assert.equal(r.exports.CATTERY_IMAGE_PREFIX, '')
    assert.equal(r.exports.TESTCONTAINERS_RYUK_DISABLED, 'true')
  })

  it('keeps the docker client’s DOCKER_HOST for the tests when docker is chosen', () => {
    const r = engine({ PATH: pathWithDocker(0), DOCKER_HOST: 'unix:///run/user/docker.sock' })
    assert.equal(r.exports.DOCKER_HOST, 'unix:///run/user/docker.sock')
  })

  it('refuses CATTERY_ENGINE=docker when docker info does not answer, naming the daemon', () => {
    const r = engine({ PATH: pathWithDocker(1), CATTERY_ENGINE: 'docker' })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /docker info does not answer: is its daemon running\?/)
  })

  it('refuses an unknown CATTERY_ENGINE, naming the value', () => {
    const r = engine({ PATH: pathWithDocker(0), CATTERY_ENGINE: 'containerd' })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /CATTERY_ENGINE=containerd: expected podman or docker/)
  })

  it('does not choose a docker client whose daemon does not answer, and says so', () => {
    // No podman on this PATH either: the script goes on to set podman up, which cannot succeed on
    // this bare PATH, so what is asserted is the decision it announces, not the install.
    const r = engine({ PATH: pathWithDocker(1) })
    assert.match(r.stderr, /docker at .*\/docker does not answer \(no daemon\): using podman instead/)
    assert.notEqual(r.exports.CATTERY_ENGINE, 'docker')
  })
})
