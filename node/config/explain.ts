/** Turns ajv's errors into ConfigProblems that name the key, the value and what is allowed. */
import type { ErrorObject } from 'ajv'
import { INTERCEPTOR_TYPES } from '../tribes/interceptors/types.ts'
import type { ConfigProblem } from './errors.ts'

type Schema = Record<string, unknown>

export function explain(
  errors: ErrorObject[],
  root: unknown,
  sourceOf: (key: string) => string,
  validateItem: (schemaName: string, value: unknown, path: string) => ErrorObject[] | undefined,
): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  // Interceptor entries: a union of schemas gives one error per branch; check each entry against the
  // schema its `type` names instead, for one precise message.
  const items = new Set<string>()
  const rest: ErrorObject[] = []
  for (const e of errors) {
    const m = /^(\/channel\/interceptors\/\d+)(\/.*)?$/.exec(e.instancePath)
    if (m) items.add(m[1] as string)
    else rest.push(e)
  }
  for (const item of items) {
    const value = valueAt(root, item)
    const type = (value as { type?: unknown } | undefined)?.type
    const sub = typeof type === 'string' ? validateItem(type, value, item) : undefined
    if (sub) problems.push(...explainPlain(sub, root, sourceOf))
    else {
      const key = dotted(item)
      problems.push({
        key,
        source: sourceOf(key),
        value,
        problem: `must be an interceptor: a map whose type is one of ${INTERCEPTOR_TYPES.join(', ')}`,
      })
    }
  }
  problems.push(...explainPlain(rest, root, sourceOf))
  return problems
}

function explainPlain(
  errors: ErrorObject[],
  root: unknown,
  sourceOf: (key: string) => string,
): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const byPath = new Map<string, ErrorObject[]>()
  for (const e of errors) {
    const list = byPath.get(e.instancePath) ?? []
    list.push(e)
    byPath.set(e.instancePath, list)
  }
  for (const [path, list] of byPath) {
    const extra = list.filter((e) => e.keyword === 'additionalProperties')
    for (const e of extra) {
      const name = String(e.params.additionalProperty)
      const allowed = Object.keys(((e.parentSchema as Schema).properties as Schema) ?? {})
      const key = join(path, name)
      const hint = closest(name, allowed)
      problems.push({
        key,
        source: sourceOf(key),
        value: undefined,
        problem: `unknown key '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; allowed: ${allowed.join(', ')}`,
      })
    }
    if (extra.length) continue
    const key = dotted(path)
    const value = valueAt(root, path)
    const anyOf = list.find((e) => e.keyword === 'anyOf')
    const schema = (anyOf ?? list[0])?.parentSchema as Schema | undefined
    problems.push({ key, source: sourceOf(key), value, problem: `must be ${allowedBy(schema, list)}` })
  }
  return problems
}

/** What a schema allows, in words. */
function allowedBy(schema: Schema | undefined, errors: ErrorObject[]): string {
  if (!schema) return errors.map((e) => e.message).join('; ')
  if (typeof schema.allowed === 'string') return schema.allowed
  if (Array.isArray(schema.anyOf)) {
    const consts = (schema.anyOf as Schema[]).map((s) => s.const)
    if (consts.every((c) => c !== undefined)) return `one of ${consts.join(', ')}`
  }
  const type = schema.type
  if (type === 'integer' || type === 'number') {
    const noun = type === 'integer' ? 'an integer' : 'a number'
    const { minimum: min, maximum: max } = schema as { minimum?: number; maximum?: number }
    if (min !== undefined && max !== undefined) return `${noun} between ${min} and ${max}`
    if (min !== undefined) return `${noun} of at least ${min}`
    return noun
  }
  if (type === 'boolean') return 'true or false'
  if (type === 'array') return 'a list'
  if (type === 'object') return 'a map of keys'
  if (type === 'string') return schema.minLength ? 'a non-empty string' : 'a string'
  return errors.map((e) => e.message).join('; ')
}

const dotted = (path: string) =>
  path
    .split('/')
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : p))
    .join('.')
    .replace(/\.\[/g, '[')

const join = (path: string, name: string) => (path ? `${dotted(path)}.${name}` : name)

function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root
  for (const p of path.split('/').filter(Boolean)) v = (v as Record<string, unknown> | undefined)?.[p]
  return v
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase())
    if (d < bestD) {
      bestD = d
      best = c
    }
  }
  return best
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
      prev = tmp
    }
  }
  return row[b.length] as number
}
