import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseOptions } from '../../../operator/options.ts'

describe('operator command line', () => {
  it('defaults: all namespaces, leader election on a 15 s lease, health :8081, metrics :8080', () => {
    const o = parseOptions([], {})
    assert.deepEqual(o.namespaces, [''])
    assert.equal(o.leaderElect, true)
    assert.equal(o.leaseDurationMs, 15_000)
    assert.deepEqual(o.healthAddress, { host: '0.0.0.0', port: 8081 })
    assert.deepEqual(o.metricsAddress, { host: '0.0.0.0', port: 8080 })
    assert.equal(o.leaderElectionNamespace, 'default')
  })

  it('namespaces from repeated or comma-separated flags, or the environment', () => {
    assert.deepEqual(parseOptions(['--namespace', 'a,b', '--namespace', 'c'], {}).namespaces, ['a', 'b', 'c'])
    assert.deepEqual(parseOptions([], { CATTERY_OPERATOR_NAMESPACES: 'x' }).namespaces, ['x'])
    assert.equal(parseOptions([], { POD_NAMESPACE: 'ops' }).leaderElectionNamespace, 'ops')
  })

  it('the operator’s own pods: POD_NAMESPACE and the pod selector, else none (on a host)', () => {
    const env = {
      POD_NAMESPACE: 'ops',
      CATTERY_OPERATOR_POD_SELECTOR: 'app.kubernetes.io/name=cattery-operator,app.kubernetes.io/instance=c',
    }
    assert.deepEqual(parseOptions([], env).operator, {
      namespace: 'ops',
      podLabels: { 'app.kubernetes.io/name': 'cattery-operator', 'app.kubernetes.io/instance': 'c' },
    })
    assert.deepEqual(parseOptions(['--operator-pod-selector', 'a=b'], { POD_NAMESPACE: 'x' }).operator, {
      namespace: 'x',
      podLabels: { a: 'b' },
    })
    assert.equal(parseOptions([], { CATTERY_OPERATOR_POD_SELECTOR: 'a=b' }).operator, undefined)
    assert.equal(parseOptions([], { POD_NAMESPACE: 'ops' }).operator, undefined)
  })

  const bad: Array<[string[], RegExp]> = [
    [['--bogus'], /bogus/],
    [['--leader-elect', 'yes'], /--leader-elect must be true or false, got "yes"/],
    [['--lease-duration', '0'], /--lease-duration must be a positive number/],
    [['--metrics-bind-address', 'nope'], /--metrics-bind-address must be HOST:PORT/],
    [['--log-level', 'loud'], /--log-level must be one of/],
    [['--lease-duration', '5', '--renew-deadline', '6'], /--renew-deadline must be shorter/],
    [['--operator-pod-selector', 'a'], /--operator-pod-selector must be KEY=VALUE/],
  ]
  for (const [argv, message] of bad) {
    it(`refuses ${argv.join(' ')} with a message naming it`, () => {
      assert.throws(
        () => parseOptions(argv, {}),
        (err: Error & { code?: string }) =>
          message.test(err.message) && err.code === 'CATTERY_ERR_OPERATOR_OPTIONS',
      )
    })
  }
})
