/** Writes crds/sessioncluster.yaml from operator/api (a test fails when the file is stale). */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { sessionClusterCrdYaml } from '../operator/api/crd.ts'

const file = path.resolve(import.meta.dirname, '../crds/sessioncluster.yaml')
writeFileSync(file, sessionClusterCrdYaml())
process.stdout.write(`wrote ${file}\n`)
