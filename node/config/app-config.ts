/**
 * An application's own settings: the `cattery` field of its package.json, validated by the node's
 * schemas (ManagerSchema, SessionSchema, channel.sendOptions) on top of the node's values, so an
 * application says only what differs. Every problem is named by its key under `cattery.` and the
 * application, in one CatteryError (CATTERY_ERR_APP_CONFIG).
 */
import type { Static } from '@sinclair/typebox'
import type { ValidateFunction } from 'ajv'
import { CatteryError, codes } from '../tribes/errors.ts'
import { parseSendOptions } from '../tribes/send-options.ts'
import { validateAppConfig } from './app-config.validators.js'
import type { ConfigProblem } from './errors.ts'
import { explain } from './explain.ts'
import type { AppConfigSchema, NodeConfig } from './schema.ts'

export type AppConfig = Static<typeof AppConfigSchema>

export interface AppSettings {
  /** The `cattery.path` override, if any (checked by the caller against context-name.ts). */
  path: string | undefined
  manager: NodeConfig['manager']
  session: NodeConfig['session']
  sendOptions: number
}

// Compiled ahead of time (scripts/lib/validator-source.ts): with defaults filled in, nothing coerced.
const validate = validateAppConfig as ValidateFunction<AppConfig>

/** The settings of application `app` from its package.json's `cattery` field (undefined: none). */
export function appSettings(app: string, field: unknown, node: NodeConfig): AppSettings {
  return contextConfig(field, node, codes.APP_CONFIG, `application ${app}: invalid package.json`)
}

/**
 * `field` (keys as in the `cattery` field) over `base` (the node's settings; the schema's defaults
 * without one), validated; every problem in one CatteryError of `code` that starts with `what`.
 */
export function contextConfig(
  field: unknown,
  base: Pick<NodeConfig, 'manager' | 'session' | 'channel'> | undefined,
  code: string,
  what: string,
  prefix = 'cattery.',
): AppSettings {
  const fail = (problems: ConfigProblem[]) =>
    new CatteryError(
      code,
      `${what}:\n${problems.map((p) => `  ${p.key}${p.value === undefined ? '' : ` = ${JSON.stringify(p.value)}`}: ${p.problem}`).join('\n')}`,
    )
  if (field !== undefined && (typeof field !== 'object' || field === null || Array.isArray(field))) {
    throw fail([
      { key: prefix.slice(0, -1) || '(options)', source: '', value: field, problem: 'must be a map of keys' },
    ])
  }
  const merged: Record<string, unknown> = base
    ? {
        manager: structuredClone(base.manager),
        session: structuredClone(base.session),
        channel: { sendOptions: base.channel.sendOptions },
      }
    : {}
  merge(merged, (field ?? {}) as Record<string, unknown>)
  if (!validate(merged)) {
    const problems = explain(
      validate.errors ?? [],
      merged,
      () => '',
      () => undefined,
    )
    throw fail(problems.map((p) => ({ ...p, key: `${prefix}${p.key}` })))
  }
  const valid = merged as AppConfig
  const problems: ConfigProblem[] = []
  try {
    parseSendOptions(valid.manager.mapSendOptions)
  } catch (err) {
    problems.push(
      problem(`${prefix}manager.mapSendOptions`, valid.manager.mapSendOptions, (err as Error).message),
    )
  }
  let sendOptions = 8
  try {
    sendOptions = parseSendOptions(valid.channel.sendOptions)
  } catch (err) {
    problems.push(problem(`${prefix}channel.sendOptions`, valid.channel.sendOptions, (err as Error).message))
  }
  const filter = valid.manager.sessionAttributeNameFilter
  if (filter !== undefined) {
    try {
      new RegExp(filter)
    } catch (err) {
      problems.push(
        problem(
          `${prefix}manager.sessionAttributeNameFilter`,
          filter,
          `not a regular expression: ${(err as Error).message}`,
        ),
      )
    }
  }
  const { timeout, maxTimeout } = valid.session
  if (maxTimeout >= 0 && (timeout < 0 || timeout > maxTimeout)) {
    problems.push(
      problem(
        `${prefix}session.timeout`,
        timeout,
        `must be at most session.maxTimeout (${maxTimeout} minutes); -1 needs session.maxTimeout -1`,
      ),
    )
  }
  if (problems.length) throw fail(problems)
  return { path: valid.path, manager: valid.manager, session: valid.session, sendOptions }
}

const problem = (key: string, value: unknown, text: string): ConfigProblem => ({
  key,
  source: '',
  value,
  problem: text,
})

/** Copies `from` onto `target`, maps into maps; anything else replaces. */
function merge(target: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    // Own properties only: target['__proto__'] would be Object.prototype.
    const t = Object.hasOwn(target, k) ? target[k] : undefined
    if (v && typeof v === 'object' && !Array.isArray(v) && t && typeof t === 'object' && !Array.isArray(t)) {
      merge(t as Record<string, unknown>, v as Record<string, unknown>)
    } else {
      // An own property, even for '__proto__': the schema then names it as an unknown key.
      Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true })
    }
  }
}
