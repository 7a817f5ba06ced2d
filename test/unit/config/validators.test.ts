import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { validatorSources } from '../../../scripts/lib/validator-source.ts'

const ROOT = path.resolve(import.meta.dirname, '../../..')

describe('config validators compiled ahead of time', () => {
  for (const [file, source] of Object.entries(validatorSources())) {
    it(`${file} is what the schemas compile to (run npm run generate)`, () => {
      assert.equal(readFileSync(path.join(ROOT, file), 'utf8'), source)
    })
  }
})
