/**
 * Tomcat's FarmWarDeployer: an application archive deployed on any member — dropped into its
 * watchDir (watcher.ts) or uploaded through the admin API — runs on every member.
 *
 * The member it arrives on (the origin) stages it in tempDir with its SHA-256 (staging.ts), unpacks it
 * into deployDir and deploys it as a context first; an archive it refuses (corrupt, unsafe, too large,
 * a plugin that throws) goes nowhere, and the refusal is reported to every member. Then it announces
 * the deploy (name, digest, size, stamp; farm-state.ts) and sends the archive in chunks to every member
 * (archive-sender.ts). Each member stages and verifies it, unpacks it into
 * deployDir/<name>/<digest prefix> (a fresh directory renamed into place: node/deploy/archive.ts,
 * with its bounds) and deploys it through Contexts.deploy (a redeploy keeps the context's sessions
 * and lets requests in flight finish). An undeploy is announced the same way and undeploys everywhere.
 *
 * Convergence: entries merge by one rule on every member (farm-state.ts: newest stamp, then digest),
 * and members exchange their entries whenever one comes into the view, so two deploys of one name at
 * once, or a member that missed a message, end with every member on the same digest. A member that
 * lacks an archive it should run fetches it from a member that has it.
 *
 * Catch-up: a member that starts asks a ready member for its entries and deploys them before it
 * reports ready (as state transfer does for sessions), for at most catchUpTimeoutMs; /status shows
 * what it waits for. Each member reports what it runs or why it could not (reports.ts), so every
 * member's /status lists, per application, its digest, the members that run it and the failures.
 *
 * Deploys and undeploys on one member run one at a time (a queue of names, each at most once: the
 * latest entry of a name is what gets deployed). The farm keeps nothing across a restart: a member
 * that restarts gets the applications from its peers; a whole cluster that restarts gets back those
 * in the watch directories.
 */
