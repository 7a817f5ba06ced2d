/**
 * A Tomcat 10.1 cluster for the peer benchmark (bench/peers.ts), as a Tomcat user would run it:
 * Debian's tomcat10 (installed with apt-get when missing), one CATALINA_BASE per node under a temp
 * directory, SimpleTcpCluster + DeltaManager with static membership on loopback (the HOW-TO's
 * settings: ReplicationValve, JvmRouteBinderValve, TcpFailureDetector, MessageDispatchInterceptor),
 * and the demo's endpoints as a servlet (tomcat/DemoServlet.java, compiled with javac once per source
 * into ~/.cache/cattery/bench/). With
 * `clustered: false` the same node runs without a Cluster element (Tomcat's own no-replication
 * figure). Logs go to each base's logs/ directory.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cachedBuild } from '../lib/build-cache.ts'
import { stopChild } from '../lib/processes.ts'

const HOME = '/usr/share/tomcat10'
const SOURCES = path.join(import.meta.dirname, 'tomcat')

export interface TomcatNode {
  name: string
  http: number
  /** The JVM's. */
  pid: number
}

export interface TomcatCluster {
  nodes: TomcatNode[]
  version: string
  stop(): Promise<void>
}

export interface TomcatClusterOptions {
  /** Free ports: one HTTP and one receiver port per node. */
  ports: Array<{ http: number; receiver: number }>
  clustered: boolean
  /** SimpleTcpCluster channelSendOptions (8 asynchronous, Tomcat's default; 6 synchronous with ACK). */
  channelSendOptions?: number
}

export function ensureTomcat(): void {
  if (spawnSync('test', ['-f', `${HOME}/bin/bootstrap.jar`]).status === 0) return
  console.error('installing Tomcat 10.1 (apt-get install -y --no-install-recommends tomcat10)')
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'tomcat10'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
}

let version: string | undefined

/** Tomcat's version (asked of a JVM once per run: each of the clusters reports it). */
export function tomcatVersion(): string {
  version ??=
    /Server number:\s*(\S+)/.exec(
      execFileSync('java', ['-cp', `${HOME}/lib/catalina.jar`, 'org.apache.catalina.util.ServerInfo'], {
        encoding: 'utf8',
      }),
    )?.[1] ?? 'unknown'
  return version
}

/** The servlet's classes, compiled once for its current source (bench/lib/build-cache.ts). */
function compile(): string {
  const source = path.join(SOURCES, 'DemoServlet.java')
  return cachedBuild('tomcat-servlet', [source], (out) => {
    execFileSync('javac', ['-cp', `${HOME}/lib/servlet-api.jar`, '-d', out, source])
  })
}

function serverXml(o: TomcatClusterOptions, i: number): string {
  const p = o.ports[i] as { http: number; receiver: number }
  const members = o.ports
    .map(
      (m, j) =>
        `          <Member className="org.apache.catalina.tribes.membership.StaticMember" host="127.0.0.1" port="${m.receiver}" uniqueId="{${Array(15).fill(0).join(',')},${j + 1}}"/>`,
    )
    .join('\n')
  const cluster = o.clustered
    ? `
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="${o.channelSendOptions ?? 8}">
        <Manager className="org.apache.catalina.ha.session.DeltaManager" expireSessionsOnShutdown="false" notifyListenersOnReplication="true"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.StaticMembershipService">
${members}
          </Membership>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver" address="127.0.0.1" port="${p.receiver}" autoBind="0" selectorTimeout="5000" maxThreads="6"/>
          <Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"/>
          </Sender>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor"/>
        </Channel>
        <Valve className="org.apache.catalina.ha.tcp.ReplicationValve" filter=""/>
        <Valve className="org.apache.catalina.ha.session.JvmRouteBinderValve"/>
        <ClusterListener className="org.apache.catalina.ha.session.ClusterSessionListener"/>
      </Cluster>`
    : ''
  return `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="${p.http}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000" maxKeepAliveRequests="-1"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="t${i + 1}">${cluster}
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
`
}

async function untilServing(port: number, child: ChildProcess, base: string): Promise<void> {
  const deadline = Date.now() + 180_000 // JVMs start slowly on a busy machine
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Tomcat exited (${child.exitCode}); see ${base}/logs`)
    const ok = await fetch(`http://127.0.0.1:${port}/demo/get`)
      .then((r) => r.ok)
      .catch(() => false)
    if (ok) return
    await sleep(200)
  }
  throw new Error(`Tomcat on port ${port} did not serve within 180 s; see ${base}/logs`)
}

export async function startTomcatCluster(o: TomcatClusterOptions): Promise<TomcatCluster> {
  ensureTomcat()
  const root = mkdtempSync(path.join(os.tmpdir(), 'cattery-bench-tomcat-'))
  const classes = compile()
  const children: ChildProcess[] = []
  const nodes: TomcatNode[] = []
  for (let i = 0; i < o.ports.length; i++) {
    const base = path.join(root, `t${i + 1}`)
    for (const d of ['conf', 'logs', 'temp', 'work', 'webapps/demo/WEB-INF/classes'])
      mkdirSync(path.join(base, d), { recursive: true })
    writeFileSync(path.join(base, 'conf/server.xml'), serverXml(o, i))
    for (const f of ['web.xml', 'catalina.properties', 'context.xml'])
      copyFileSync(path.join(HOME, 'etc', f), path.join(base, 'conf', f))
    // Warnings only: a line per request or per replication would cost the benchmark.
    writeFileSync(
      path.join(base, 'conf/logging.properties'),
      `handlers = java.util.logging.FileHandler\n.level = WARNING\njava.util.logging.FileHandler.pattern = ${base}/logs/tomcat.log\n`,
    )
    copyFileSync(path.join(SOURCES, 'web.xml'), path.join(base, 'webapps/demo/WEB-INF/web.xml'))
    copyFileSync(
      path.join(classes, 'DemoServlet.class'),
      path.join(base, 'webapps/demo/WEB-INF/classes/DemoServlet.class'),
    )
    const child = spawn(
      'java',
      [
        `-Dcatalina.home=${HOME}`,
        `-Dcatalina.base=${base}`,
        `-Djava.io.tmpdir=${base}/temp`,
        `-Djava.util.logging.config.file=${base}/conf/logging.properties`,
        '-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager',
        `-Dcattery.bench.node=t${i + 1}`,
        '-cp',
        `${HOME}/bin/bootstrap.jar:${HOME}/bin/tomcat-juli.jar`,
        'org.apache.catalina.startup.Bootstrap',
        'start',
      ],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    )
    children.push(child)
    const node = { name: `t${i + 1}`, http: (o.ports[i] as { http: number }).http, pid: child.pid as number }
    nodes.push(node)
    // One node after the other, as a cluster is rolled out: a DeltaManager that starts while its
    // peers are up but have not deployed the context yet asks them for the sessions and waits its
    // whole stateTransferTimeout (60 s) for an answer that never comes (67 s for three at once here).
    try {
      await untilServing(node.http, child, base)
    } catch (err) {
      for (const c of children) c.kill('SIGKILL')
      rmSync(root, { recursive: true, force: true })
      throw err
    }
  }
  return {
    nodes,
    version: tomcatVersion(),
    async stop() {
      await Promise.all(children.map((c) => stopChild(c)))
      rmSync(root, { recursive: true, force: true })
    },
  }
}
