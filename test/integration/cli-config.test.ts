import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { MAIN } from '../helpers/node-process.ts'

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
})
