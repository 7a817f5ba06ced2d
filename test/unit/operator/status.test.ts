import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type SessionCluster, withDefaults } from '../../../operator/api/session-cluster.ts'
import { computeStatus, type PodView, statusChanged } from '../../../operator/controller/status.ts'

const sc = (replicas: number, status?: SessionCluster['status']): SessionCluster => ({
  apiVersion: 'cattery.dev/v1alpha1',
  kind: 'SessionCluster',
  metadata: { name: 'shop', namespace: 'prod', generation: 2 },
  spec: withDefaults({ replicas }),
  ...(status ? { status } : {}),
})
const pod = (name: string, ip: string | undefined, ready: boolean, deleting = false): PodView => ({
  metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  status: { ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
})
const sts = (replicas: number, updated = replicas) => ({
  metadata: { generation: 3 },
  spec: { replicas },
  status: {
    observedGeneration: 3,
    replicas,
    updatedReplicas: updated,
    currentRevision: 'r1',
    updateRevision: 'r1',
  },
})
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions?.find((c) => c.type === type)
const now = new Date('2026-11-25T10:00:00Z')

describe('SessionCluster status', () => {
  const table: Array<
    [string, number, ReturnType<typeof sts> | undefined, PodView[], Record<string, string | undefined>]
  > = [
    [
      'nothing created yet',
      3,
      undefined,
      [],
      { Ready: 'False', Progressing: 'True', ScalingUp: 'True', ScalingDown: undefined },
    ],
    [
      'scaling up, one of three ready',
      3,
      sts(3, 1),
      [pod('shop-0', '10.0.0.1', true)],
      { Ready: 'False', Progressing: 'True', ScalingUp: 'True' },
    ],
    [
      'all ready and current',
      2,
      sts(2),
      [pod('shop-0', '10.0.0.1', true), pod('shop-1', '10.0.0.2', true)],
      {
        Ready: 'True',
        Progressing: 'False',
        Degraded: 'False',
        ScalingUp: undefined,
        ScalingDown: undefined,
      },
    ],
    [
      'scaling down',
      1,
      sts(1),
      [pod('shop-0', '10.0.0.1', true), pod('shop-1', '10.0.0.2', true)],
      { Ready: 'False', ScalingDown: 'True', ScalingUp: undefined },
    ],
  ]
  for (const [name, replicas, set, pods, want] of table) {
    it(name, () => {
      const s = computeStatus(sc(replicas), { ...(set ? { statefulSet: set } : {}), pods }, now)
      for (const [type, status] of Object.entries(want)) assert.equal(cond(s, type)?.status, status, type)
      assert.equal(s.observedGeneration, 2)
    })
  }

  it('members: pods with an address, by ordinal, with the replication port and readiness; deleting pods stay, not ready', () => {
    const s = computeStatus(
      sc(3),
      {
        statefulSet: sts(3),
        pods: [
          pod('shop-10', '10.0.0.9', false),
          pod('shop-2', '10.0.0.3', true),
          pod('shop-0', undefined, false),
          pod('shop-1', '10.0.0.2', true, true),
        ],
      },
      now,
    )
    assert.deepEqual(s.members, [
      { name: 'shop-1', podIP: '10.0.0.2', port: 4000, ready: false },
      { name: 'shop-2', podIP: '10.0.0.3', port: 4000, ready: true },
      { name: 'shop-10', podIP: '10.0.0.9', port: 4000, ready: false },
    ])
    assert.equal(s.replicas, 3)
    assert.equal(s.readyReplicas, 1)
  })

  it('an apply error makes the cluster Degraded with the message', () => {
    const s = computeStatus(
      sc(1),
      { statefulSet: sts(1), pods: [], error: 'applying Service shop: 422: bad port' },
      now,
    )
    assert.equal(cond(s, 'Degraded')?.status, 'True')
    assert.equal(cond(s, 'Degraded')?.message, 'applying Service shop: 422: bad port')
  })

  it('an unchanged cluster computes an identical status (nothing to write), transitions keep their time', () => {
    const seen = { statefulSet: sts(1), pods: [pod('shop-0', '10.0.0.1', true)] }
    const first = computeStatus(sc(1), seen, now)
    // As the API server returns it: keys sorted.
    const stored = JSON.parse(
      JSON.stringify(first, (_k, v) =>
        v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
      ),
    )
    const again = computeStatus(sc(1, stored), seen, new Date(now.getTime() + 60_000))
    assert.equal(statusChanged(stored, again), false)
    const lost = computeStatus(
      sc(1, stored),
      { ...seen, pods: [pod('shop-0', '10.0.0.1', false)] },
      new Date(now.getTime() + 60_000),
    )
    assert.equal(statusChanged(stored, lost), true)
    assert.notEqual(cond(lost, 'Ready')?.lastTransitionTime, cond(first, 'Ready')?.lastTransitionTime)
    assert.equal(cond(lost, 'Degraded')?.lastTransitionTime, cond(first, 'Degraded')?.lastTransitionTime)
  })
})

describe('SessionCluster status: applications', () => {
  it("lists each application's ConfigMap digest or problem, and a changed digest is a change to write", () => {
    const applications = [
      { name: 'shop', configMap: 'shop-app', digest: 'a'.repeat(64) },
      { name: 'cart', configMap: 'cart', problem: 'ConfigMap cart has no binaryData key app.tgz' },
    ]
    const seen = { statefulSet: sts(1), pods: [pod('shop-0', '10.0.0.1', true)], applications }
    const s = computeStatus(sc(1), seen, now)
    assert.deepEqual(s.applications, applications)
    assert.equal(statusChanged(s, computeStatus(sc(1), seen, now)), false)
    const next = computeStatus(
      sc(1),
      { ...seen, applications: [{ ...applications[0], digest: 'b'.repeat(64) } as (typeof applications)[0]] },
      now,
    )
    assert.equal(statusChanged(s, next), true)
    assert.equal(computeStatus(sc(1), { statefulSet: sts(1), pods: [] }, now).applications, undefined)
  })
})