import { createReadStream } from 'node:fs'
import { mkdir, rm, rmdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { NodeConfig } from '../config/schema.ts'
import { type ArchiveLimits, unpackArchive } from '../deploy/archive.ts'
import { readAppPackage } from '../server/app-package.ts'
import { contextPathOf } from '../server/context-name.ts'
import type { Contexts } from '../server/contexts.ts'
import { managerSettings } from '../server/manager-settings.ts'
import type { Channel, ChannelListener, ReceivedMessage } from '../tribes/channel-types.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { SendOption } from '../tribes/send-options.ts'
import { sendArchive } from './archive-sender.ts'
import { type FarmEntry, FarmTable, mergeOutcome } from './farm-state.ts'
import { chunkSizeFor, decodeChunk, isChunk } from './file-message.ts'
import { FARM_MESSAGE, type FarmMessage, farmMessageOf, isFarmPayload } from './messages.ts'
import { type FarmReport, FarmReports } from './reports.ts'
import { type Imported, Staging } from './staging.ts'
import { WarWatcher, type WatchChange } from './watcher.ts'

export interface FarmOptions {
  channel: Channel
  contexts: Contexts
  config: NodeConfig
  logger: Logger
  deployDir: string
  tempDir: string
  /** Watched when set (farm.watchDir with farm.watchEnabled). */
  watchDir?: string | undefined
  /** Between two looks at watchDir. */
  watchIntervalMs: number
  limits: ArchiveLimits
  /** How long a starting member waits for the cluster's applications before it reports ready. */
  catchUpTimeoutMs: number
  /** A transfer without a chunk for this long fails (10 s). */
  stallMs?: number
}

export interface DeployResult {
  name: string
  digest: string
  /** The name was not deployed before. */
  created: boolean
  /** False when the same archive was deployed already (nothing happened). */
  changed: boolean
}

/** The farm section of /status. */
export interface FarmStatus {
  state: 'starting' | 'catching-up' | 'ready'
  since: number
  donor?: string
  waitingFor?: string[]
  reason?: string
  watchDir: string | undefined
  transfers: number
  applications: Array<{
    name: string
    digest: string
    size: number
    stamp: number
    origin: string
    members: string[]
    failures: Array<{ member: string; code?: string; reason?: string }>
  }>
  /** Failed deploys of archives that are not (or no longer) an application's current one. */
  refused: FarmReport[]
}

/** A joiner waits this long for a donor's answer before it asks the next one. */
const STATE_ANSWER_MS = 5_000
/** A joiner asks round the ready members for their entries for at most this long. */
const STATE_WAIT_MS = 10_000
const ASYNC = SendOption.ASYNCHRONOUS
const ACKED = SendOption.USE_ACK | SendOption.SYNCHRONIZED_ACK

export class FarmWarDeployer {
  readonly #o: FarmOptions
  readonly #name: string
  readonly #table = new FarmTable()
  readonly #reports = new FarmReports()
  readonly #staging: Staging
  /** What this member runs from the farm, by name. */
  readonly #running = new Map<string, { digest: string; dir: string }>()
  readonly #pending = new Set<string>()
  /** Archives an origin deploy is using (not pruned while it runs). */
  readonly #holding = new Set<string>()
  #queue: Promise<void> = Promise.resolve()
  readonly #answers = new Map<number, (m: FarmMessage & { type: 'state' }) => void>()
  #requests = 0
  #status: Pick<FarmStatus, 'state' | 'since' | 'donor' | 'waitingFor' | 'reason'> = {
    state: 'starting',
    since: Date.now(),
  }
  #watcher: WarWatcher | undefined
  /** The digest each watched file held when it was deployed, by name. */
  readonly #watched = new Map<string, string>()
  readonly #listener: ChannelListener
  readonly #onAdded = (m: Member) => this.#memberAdded(m)
  readonly #onGone = (m: Member) => this.#memberGone(m)
  #stopped = false

  constructor(o: FarmOptions) {
    this.#o = o
    this.#name = o.config.name
    this.#staging = new Staging({
      dir: o.tempDir,
      maxArchiveBytes: o.limits.maxArchiveBytes,
      ...(o.stallMs ? { stallMs: o.stallMs } : {}),
    })
    this.#listener = {
      accept: (m) => isFarmPayload(m.payload) || isChunk(m.payload),
      messageReceived: (m) => this.#receive(m),
    }
    if (o.watchDir)
      this.#watcher = new WarWatcher(o.watchDir, o.watchIntervalMs, (c) => this.#watchChange(c), o.logger)
  }

  /** Prepares the directories and listens to the channel (before the channel starts). */
  async init(): Promise<void> {
    await mkdir(this.#o.deployDir, { recursive: true })
    await this.#staging.start()
    this.#o.channel.addChannelListener(this.#listener)
  }

  /**
   * The channel runs: gets the cluster's applications from a ready member and deploys them (at most
   * catchUpTimeoutMs), then takes the watch directory's archives. Resolves when this member may report
   * ready.
   */
  async catchUp(): Promise<void> {
    const { channel, logger } = this.#o
    channel.on('memberAdded', this.#onAdded)
    channel.on('memberDisappeared', this.#onGone)
    const started = Date.now()
    this.#status = { state: 'catching-up', since: started }
    const deadline = started + this.#o.catchUpTimeoutMs
    // A donor may not know this member for a moment after it starts (its view lags): ask round the
    // ready members until one answers, for at most STATE_WAIT_MS.
    let answered = false
    let asked = 0
    while (
      !answered &&
      !this.#stopped &&
      Date.now() - started < Math.min(STATE_WAIT_MS, this.#o.catchUpTimeoutMs)
    ) {
      const donors = channel
        .members()
        .filter((m) => m.ready)
        .sort((a, b) => a.startTime - b.startTime)
      if (donors.length === 0) break
      for (const donor of donors) {
        this.#status.donor = describeMember(donor)
        asked++
        const state = await this.#askState(donor)
        if (!state) continue
        this.#mergeState(state)
        answered = true
        break
      }
      if (!answered) await new Promise((r) => setTimeout(r, 100))
    }
    if (!answered) this.#status.reason = asked ? 'no ready member answered' : 'no ready member to ask'
    const settled = await Promise.race([
      this.#idle().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), Math.max(0, deadline - Date.now())).unref()),
    ])
    const missing = this.#table
      .live()
      .filter((e) => this.#running.get(e.name)?.digest !== e.digest)
      .map((e) => e.name)
    if (missing.length) {
      this.#status.waitingFor = missing
      logger.error(
        { event: 'farm-catch-up', code: codes.FARM_CATCH_UP_INCOMPLETE, missing, settled },
        settled
          ? 'some farm applications could not be deployed on this member (see /status farm)'
          : `the farm applications were not all deployed within ${this.#o.catchUpTimeoutMs} ms; reporting ready without them`,
      )
    } else if (answered)
      logger.info(
        { event: 'farm-caught-up', applications: this.#table.live().length, ms: Date.now() - started },
        'farm applications received',
      )
    if (this.#watcher) await this.#watcher.check()
    this.#status = { state: 'ready', since: Date.now(), ...(missing.length ? { waitingFor: missing } : {}) }
    this.#watcher?.start()
  }

  /**
   * Deploys the archive `input` as application `name` on every member. Resolves once this member runs
   * it and every member received it (their deploys are reported in /status); rejects with a coded error
   * when it is refused (nothing is deployed anywhere then). `expectedDigest`: refuse an archive whose
   * SHA-256 differs. `stamp`: deploy it only if it is newer than the cluster's entry (the watcher's
   * first look uses the file's modification time).
   */
  async deploy(
    name: string,
    input: NodeJS.ReadableStream | string,
    o: { expectedDigest?: string; stamp?: number } = {},
  ): Promise<DeployResult> {
    if (!contextPathOf(name))
      throw new CatteryError(
        codes.APP_BAD_NAME,
        `application ${name}: not a context name (ROOT, shop, shop#v2)`,
      )
    const stream = typeof input === 'string' ? createReadStream(input) : input
    let imported: Imported
    try {
      imported = await this.#staging.importStream(stream, name, o.expectedDigest)
    } catch (err) {
      // Refused before it has a digest to deploy under (not the one given, over a bound, unreadable).
      this.#report(name, null, err)
      throw err
    }
    const { digest, size, file } = imported
    this.#holding.add(digest)
    try {
      const before = this.#table.get(name)
      const created = !before || before.digest === null
      if (before?.digest === digest) return { name, digest, created: false, changed: false }
      const entry: FarmEntry = {
        name,
        digest,
        size,
        stamp: o.stamp ?? this.#table.nextStamp(name),
        origin: this.#name,
      }
      if (mergeOutcome(before, entry) !== 'adopt') {
        this.#o.logger.info(
          { event: 'farm-older', app: name, digest },
          'the watched archive is older than the deploy the cluster holds; not deployed',
        )
        return { name, digest, created: false, changed: false }
      }
      // This member first: what it refuses goes nowhere.
      await this.#exclusive(async () => {
        try {
          await this.#install(name, digest, file)
        } catch (err) {
          this.#report(name, digest, err)
          throw err
        }
        if (this.#table.merge(entry) === 'ignore') this.#schedule(name)
        this.#report(name, digest)
      })
      await this.#announce(entry, this.#o.channel.members())
      return { name, digest, created, changed: true }
    } finally {
      this.#holding.delete(digest)
      await this.#prune()
    }
  }

  /** Undeploys `name` on every member; rejects with CATTERY_ERR_APP_NOT_DEPLOYED when the farm does not hold it. */
  async undeploy(name: string): Promise<void> {
    const held = this.#table.get(name)
    if (!held || held.digest === null)
      throw new CatteryError(codes.APP_NOT_DEPLOYED, `application ${name} is not deployed by the farm`)
    const entry: FarmEntry = {
      name,
      digest: null,
      size: 0,
      stamp: this.#table.nextStamp(name),
      origin: this.#name,
    }
    this.#table.merge(entry)
    this.#schedule(name)
    await this.#idle()
    await this.#announce(entry, this.#o.channel.members())
  }

  status(): FarmStatus {
    const live = this.#table.live()
    const current = new Map(live.map((e) => [e.name, e.digest]))
    const reports = this.#reports.all()
    return {
      ...this.#status,
      watchDir: this.#o.watchDir,
      transfers: this.#staging.transfers,
      applications: live
        .map((e) => {
          const of = reports.filter((r) => r.name === e.name && r.digest === e.digest)
          return {
            name: e.name,
            digest: e.digest as string,
            size: e.size,
            stamp: e.stamp,
            origin: e.origin,
            members: of
              .filter((r) => r.ok)
              .map((r) => r.member)
              .sort(),
            failures: of.filter((r) => !r.ok).map(({ member, code, reason }) => ({ member, code, reason })),
          }
        })
        .sort((a, b) => a.name.localeCompare(b.name)),
      refused: reports.filter((r) => !r.ok && current.get(r.name) !== r.digest),
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#watcher?.stop()
    this.#o.channel.removeChannelListener(this.#listener)
    this.#o.channel.off('memberAdded', this.#onAdded)
    this.#o.channel.off('memberDisappeared', this.#onGone)
    this.#staging.close()
    await this.#queue
  }

  // --- receiving -------------------------------------------------------------------------------

  #receive(m: ReceivedMessage): Promise<void> | undefined {
    if (isChunk(m.payload)) return this.#staging.write(decodeChunk(m.payload), memberId(m.from))
    const message = farmMessageOf(m.payload)
    if (!message) {
      this.#o.logger.warn({ from: describeMember(m.from) }, 'a malformed farm message was dropped')
      return
    }
    switch (message.type) {
      case 'announce':
        this.#adopt(message.entry, m.from)
        return
      case 'state-request':
        return this.#sendState(m.from, message.request)
      case 'state': {
        const waiting = this.#answers.get(message.request)
        if (waiting) waiting(message)
        else this.#mergeState(message)
        return
      }
      case 'fetch':
        void this.#give(m.from, message.digest)
        return
      case 'unavailable':
        this.#staging.abort(message.digest, memberId(m.from), `${describeMember(m.from)} does not hold it`)
        return
      case 'report':
        this.#reports.set(message.report)
        return
    }
  }

  /** An entry heard from `from`: merged; when it wins, its archive is expected from `from`. */
  #adopt(entry: FarmEntry, from: Member): void {
    let outcome: ReturnType<FarmTable['merge']>
    try {
      outcome = this.#table.merge(entry)
    } catch (err) {
      this.#report(entry.name, entry.digest, err)
      return
    }
    if (outcome !== 'adopt') return
    if (entry.digest !== null && !this.#staging.staged(entry.digest))
      this.#staging.receive(entry.digest, entry.size, memberId(from)).catch(() => {})
    this.#schedule(entry.name)
  }

  #mergeState(state: FarmMessage & { type: 'state' }): void {
    for (const r of state.reports) if (r.member !== this.#name) this.#reports.set(r)
    for (const e of state.entries) {
      let outcome: ReturnType<FarmTable['merge']>
      try {
        outcome = this.#table.merge(e)
      } catch (err) {
        this.#report(e.name, e.digest, err)
        continue
      }
      if (outcome === 'adopt') this.#schedule(e.name)
    }
  }

  #askState(donor: Member): Promise<(FarmMessage & { type: 'state' }) | undefined> {
    const request = ++this.#requests
    return new Promise((resolve) => {
      const t = setTimeout(() => done(undefined), STATE_ANSWER_MS)
      const done = (m: (FarmMessage & { type: 'state' }) | undefined) => {
        clearTimeout(t)
        this.#answers.delete(request)
        resolve(m)
      }
      this.#answers.set(request, done)
      this.#o.channel
        .send(donor, { k: FARM_MESSAGE, type: 'state-request', request }, SendOption.USE_ACK)
        .catch((err) => {
          this.#o.logger.debug(
            { donor: describeMember(donor), err: (err as Error).message },
            'cannot ask for the farm state',
          )
          done(undefined)
        })
    })
  }

  #sendState(to: Member, request: number): Promise<void> {
    return this.#o.channel
      .send(
        to,
        { k: FARM_MESSAGE, type: 'state', request, entries: this.#table.all(), reports: this.#reports.all() },
        SendOption.USE_ACK,
      )
      .catch((err) =>
        this.#o.logger.warn(
          { to: describeMember(to), err: (err as Error).message },
          'cannot send the farm state',
        ),
      )
  }

  /** Sends the staged archive `digest` to `to`, or says it does not hold it. */
  async #give(to: Member, digest: string): Promise<void> {
    const file = this.#staging.staged(digest)
    const entry = this.#table.all().find((e) => e.digest === digest)
    if (!file || !entry) {
      await this.#o.channel
        .send(to, { k: FARM_MESSAGE, type: 'unavailable', digest }, SendOption.USE_ACK)
        .catch(() => {})
      return
    }
    const failed = await this.#send([to], file, digest, entry.size)
    if (failed.size)
      this.#o.logger.warn({ to: describeMember(to), digest }, 'could not send an archive to a member')
  }

  #memberAdded(m: Member): void {
    // Both sides tell each other what they hold: a member that comes back converges.
    if (this.#status.state === 'ready') void this.#sendState(m, 0)
  }

  #memberGone(m: Member): void {
    this.#staging.abortFrom(memberId(m), `${describeMember(m)} left`)
    this.#reports.dropMember(m.name)
  }

  // --- sending ---------------------------------------------------------------------------------

  /** Announces `entry` to `to` and, for a deploy, sends its archive; members that fail are logged. */
  async #announce(entry: FarmEntry, to: Member[]): Promise<void> {
    if (to.length === 0) return
    const { channel, logger } = this.#o
    const took: Member[] = []
    await Promise.all(
      to.map((m) =>
        channel.send(m, { k: FARM_MESSAGE, type: 'announce', entry }, ACKED).then(
          () => took.push(m),
          (err) =>
            logger.warn(
              {
                event: 'farm-announce-failed',
                app: entry.name,
                member: describeMember(m),
                err: (err as Error).message,
              },
              'a member did not take the farm announcement; it catches up when it comes back',
            ),
        ),
      ),
    )
    if (entry.digest === null || took.length === 0) return
    const file = this.#staging.staged(entry.digest)
    if (!file) return
    const failed = await this.#send(took, file, entry.digest, entry.size)
    for (const [m, err] of failed)
      logger.debug(
        { app: entry.name, member: describeMember(m), err: err.message },
        'archive not sent to a member',
      )
  }

  #send(to: Member[], file: string, digest: string, size: number) {
    return sendArchive({
      channel: this.#o.channel,
      to,
      file,
      digest,
      size,
      chunkSize: chunkSizeFor(this.#o.channel.maxFrameBytes),
    })
  }

  #report(name: string, digest: string | null, err?: unknown): void {
    const e = err as (Error & { code?: string }) | undefined
    const report: FarmReport = {
      member: this.#name,
      name,
      digest,
      ok: !e,
      ...(e ? { code: e.code ?? codes.APP_REGISTER_FAILED, reason: e.message } : {}),
      at: Date.now(),
    }
    this.#reports.set(report)
    if (e)
      this.#o.logger.error(
        { event: 'farm-deploy-failed', app: name, digest, code: report.code, reason: report.reason },
        'farm application not deployed on this member',
      )
    if (this.#o.channel.started && this.#o.channel.members().length)
      this.#o.channel
        .send(this.#o.channel.members(), { k: FARM_MESSAGE, type: 'report', report }, ASYNC)
        .catch(() => {})
  }

  // --- deploying on this member ----------------------------------------------------------------

  #schedule(name: string): void {
    if (this.#pending.has(name)) return
    this.#pending.add(name)
    void this.#exclusive(async () => {
      this.#pending.delete(name)
      await this.#realize(name)
    })
  }

  #exclusive(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task)
    this.#queue = run.catch(() => {})
    return run
  }

  /** Resolves once no deploy is queued or running. */
  async #idle(): Promise<void> {
    let seen: Promise<void> | undefined
    while (seen !== this.#queue) {
      seen = this.#queue
      await seen
    }
  }

  /** Makes this member run the current entry of `name` (deploy, redeploy or undeploy). */
  async #realize(name: string): Promise<void> {
    if (this.#stopped) return
    const entry = this.#table.get(name)
    const running = this.#running.get(name)
    try {
      if (!entry || entry.digest === null) {
        if (running) {
          await this.#o.contexts.undeploy(name).catch((err: Error & { code?: string }) => {
            if (err.code !== codes.APP_NOT_DEPLOYED) throw err
          })
          this.#running.delete(name)
          await rm(path.join(this.#o.deployDir, name), { recursive: true, force: true })
          this.#o.logger.info({ event: 'farm-undeployed', app: name }, 'farm application undeployed')
          this.#report(name, null)
        }
        return
      }
      if (running?.digest === entry.digest) return
      const digest = entry.digest
      let file: string
      try {
        file = await this.#acquire(entry)
      } catch (err) {
        this.#report(name, digest, err)
        return
      }
      if (this.#table.get(name)?.digest !== digest) return // replaced meanwhile: scheduled again
      try {
        await this.#install(name, digest, file)
        this.#report(name, digest)
      } catch (err) {
        this.#report(name, digest, err)
      }
    } finally {
      await this.#prune()
    }
  }

  /** The staged archive of `entry`: received already, being received, or fetched from a member that holds it. */
  async #acquire(entry: FarmEntry): Promise<string> {
    const digest = entry.digest as string
    const staged = this.#staging.staged(digest)
    if (staged) return staged
    const coming = this.#staging.receiving(digest)
    let last: unknown
    if (coming) {
      try {
        return await coming
      } catch (err) {
        last = err
      }
    }
    const { channel } = this.#o
    // Members said to hold it (they run it, or deployed it) first, then any ready member.
    const holders = new Set(
      this.#reports
        .of(entry.name)
        .filter((r) => r.ok && r.digest === digest)
        .map((r) => r.member),
    )
    holders.add(entry.origin)
    const members = channel.members()
    const candidates = [
      ...members.filter((m) => holders.has(m.name)),
      ...members.filter((m) => !holders.has(m.name) && m.ready),
    ]
    for (const m of candidates) {
      if (this.#stopped) break
      const done = this.#staging.receive(digest, entry.size, memberId(m))
      try {
        await channel.send(m, { k: FARM_MESSAGE, type: 'fetch', digest }, SendOption.USE_ACK)
        return await done
      } catch (err) {
        last = err
        this.#staging.abort(digest, memberId(m), 'the fetch failed')
        if ((err as { code?: string }).code === codes.FARM_DIGEST_MISMATCH) break
      }
    }
    if (last instanceof CatteryError && last.code !== codes.FARM_TRANSFER_FAILED) throw last
    throw new CatteryError(
      codes.FARM_TRANSFER_FAILED,
      `application ${entry.name}: the archive ${digest.slice(0, 12)} could not be received from any member${last ? ` (last: ${(last as Error).message})` : ''}`,
    )
  }

  /** Unpacks the staged archive and deploys it as the context `name` (a redeploy keeps its sessions). */
  async #install(name: string, digest: string, file: string): Promise<void> {
    const { config, contexts, deployDir, limits, logger } = this.#o
    const dir = path.join(deployDir, name, digest.slice(0, 16))
    const previous = this.#running.get(name)
    try {
      await mkdir(path.dirname(dir), { recursive: true })
      await unpackArchive(file, dir, limits, name)
      const app = await readAppPackage(name, dir, config)
      await contexts.deploy({
        name,
        path: app.path,
        settings: managerSettings(config.name, app.settings),
        cookie: { ...app.settings.session.cookie, path: app.settings.session.cookie.path ?? app.path },
        plugin: app.plugin,
        source: `farm ${digest.slice(0, 12)}`,
        version: app.version,
      })
    } catch (err) {
      if (previous?.dir !== dir) {
        await rm(dir, { recursive: true, force: true })
        if (!previous) await rmdir(path.dirname(dir)).catch(() => {})
      }
      throw err
    }
    this.#running.set(name, { digest, dir })
    if (previous && previous.dir !== dir) await rm(previous.dir, { recursive: true, force: true })
    logger.info({ event: 'farm-deployed', app: name, digest }, 'farm application deployed')
  }

  /** Keeps the staged archives of the current applications only. */
  #prune(): Promise<void> {
    return this.#staging.prune(
      new Set([...this.#holding, ...this.#table.live().map((e) => e.digest as string)]),
    )
  }

  // --- the watch directory ---------------------------------------------------------------------

  async #watchChange(c: WatchChange): Promise<void> {
    const { logger } = this.#o
    if (c.kind === 'removed') {
      const deployed = this.#watched.get(c.name)
      this.#watched.delete(c.name)
      if (!deployed || this.#table.get(c.name)?.digest !== deployed) return
      logger.info(
        { event: 'farm-watch-removed', app: c.name, file: c.file },
        'watched archive removed: undeploying',
      )
      await this.undeploy(c.name)
      return
    }
    logger.info(
      { event: 'farm-watch-change', app: c.name, file: c.file, kind: c.kind },
      'watched archive found',
    )
    const r = await this.deploy(c.name, c.file, c.initial ? { stamp: Math.floor(c.mtimeMs) } : {})
    this.#watched.set(c.name, r.digest)
  }
}
