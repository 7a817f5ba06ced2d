import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { appSettings } from '../../../node/config/app-config.ts'
import { loadConfig } from '../../../node/config/load.ts'

const node = loadConfig({
  argv: ['--name', 'n1', '--receiver-host', '127.0.0.1', '--membership', 'static'],
  env: {},
}).config

const refusal = (field: unknown) => {
  try {
    appSettings('shop', field, node)
  } catch (err) {
    return err as Error & { code: string }
  }
  assert.fail('expected a refusal')
}

describe("an application's cattery settings", () => {
  it("are the node's where the application says nothing", () => {
    const s = appSettings('shop', undefined, node)
    assert.deepEqual(s.manager, node.manager)
    assert.deepEqual(s.session, node.session)
    assert.equal(s.sendOptions, 8)
    assert.equal(s.path, undefined)
  })

  it('override only the keys the application names', () => {
    const s = appSettings(
      'shop',
      {
        path: '/store',
        manager: { maxActiveSessions: 10 },
        session: { timeout: 5 },
        channel: { sendOptions: 'ack,sync' },
      },
      node,
    )
    assert.equal(s.manager.maxActiveSessions, 10)
    assert.equal(s.manager.type, node.manager.type)
    assert.equal(s.session.timeout, 5)
    assert.equal(s.session.maxAttributeSize, node.session.maxAttributeSize)
    assert.equal(s.sendOptions, 6)
    assert.equal(s.path, '/store')
  })

  it('are refused with a code naming the application and each bad key', () => {
    const e = refusal({ manager: { maxActiveSesions: 10, type: 'backupp' }, session: { timeout: 'long' } })
    assert.equal(e.code, 'CATTERY_ERR_APP_CONFIG')
    assert.match(e.message, /^application shop: invalid package.json/)
    assert.match(
      e.message,
      /cattery\.manager\.maxActiveSesions: unknown key .*did you mean 'maxActiveSessions'/,
    )
    assert.match(e.message, /cattery\.manager\.type = "backupp": must be one of delta, backup, standard/)
    assert.match(e.message, /cattery\.session\.timeout = "long"/)
  })

  it('refuse send options, filters and timeouts the node would refuse', () => {
    assert.match(refusal({ channel: { sendOptions: 'fast' } }).message, /cattery\.channel\.sendOptions/)
    assert.match(
      refusal({ manager: { sessionAttributeNameFilter: '(' } }).message,
      /cattery\.manager\.sessionAttributeNameFilter = "\(": not a regular expression/,
    )
    assert.match(
      refusal({ session: { timeout: 5000 } }).message,
      /cattery\.session\.timeout = 5000: must be at most/,
    )
    assert.match(
      refusal({ manager: { terminateOnStartFailure: 'yes', accessTimeout: -1 } }).message,
      /cattery\.manager\.terminateOnStartFailure = "yes"[\s\S]*cattery\.manager\.accessTimeout = -1/,
    )
  })

  it('refuse a field that is not a map, and a __proto__ key as unknown', () => {
    assert.match(refusal('yes').message, /cattery = "yes": must be a map of keys/)
    const e = refusal(JSON.parse('{"manager": {"__proto__": {"polluted": true}}}'))
    assert.match(e.message, /unknown key '__proto__'/)
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })
})
