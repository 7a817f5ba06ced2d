import { CatteryError } from '../tribes/errors.ts'

export interface ConfigProblem {
  /** Dotted key, e.g. receiver.port. */
  key: string
  /** Where the value came from: --receiver-port, CATTERY_RECEIVER_PORT, config file x.yaml, default. */
  source: string
  value: unknown
  /** What is wrong / what is allowed. */
  problem: string
}

/** Every problem of a configuration at once, one line each (the CLI prints it and exits 2). */
export class ConfigError extends CatteryError {
  readonly problems: ConfigProblem[]
  constructor(problems: ConfigProblem[]) {
    const lines = problems.map(
      (p) =>
        `  ${p.key}${p.source ? ` (from ${p.source})` : ''}${p.value === undefined ? '' : ` = ${JSON.stringify(p.value)}`}: ${p.problem}`,
    )
    super('CATTERY_ERR_CONFIG', `invalid configuration:\n${lines.join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}
