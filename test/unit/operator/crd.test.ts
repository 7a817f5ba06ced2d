import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { Type as T } from '@sinclair/typebox'
import { sessionClusterCrd, sessionClusterCrdYaml, structural } from '../../../operator/api/crd.ts'

const FILE = path.resolve(import.meta.dirname, '../../../crds/sessioncluster.yaml')
const CHART_FILE = path.resolve(
  import.meta.dirname,
  '../../../charts/cattery-operator/crds/sessioncluster.yaml',
)

describe('SessionCluster CRD', () => {
  it('crds/sessioncluster.yaml is what operator/api generates (run node scripts/generate-crd.ts)', () => {
    assert.equal(readFileSync(FILE, 'utf8'), sessionClusterCrdYaml())
  })

  it("the Helm chart's crds/ holds the same CRD (run node scripts/generate-crd.ts)", () => {
    assert.equal(readFileSync(CHART_FILE, 'utf8'), sessionClusterCrdYaml())
  })

  it('has the status and scale subresources and the printer columns', () => {
    const version = (sessionClusterCrd().spec as { versions: Array<Record<string, unknown>> })
      .versions[0] as Record<string, { status?: unknown; scale?: unknown } & Array<{ name: string }>>
    assert.deepEqual(version.subresources?.status, {})
    assert.deepEqual(version.subresources?.scale, {
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    })
    assert.deepEqual(
      (version.additionalPrinterColumns as Array<{ name: string }>).map((c) => c.name),
      ['Replicas', 'Ready', 'Manager', 'Age'],
    )
  })

  it('turns the schema into a structural one', () => {
    assert.deepEqual(structural(T.Union([T.Literal('a'), T.Literal('b')]) as never), {
      type: 'string',
      enum: ['a', 'b'],
    })
    assert.deepEqual(structural(T.Union([T.Integer(), T.String()]) as never), {
      'x-kubernetes-int-or-string': true,
    })
    assert.deepEqual(structural(T.Record(T.String(), T.String()) as never), {
      type: 'object',
      additionalProperties: { type: 'string' },
    })
    const obj = structural(
      T.Object({ a: T.Integer({ default: 1 }), b: T.String() }, { additionalProperties: false }) as never,
    )
    assert.deepEqual(obj, {
      type: 'object',
      properties: { a: { default: 1, type: 'integer' }, b: { type: 'string' } },
      required: ['b'],
    })
    assert.ok(!JSON.stringify(sessionClusterCrd()).includes('"additionalProperties":false'))
  })
})
