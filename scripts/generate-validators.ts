/**
 * Writes node/config/*.validators.ts: the config schemas compiled ahead of time by ajv (a unit test
 * fails when one is stale). Run after changing node/config/schema.ts.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { validatorSources } from './lib/validator-source.ts'

for (const [file, source] of Object.entries(validatorSources())) {
  writeFileSync(path.resolve(import.meta.dirname, '..', file), source)
  process.stdout.write(`wrote ${file}\n`)
}
