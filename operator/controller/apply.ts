/**
 * Writes to the API: owned objects by server-side apply under one field manager (forcing ownership of
 * the fields the operator sets, leaving others' fields alone), status through the status subresource.
 *
 * The apply body is the builders' JSON as it is. KubernetesObjectApi.patch passes it through the
 * client's typed serializer, which reads the client's own property names: a field the client renames
 * (a NetworkPolicy rule's `from` is its `_from`) was silently dropped, and the NetworkPolicy's rules
 * lost every peer restriction.
 */
import {
  CustomObjectsApi,
  HttpMethod,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node'
import {
  GROUP,
  PLURAL,
  type SessionCluster,
  type SessionClusterStatus,
  VERSION,
} from '../api/session-cluster.ts'

const FIELD_MANAGER = 'cattery-operator'

/** KubernetesObjectApi with a server-side apply that sends the object's JSON unchanged. */
class ObjectApplyApi extends KubernetesObjectApi {
  static override makeApiClient(kc: KubeConfig): ObjectApplyApi {
    const client = kc.makeApiClient(ObjectApplyApi)
    client.setDefaultNamespace(kc)
    return client
  }

  async applyJson(obj: KubernetesObject, fieldManager: string): Promise<void> {
    const ctx = this.configuration.baseServer.makeRequestContext(
      await this.specUriPath(obj, 'patch'),
      HttpMethod.PATCH,
    )
    ctx.setHeaderParam('Accept', 'application/json')
    ctx.setHeaderParam('Content-Type', PatchStrategy.ServerSideApply)
    ctx.setQueryParam('fieldManager', fieldManager)
    ctx.setQueryParam('force', 'true')
    ctx.setBody(JSON.stringify(obj))
    await this.requestPromise(ctx)
  }
}

export class Applier {
  readonly #objects: ObjectApplyApi
  readonly #custom: CustomObjectsApi

  constructor(kc: KubeConfig) {
    this.#objects = ObjectApplyApi.makeApiClient(kc)
    this.#custom = kc.makeApiClient(CustomObjectsApi)
  }

  async apply(obj: Record<string, unknown>): Promise<void> {
    await this.#objects.applyJson(obj as KubernetesObject, FIELD_MANAGER)
  }

  /** The object as the API has it now, or undefined when there is none. */
  async read(obj: Record<string, unknown>): Promise<KubernetesObject | undefined> {
    const meta = obj.metadata as { name: string; namespace: string }
    try {
      return await this.#objects.read({
        apiVersion: obj.apiVersion as string,
        kind: obj.kind as string,
        metadata: { name: meta.name, namespace: meta.namespace },
      })
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined
      throw err
    }
  }

  /** Creates the object; returns it as the API stored it. */
  async create(obj: Record<string, unknown>): Promise<KubernetesObject> {
    return await this.#objects.create(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER)
  }

  async delete(obj: KubernetesObject): Promise<void> {
    try {
      await this.#objects.delete(obj)
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err
    }
  }

  async writeStatus(sc: SessionCluster, status: SessionClusterStatus): Promise<void> {
    await this.#custom.patchNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: sc.metadata.namespace,
      name: sc.metadata.name,
      // A JSON patch replacing the whole status: lists (members, conditions) are replaced, not merged.
      body: [{ op: 'add', path: '/status', value: status }],
    })
  }
}

/** A short, readable message from an API error (the apiserver's own message when there is one). */
export function apiErrorMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string }
  let body = e.body
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body)
    } catch {}
  }
  const message = (body as { message?: string } | undefined)?.message
  return [e.code, message ?? e.message ?? String(err)].filter((x) => x !== undefined).join(': ')
}
