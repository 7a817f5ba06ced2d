/**
 * The project's images in containers, through the engine's Docker-compatible API (testcontainers):
 * the environment (scripts/container/engine.sh chooses the engine the images were built with and
 * starts podman's API socket when that is the one), a check that the images exist
 * (`make image` builds them; nothing is ever pulled), node containers whose pino log is followed like
 * NodeProcess's, and removal by label — also of what a killed test run left behind, since Ryuk (the
 * reaper that would do it) cannot run here.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import {
  GenericContainer,
  getContainerRuntimeClient,
  ImageName,
  PullPolicy,
  type StartedTestContainer,
  Wait,
} from 'testcontainers'
import type { LogLine } from './node-process.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version
/** The engine's environment, read once: the same choice `make image` made (docs/images.md). */
const ENGINE = (() => {
  const out = execFileSync(path.join(ROOT, 'scripts/container/engine.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map(([, k, v]) => [k, v])) as Record<
    string,
    string
  >
})()
// podman stores locally built images under localhost/; docker under the bare name.
const PREFIX = ENGINE.CATTERY_IMAGE_PREFIX ?? ''
export const NODE_IMAGE = `${PREFIX}cattery-node:${VERSION}`
/** The cluster secret of the node containers this process starts (docs/security.md). */
export const CLUSTER_SECRET = randomBytes(32).toString('base64')
export const CLUSTER_SECRET_FILE = '/etc/cattery/cluster-secret'
export const OPERATOR_IMAGE = `${PREFIX}cattery-operator:${VERSION}`
/**
 * The admin token every node container gets (--admin-token): its admin server listens on 0.0.0.0, so
 * /status and /sessions answer only with `Authorization: Bearer` (ADMIN_HEADERS).
 */
export const ADMIN_TOKEN = 'cattery-test-admin-token'
export const ADMIN_HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}` }
/** On every container and network a test makes; cleanup removes whatever carries it. */
export const LABEL = 'dev.cattery.test'

/** Points testcontainers at the engine the images were built with (no Ryuk; loopback host for podman). */
export function useContainerEnvironment(): void {
  Object.assign(process.env, ENGINE)
}

/** Fails with the command that builds them when an image is missing (tests never pull). */
export async function requireImages(...images: string[]): Promise<void> {
  const client = await getContainerRuntimeClient()
  for (const image of images) {
    if (!(await client.image.exists(ImageName.fromString(image))))
      throw new Error(`image ${image} is missing: build it with make image (scripts/image/build.sh)`)
  }
}

async function docker() {
  return (await getContainerRuntimeClient()).container.dockerode
}

/** Removes every container and network carrying LABEL (running containers are killed). */
export async function removeLabelled(): Promise<void> {
  const d = await docker()
  const filters = { label: [LABEL] }
  const containers = await d.listContainers({ all: true, filters })
  await Promise.all(containers.map((c) => d.getContainer(c.Id).remove({ force: true })))
  for (const n of await d.listNetworks({ filters })) await d.getNetwork(n.Id).remove()
}

/** A user-defined bridge network (multicast passes between its containers). */
export async function createNetwork(name: string): Promise<string> {
  await (await docker()).createNetwork({ Name: name, Driver: 'bridge', Labels: { [LABEL]: 'true' } })
  return name
}

export interface NodeContainer {
  name: string
  container: StartedTestContainer
  /** Host ports mapped to the container's HTTP (8080) and admin (9090) ports. */
  http: number
  admin: number
  lines: LogLine[]
  waitFor(predicate: (l: LogLine) => boolean, timeoutMs?: number, from?: number): Promise<LogLine>
}

/**
 * Starts `cattery-node --name NAME ...args` from the node image on `network` and follows its log.
 * Resolves once the admin server answers /livez (wait: 'live') or the node is ready (/readyz 200).
 */
export async function startNodeContainer(
  network: string,
  name: string,
  o: { args?: string[]; wait?: 'live' | 'ready'; image?: string } = {},
): Promise<NodeContainer> {
  const probe = o.wait === 'live' ? '/livez' : '/readyz'
  const container = await new GenericContainer(o.image ?? NODE_IMAGE)
    .withPullPolicy(PullPolicy.neverPull())
    .withLabels({ [LABEL]: 'true' })
    .withNetworkMode(network)
    // Every member of a test cluster shares one secret, mounted as the operator mounts it.
    .withCopyContentToContainer([
      { content: `${CLUSTER_SECRET}\n`, target: CLUSTER_SECRET_FILE, mode: 0o444 },
    ])
    .withCommand([
      '--name',
      name,
      '--cluster-secret-file',
      CLUSTER_SECRET_FILE,
      '--admin-token',
      ADMIN_TOKEN,
      ...(o.args ?? []),
    ])
    // Every port the image exposes: podman lists them all in the container's port bindings, and
    // testcontainers waits until each of those is bound to a host port.
    .withExposedPorts(4000, 8080, 9090)
    // An HTTP wait: the default (listening ports) execs a shell in the container.
    .withWaitStrategy(Wait.forHttp(probe, 9090).forStatusCode(200).withStartupTimeout(30_000))
    .start()
  return followed(name, container, container.getMappedPort(8080), container.getMappedPort(9090))
}

async function followed(
  name: string,
  container: StartedTestContainer,
  http: number,
  admin: number,
): Promise<NodeContainer> {
  const lines: LogLine[] = []
  const waiters = new Set<() => void>()
  let buf = ''
  const stream = await container.logs()
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      try {
        lines.push(JSON.parse(buf.slice(0, nl)) as LogLine)
      } catch {}
      buf = buf.slice(nl + 1)
    }
    for (const w of waiters) w()
  })
  stream.on('error', () => {}) // the stream ends with an error when the container is killed
  const waitFor = async (predicate: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = lines.slice(from).find(predicate)
      if (hit) return hit
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${name}: timed out; last lines: ${JSON.stringify(lines.slice(-5))}`)
      await new Promise<void>((resolve) => {
        const done = () => {
          waiters.delete(done)
          clearTimeout(t)
          resolve()
        }
        const t = setTimeout(done, left)
        waiters.add(done)
      })
    }
  }
  return { name, container, http, admin, lines, waitFor }
}

