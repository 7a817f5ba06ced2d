/**
 * This member's word on its own deploys (reports.ts): each outcome — it runs a digest, it runs none
 * (undeployed), or it could not deploy one, with the error's code (CATTERY_ERR_APP_REGISTER_FAILED
 * when it has none) and message — is kept with the farm's reports, logged when it is a failure
 * (farm-deploy-failed), and sent to every member without waiting for their ACK; a member that misses
 * it gets it with the state exchanged when it comes into the view.
 */
import type { Logger } from 'pino'
import type { Channel } from '../tribes/channel-types.ts'
import { codes } from '../tribes/errors.ts'
import { SendOption } from '../tribes/send-options.ts'
import { FARM_MESSAGE } from './messages.ts'
import type { FarmReport, FarmReports } from './reports.ts'

const ASYNC = SendOption.ASYNCHRONOUS

export interface DeployReporterOptions {
  channel: Channel
  logger: Logger
  reports: FarmReports
  /** This member's name. */
  member: string
}

export class DeployReporter {
  readonly #o: DeployReporterOptions

  constructor(o: DeployReporterOptions) {
    this.#o = o
  }

  /** This member runs `digest` of `name` (null: none), or, with `err`, could not deploy it. */
  report(name: string, digest: string | null, err?: unknown): void {
    const { channel, logger } = this.#o
    const e = err as (Error & { code?: string }) | undefined
    const report: FarmReport = {
      member: this.#o.member,
      name,
      digest,
      ok: !e,
      ...(e ? { code: e.code ?? codes.APP_REGISTER_FAILED, reason: e.message } : {}),
      at: Date.now(),
    }
    this.#o.reports.set(report)
    if (e)
      logger.error(
        { event: 'farm-deploy-failed', app: name, digest, code: report.code, reason: report.reason },
        'farm application not deployed on this member',
      )
    if (channel.started && channel.members().length)
      channel.send(channel.members(), { k: FARM_MESSAGE, type: 'report', report }, ASYNC).catch(() => {})
  }
}
