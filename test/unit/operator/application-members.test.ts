import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  converged,
  type PodFarm,
  podFarmOf,
  withMembers,
} from '../../../operator/controller/application-members.ts'

const D1 = 'a'.repeat(64)
const D2 = 'b'.repeat(64)

/** A node's /status as node/server/status.ts writes it (the farm part, what the prober reads). */
const nodeStatus = (name: string, applications: unknown[], refused: unknown[] = []) => ({
  name,
  ready: true,
  members: [],
  contexts: [],
  farm: { state: 'ready', since: 0, watchDir: '/w', transfers: 0, applications, refused },
})
const entry = (name: string, digest: string, members: string[], failures: unknown[] = []) => ({
  name,
  digest,
  size: 10,
  stamp: 1,
  origin: 'shop-0',
  members,
  failures,
})

describe('what a pod says it runs (podFarmOf)', () => {
  it('takes only what the node says of itself, and only applications of the spec', () => {
    const farm = podFarmOf(
      nodeStatus('shop-1', [
        entry('shop', D1, ['shop-0', 'shop-1']),
        // Another member's word is not taken: shop-1 is not listed for cart.
        entry('cart', D2, ['shop-0']),
        entry('other', D1, ['shop-1']),
      ]),
      ['shop', 'cart'],
    )
    assert.deepEqual(farm, { running: { shop: D1 }, failures: [] })
  })

  it('the failures of its own deploys, from the current entry and from refused archives', () => {
    const farm = podFarmOf(
      nodeStatus(
        'shop-1',
        [
          entry(
            'shop',
            D1,
            ['shop-0'],
            [
              { member: 'shop-1', code: 'CATTERY_ERR_APP_REGISTER_FAILED', reason: 'boom' },
              { member: 'shop-2', code: 'CATTERY_ERR_APP_REGISTER_FAILED', reason: 'not mine' },
            ],
          ),
        ],
        [
          {
            member: 'shop-1',
            name: 'cart',
            digest: D2,
            ok: false,
            code: 'CATTERY_ERR_X',
            reason: 'r'.repeat(1000),
          },
          { member: 'shop-1', name: 'shop', digest: null, ok: true, at: 1 },
        ],
      ),
      ['shop', 'cart'],
    ) as PodFarm
    assert.deepEqual(farm.running, {})
    assert.deepEqual(
      farm.failures.map((f) => [f.app, f.digest, f.code, f.reason.length]),
      [
        ['cart', D2, 'CATTERY_ERR_X', 200],
        ['shop', D1, 'CATTERY_ERR_APP_REGISTER_FAILED', 4],
      ],
    )
  })

  it('a node without a farm runs nothing; something that is not a node status is no answer', () => {
    assert.deepEqual(podFarmOf({ name: 'shop-0' }, ['shop']), { running: {}, failures: [] })
    for (const bad of [null, 'x', {}, { name: 3 }]) assert.equal(podFarmOf(bad, ['shop']), undefined)
    assert.deepEqual(podFarmOf(nodeStatus('shop-0', [{ name: 'shop' }, null, 'x']), ['shop']), {
      running: {},
      failures: [],
    })
  })
})

describe('status.applications with members (withMembers)', () => {
  const farm = (running: Record<string, string>, failures: PodFarm['failures'] = []): PodFarm => ({
    running,
    failures,
  })

  it('lists, by ordinal, the pods that run exactly the ConfigMap’s digest, and the failures of that digest', () => {
    const apps = [
      { name: 'shop', configMap: 'shop-app', digest: D2 },
      { name: 'cart', configMap: 'cart-app', problem: 'ConfigMap cart-app does not exist' },
    ]
    const rows = withMembers(apps, [
      { name: 'shop-0', farm: farm({ shop: D2 }) },
      { name: 'shop-1', farm: farm({ shop: D1 }, [{ app: 'shop', digest: D2, code: 'C', reason: 'boom' }]) },
      { name: 'shop-2', farm: undefined },
      { name: 'shop-10', farm: farm({ shop: D2 }, [{ app: 'shop', digest: D1, reason: 'old' }]) },
    ])
    assert.deepEqual(rows, [
      {
        name: 'shop',
        configMap: 'shop-app',
        digest: D2,
        members: ['shop-0', 'shop-10'],
        failures: [{ member: 'shop-1', code: 'C', reason: 'boom' }],
      },
      { name: 'cart', configMap: 'cart-app', problem: 'ConfigMap cart-app does not exist' },
    ])
  })

  it('lists at most 10 failing pods per application', () => {
    const pods = Array.from({ length: 20 }, (_, i) => ({
      name: `shop-${i}`,
      farm: farm({}, [{ app: 'shop', digest: D1, reason: 'boom' }]),
    }))
    const [row] = withMembers([{ name: 'shop', configMap: 'c', digest: D1 }], pods)
    assert.deepEqual(
      row?.failures?.map((f) => f.member),
      pods.slice(0, 10).map((p) => p.name),
    )
  })

  it('an application no pod runs yet has no members (shown, not left out)', () => {
    assert.deepEqual(withMembers([{ name: 'shop', configMap: 'c', digest: D1 }], []), [
      { name: 'shop', configMap: 'c', digest: D1, members: [] },
    ])
  })

  it('converged: every application with a digest runs it on every pod', () => {
    const apps = [{ name: 'shop', digest: D1 }, { name: 'cart' }]
    assert.equal(converged(apps, [{ name: 'shop-0', farm: farm({ shop: D1 }) }]), true)
    assert.equal(converged(apps, []), true)
    assert.equal(
      converged(apps, [
        { name: 'shop-0', farm: farm({ shop: D1 }) },
        { name: 'shop-1', farm: farm({ shop: D2 }) },
      ]),
      false,
    )
    assert.equal(converged(apps, [{ name: 'shop-0', farm: undefined }]), false)
  })
})
