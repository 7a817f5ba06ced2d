import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, it } from 'node:test'
import { parse, stringify } from 'yaml'
import { loadConfig } from '../../../node/config/load.ts'
import {
  type SessionCluster,
  type SessionClusterSpec,
  withDefaults,
} from '../../../operator/api/session-cluster.ts'
import { statefulSet } from '../../../operator/resources/build.ts'
import { farmPaths } from '../../../operator/resources/farm.ts'
import { nodeConfig } from '../../../operator/resources/node-config.ts'

const cluster = (spec: Partial<SessionClusterSpec> = {}): SessionCluster => ({
  apiVersion: 'cattery.dev/v1alpha1',
  kind: 'SessionCluster',
  metadata: { name: 'shop', namespace: 'prod', uid: 'u-1', generation: 1 },
  spec: withDefaults(spec),
})

// biome-ignore lint/suspicious/noExplicitAny: built objects are read freely
type Obj = Record<string, any>
const pod = (sc: SessionCluster) => (statefulSet(sc, { secretsChecksum: 'c' }) as Obj).spec.template.spec
const farmVolumes = (sc: SessionCluster) => pod(sc).volumes.filter((v: Obj) => v.name.startsWith('farm-'))
const farmMounts = (sc: SessionCluster) =>
  pod(sc).containers[0].volumeMounts.filter((m: Obj) => m.name.startsWith('farm-'))

describe('the farm of a SessionCluster (spec.applications)', () => {
  const table: Array<[string, Partial<SessionClusterSpec>, Obj[], Obj[], Obj]> = [
    [
      'no applications: a writable work directory only, nothing watched',
      {},
      [{ name: 'farm-work', emptyDir: {} }],
      [{ name: 'farm-work', mountPath: farmPaths.workDir }],
      { deployDir: farmPaths.deployDir, tempDir: farmPaths.tempDir },
    ],
    [
      "applications: each ConfigMap's key projected (optional) as <name>.tgz into the watch directory; a name listed twice once",
      {
        applications: [
          { name: 'shop', configMap: 'shop-app', key: 'app.tgz' },
          { name: 'cart#v2', configMap: 'cart', key: 'cart-2.0.0.tgz' },
          { name: 'shop', configMap: 'other', key: 'app.tgz' },
        ],
      },
      [
        { name: 'farm-work', emptyDir: {} },
        {
          name: 'farm-watch',
          projected: {
            sources: [
              {
                configMap: {
                  name: 'shop-app',
                  optional: true,
                  items: [{ key: 'app.tgz', path: 'shop.tgz' }],
                },
              },
              {
                configMap: {
                  name: 'cart',
                  optional: true,
                  items: [{ key: 'cart-2.0.0.tgz', path: 'cart#v2.tgz' }],
                },
              },
            ],
          },
        },
      ],
      [
        { name: 'farm-work', mountPath: farmPaths.workDir },
        { name: 'farm-watch', mountPath: farmPaths.watchDir, readOnly: true },
      ],
      { watchDir: farmPaths.watchDir, deployDir: farmPaths.deployDir, tempDir: farmPaths.tempDir },
    ],
  ]
  for (const [name, spec, volumes, mounts, config] of table)
    it(name, () => {
      const sc = cluster(spec)
      assert.deepEqual(farmVolumes(sc), volumes)
      assert.deepEqual(farmMounts(sc), mounts)
      assert.deepEqual(nodeConfig(sc).farm, config)
      // The node takes the rendered configuration.
      const yaml = stringify(nodeConfig(sc))
      const loaded = loadConfig({
        argv: ['--config', 'node.yaml', '--name', 'shop-0'],
        env: {
          CATTERY_CLUSTER_SECRET_FILE: '/s',
          CATTERY_CLUSTER: 'shop',
          CATTERY_NAMESPACE: 'prod',
          CATTERY_KUBERNETES_API: 'https://k:443',
        },
        readFile: (p) => (p === '/s' ? 's'.repeat(44) : yaml),
      })
      assert.equal(loaded.config.farm.deployDir, farmPaths.deployDir)
      assert.equal(loaded.config.farm.watchDir, config.watchDir)
    })

  it('defaults the ConfigMap key to app.tgz, and the CRD refuses a name that is not a context name', () => {
    assert.equal(
      withDefaults({ applications: [{ name: 'shop', configMap: 'c' } as never] }).applications[0]?.key,
      'app.tgz',
    )
    const crd = parse(
      readFileSync(path.resolve(import.meta.dirname, '../../../crds/sessioncluster.yaml'), 'utf8'),
    )
    const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties
    const pattern = new RegExp(spec.applications.items.properties.name.pattern)
    for (const ok of ['ROOT', 'shop', 'shop#v2']) assert.match(ok, pattern)
    for (const bad of ['../etc', 'a/b', '', 'shop#']) assert.doesNotMatch(bad, pattern)
  })
})
