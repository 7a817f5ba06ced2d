/**
 * Tomcat's FarmWarDeployer: an application archive deployed on any member — dropped into its
 * watchDir (watcher.ts, watched-deploys.ts) or uploaded through the admin API — runs on every member.
 *
 * The member it arrives on (the origin) stages it in tempDir with its SHA-256 (staging.ts), unpacks it
 * into deployDir and deploys it as a context first; an archive it refuses (corrupt, unsafe, too large,
 * a plugin that throws) goes nowhere, and the refusal is reported to every member. Then it announces
 * the deploy (name, digest, size, stamp; farm-state.ts) and sends the archive in chunks to every member
 * (archive-transfers.ts, archive-sender.ts). Each member stages and verifies it, unpacks it into
 * deployDir/<name>/<digest prefix> (a fresh directory renamed into place: farm-installer.ts and
 * node/deploy/archive.ts, with its bounds) and deploys it through Contexts.deploy (a redeploy keeps
 * the context's sessions and lets requests in flight finish). An undeploy is announced the same way
 * and undeploys everywhere.
 *
 * Convergence: entries merge by one rule on every member (farm-state.ts: newest stamp, then digest),
 * and members exchange their entries whenever one comes into the view (state-exchange.ts), so two
 * deploys of one name at once, or a member that missed a message, end with every member on the same
 * digest. A member that lacks an archive it should run fetches it from a member that has it.
 *
 * Catch-up: a member that starts asks a ready member for its entries and deploys them before it
 * reports ready (as state transfer does for sessions), for at most catchUpTimeoutMs; /status shows
 * what it waits for. Each member reports what it runs or why it could not (reports.ts), so every
 * member's /status lists, per application, its digest, the members that run it and the failures
 * (farm-status.ts).
 *
 * Deploys and undeploys on one member run one at a time (deploy-queue.ts: a queue of names, each at
 * most once: the latest entry of a name is what gets deployed). The farm keeps nothing across a
 * restart: a member that restarts gets the applications from its peers; a whole cluster that restarts
 * gets back those in the watch directories.
 */
import { createReadStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { NodeConfig } from '../config/schema.ts'
import type { ArchiveLimits } from '../deploy/archive.ts'
import { contextPathOf } from '../server/context-name.ts'
import type { Contexts } from '../server/contexts.ts'
import type { Channel, ChannelListener, ReceivedMessage } from '../tribes/channel-types.ts'
import { CatteryError, codes } from '../tribes/errors.ts'
import { describeMember, type Member, memberId } from '../tribes/member.ts'
import { ArchiveTransfers } from './archive-transfers.ts'
import { DeployQueue } from './deploy-queue.ts'
import { DeployReporter } from './deploy-reporter.ts'
import { FarmInstaller } from './farm-installer.ts'
import { type FarmEntry, FarmTable, type MergeOutcome, mergeOutcome } from './farm-state.ts'
import { type CatchUpStatus, type FarmStatus, farmStatusOf } from './farm-status.ts'
import { decodeChunk, isChunk } from './file-message.ts'
import { farmMessageOf, isFarmPayload } from './messages.ts'
import { FarmReports } from './reports.ts'
import { type Imported, Staging } from './staging.ts'
import { type FarmState, FarmStateExchange } from './state-exchange.ts'
import { WatchedDeploys } from './watched-deploys.ts'
import { WarWatcher } from './watcher.ts'

export type { FarmStatus } from './farm-status.ts'

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

export class FarmWarDeployer {
  readonly #o: FarmOptions
  readonly #name: string
  readonly #table = new FarmTable()
  readonly #reports = new FarmReports()
  readonly #staging: Staging
  readonly #installer: FarmInstaller
  readonly #reporter: DeployReporter
  readonly #transfers: ArchiveTransfers
  readonly #exchange: FarmStateExchange
  readonly #queue = new DeployQueue((name) => this.#realize(name))
  /** Archives an origin deploy is using (not pruned while it runs). */
  readonly #holding = new Set<string>()
  #status: CatchUpStatus = { state: 'starting', since: Date.now() }
  #watcher: WarWatcher | undefined
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
    const { config, contexts, deployDir, limits, logger, channel } = o
    this.#installer = new FarmInstaller({ config, contexts, deployDir, limits, logger })
    this.#reporter = new DeployReporter({ channel, logger, reports: this.#reports, member: this.#name })
    this.#transfers = new ArchiveTransfers({
      channel,
      logger,
      staging: this.#staging,
      sizeOf: (digest) => this.#table.all().find((e) => e.digest === digest)?.size,
      runners: (name, digest) =>
        this.#reports
          .of(name)
          .filter((r) => r.ok && r.digest === digest)
          .map((r) => r.member),
      stopped: () => this.#stopped,
    })
    this.#exchange = new FarmStateExchange({
      channel,
      logger,
      held: () => ({ entries: this.#table.all(), reports: this.#reports.all() }),
      merge: (state) => this.#mergeState(state),
    })
    this.#listener = {
      accept: (m) => isFarmPayload(m.payload) || isChunk(m.payload),
      messageReceived: (m) => this.#receive(m),
    }
    if (o.watchDir) {
      const watched = new WatchedDeploys({
        logger,
        deploy: (name, file, d) => this.deploy(name, file, d),
        undeploy: (name) => this.undeploy(name),
        current: (name) => this.#table.get(name)?.digest,
      })
      this.#watcher = new WarWatcher(o.watchDir, o.watchIntervalMs, (c) => watched.change(c), logger)
    }
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
    const { answered, asked } = await this.#exchange.askDonors({
      started,
      catchUpTimeoutMs: this.#o.catchUpTimeoutMs,
      stopped: () => this.#stopped,
      asking: (donor) => {
        this.#status.donor = describeMember(donor)
      },
    })
    if (!answered) this.#status.reason = asked ? 'no ready member answered' : 'no ready member to ask'
    const settled = await Promise.race([
      this.#queue.idle().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), Math.max(0, deadline - Date.now())).unref()),
    ])
    const missing = this.#table
      .live()
      .filter((e) => this.#installer.digestOf(e.name) !== e.digest)
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
      this.#reporter.report(name, null, err)
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
      await this.#queue.exclusive(async () => {
        try {
          await this.#installer.install(name, digest, file)
        } catch (err) {
          this.#reporter.report(name, digest, err)
          throw err
        }
        if (this.#table.merge(entry) === 'ignore') this.#queue.schedule(name)
        this.#reporter.report(name, digest)
      })
      await this.#transfers.announce(entry, this.#o.channel.members())
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
    this.#queue.schedule(name)
    await this.#queue.idle()
    await this.#transfers.announce(entry, this.#o.channel.members())
  }

  status(): FarmStatus {
    return farmStatusOf({
      catchUp: this.#status,
      watchDir: this.#o.watchDir,
      transfers: this.#staging.transfers,
      live: this.#table.live(),
      reports: this.#reports.all(),
    })
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#watcher?.stop()
    this.#o.channel.removeChannelListener(this.#listener)
    this.#o.channel.off('memberAdded', this.#onAdded)
    this.#o.channel.off('memberDisappeared', this.#onGone)
    this.#staging.close()
    await this.#queue.settled()
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
        return this.#exchange.send(m.from, message.request)
      case 'state':
        this.#exchange.received(message)
        return
      case 'fetch':
        void this.#transfers.give(m.from, message.digest)
        return
      case 'unavailable':
        this.#transfers.unavailable(message.digest, m.from)
        return
      case 'report':
        this.#reports.set(message.report)
        return
    }
  }

  /** An entry heard from `from`: merged; when it wins, its archive is expected from `from`. */
  #adopt(entry: FarmEntry, from: Member): void {
    if (this.#merge(entry) !== 'adopt') return
    this.#transfers.expect(entry, from)
    this.#queue.schedule(entry.name)
  }

  #mergeState(state: FarmState): void {
    for (const r of state.reports) if (r.member !== this.#name) this.#reports.set(r)
    for (const e of state.entries) if (this.#merge(e) === 'adopt') this.#queue.schedule(e.name)
  }

  /** Merges a heard entry; one the table refuses (CATTERY_ERR_FARM_TOO_MANY) is reported: undefined. */
  #merge(entry: FarmEntry): MergeOutcome | undefined {
    try {
      return this.#table.merge(entry)
    } catch (err) {
      this.#reporter.report(entry.name, entry.digest, err)
      return undefined
    }
  }

  #memberAdded(m: Member): void {
    // Both sides tell each other what they hold: a member that comes back converges.
    if (this.#status.state === 'ready') void this.#exchange.send(m, 0)
  }

  #memberGone(m: Member): void {
    this.#transfers.memberGone(m)
    this.#reports.dropMember(m.name)
  }

  // --- deploying on this member ----------------------------------------------------------------

  /** Makes this member run the current entry of `name` (deploy, redeploy or undeploy). */
  async #realize(name: string): Promise<void> {
    if (this.#stopped) return
    const entry = this.#table.get(name)
    try {
      if (!entry || entry.digest === null) {
        if (await this.#installer.uninstall(name)) this.#reporter.report(name, null)
        return
      }
      if (this.#installer.digestOf(name) === entry.digest) return
      const digest = entry.digest
      let file: string
      try {
        file = await this.#transfers.fetch(entry)
      } catch (err) {
        this.#reporter.report(name, digest, err)
        return
      }
      if (this.#table.get(name)?.digest !== digest) return // replaced meanwhile: scheduled again
      try {
        await this.#installer.install(name, digest, file)
        this.#reporter.report(name, digest)
      } catch (err) {
        this.#reporter.report(name, digest, err)
      }
    } finally {
      await this.#prune()
    }
  }

  /** Keeps the staged archives of the current applications only. */
  #prune(): Promise<void> {
    return this.#staging.prune(
      new Set([...this.#holding, ...this.#table.live().map((e) => e.digest as string)]),
    )
  }
}
