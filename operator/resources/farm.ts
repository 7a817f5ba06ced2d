/**
 * The farm on Kubernetes (pure): spec.applications names ConfigMaps whose binaryData holds an
 * application archive; each is projected into every node's farm watch directory as `<name>.tgz`, so
 * each node's farm watcher deploys it through the farm (node/farm/). The operator needs no access to
 * the nodes, and the nodes need no access to the API for it:
 *
 *  - updating a ConfigMap's archive: the kubelet refreshes the projected file (within its sync
 *    period, about a minute), the watchers see it and the farm redeploys everywhere; no pod restarts;
 *  - deleting a ConfigMap: its source is optional, so the file goes away and the farm undeploys it;
 *  - adding or removing an entry of spec.applications changes the pod template: the pods roll (one at
 *    a time, each catching up on sessions and applications before it is ready).
 *
 * Every node also gets a writable emptyDir for the farm's deployDir and tempDir (the root filesystem
 * is read-only). A name listed twice is projected once (the first entry).
 */
import type { SessionCluster } from '../api/session-cluster.ts'

export const farmPaths = {
  watchDir: '/var/cattery/farm/watch',
  workDir: '/var/cattery/farm/work',
  deployDir: '/var/cattery/farm/work/deploy',
  tempDir: '/var/cattery/farm/work/temp',
} as const

/** The applications to project, one per name (the first entry of a name). */
export function farmApplications(sc: SessionCluster): SessionCluster['spec']['applications'] {
  const seen = new Set<string>()
  return sc.spec.applications.filter((a) => !seen.has(a.name) && seen.add(a.name))
}

/** The node configuration's `farm` key. */
export function farmConfig(sc: SessionCluster): Record<string, string> {
  return {
    ...(farmApplications(sc).length ? { watchDir: farmPaths.watchDir } : {}),
    deployDir: farmPaths.deployDir,
    tempDir: farmPaths.tempDir,
  }
}

/** The pod's farm volumes: the writable work directory, and the projected archives when there are any. */
export function farmVolumes(sc: SessionCluster): Array<Record<string, unknown>> {
  const apps = farmApplications(sc)
  return [
    { name: 'farm-work', emptyDir: {} },
    ...(apps.length
      ? [
          {
            name: 'farm-watch',
            projected: {
              sources: apps.map((a) => ({
                configMap: {
                  name: a.configMap,
                  optional: true,
                  items: [{ key: a.key, path: `${a.name}.tgz` }],
                },
              })),
            },
          },
        ]
      : []),
  ]
}

export function farmVolumeMounts(sc: SessionCluster): Array<Record<string, unknown>> {
  return [
    { name: 'farm-work', mountPath: farmPaths.workDir },
    ...(farmApplications(sc).length
      ? [{ name: 'farm-watch', mountPath: farmPaths.watchDir, readOnly: true }]
      : []),
  ]
}
