import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { MAIN } from '../helpers/node-process.ts'

const BUILT = path.resolve(import.meta.dirname, '../../dist/node/main.js')

const run = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 10_000 })

describe('cattery-node command line', () => {
  it('exits with status 2 and names the key, the value and what is allowed for a bad value', () => {
    const r = run('--receiver-port', 'abc')
    assert.equal(r.status, 2)
    assert.match(
      r.stderr,
      /receiver\.port \(from --receiver-port\) = "abc": must be an integer between 0 and 65535/,
    )
  })

  it('exits with status 2 for an unknown flag', () => {
    assert.equal(run('--no-such-flag').status, 2)
  })

  it('prints its flags with --help and its version with --version', () => {
    const help = run('--help')
    assert.equal(help.status, 0)
    assert.match(help.stdout, /--receiver-port\s+CATTERY_RECEIVER_PORT\s+receiver\.port/)
    assert.match(run('--version').stdout, /^\d+\.\d+\.\d+/)
  })

  it('runs as the built cattery-node binary of the package', () => {
    assert.ok(existsSync(BUILT), `${BUILT} is missing: run npm run build (make test does)`)
    const r = spawnSync(process.execPath, [BUILT, '--version'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^\d+\.\d+\.\d+/)
  })
})