/**
 * Builds an application image as a user does (examples/Dockerfile.app: FROM the node image, the
 * application copied into /apps/<app>), labelled so removeImages() finds it; returns its name.
 */
export function buildAppImage(appDir: string, app: string): string {
  const tag = `cattery-test-${app}:${process.pid}`
  const dockerfile = path.join(ROOT, 'examples/Dockerfile.app')
  execFileSync(
    ENGINE.CATTERY_ENGINE ?? 'podman',
    [
      'build',
      '--network',
      'host',
      '--build-arg',
      `CATTERY_IMAGE=${NODE_IMAGE}`,
      '--build-arg',
      `APP=${app}`,
      '--label',
      LABEL,
      '-f',
      dockerfile,
      '-t',
      tag,
      appDir,
    ],
    { env: { ...process.env, ...ENGINE }, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  return `${PREFIX}${tag}`
}

/** Removes the images buildAppImage made. */
export async function removeAppImages(): Promise<void> {
  const d = await docker()
  for (const i of await d.listImages({ filters: { label: [LABEL] } }))
    await d
      .getImage(i.Id)
      .remove({ force: true })
      .catch(() => {})
}

/** `podman kill -s SIGKILL`. */
export async function killContainer(c: StartedTestContainer): Promise<void> {
  await (await docker()).getContainer(c.getId()).kill({ signal: 'SIGKILL' })
}

/** `podman stop` (SIGTERM, SIGKILL after `graceSeconds`); resolves with the exit status. */
export async function stopContainer(c: StartedTestContainer, graceSeconds = 10): Promise<number> {
  const container = (await docker()).getContainer(c.getId())
  await container.stop({ t: graceSeconds })
  return (await container.inspect()).State.ExitCode
}

/** The operator image with a kubeconfig whose API cannot be reached; resolves once /healthz answers. */
export async function startOperatorContainer(): Promise<StartedTestContainer> {
  const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
`
  return new GenericContainer(OPERATOR_IMAGE)
    .withPullPolicy(PullPolicy.neverPull())
    .withLabels({ [LABEL]: 'true' })
    .withCopyContentToContainer([{ content: kubeconfig, target: '/tmp/kubeconfig', mode: 0o644 }])
    .withEnvironment({ KUBECONFIG: '/tmp/kubeconfig' })
    .withExposedPorts(8080, 8081)
    .withWaitStrategy(Wait.forHttp('/healthz', 8081).forStatusCode(200).withStartupTimeout(30_000))
    .start()
}
