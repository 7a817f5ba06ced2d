/**
 * Writes crds/sessioncluster.yaml and the Helm chart's copy from operator/api (a test fails when
 * either is stale).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { sessionClusterCrdYaml } from '../operator/api/crd.ts'

for (const dir of ['../crds', '../charts/cattery-operator/crds']) {
  const file = path.resolve(import.meta.dirname, dir, 'sessioncluster.yaml')
  writeFileSync(file, sessionClusterCrdYaml())
  process.stdout.write(`wrote ${file}\n`)
}
