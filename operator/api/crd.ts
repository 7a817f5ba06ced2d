/**
 * Generates the CRD from the TypeBox schema: Kubernetes wants a structural OpenAPI schema, so unions
 * of literals become enums, integer-or-string unions x-kubernetes-int-or-string, free-form parts
 * x-kubernetes-preserve-unknown-fields, and `additionalProperties: false` is dropped (the API server
 * prunes unknown fields instead; the operator reports them). `node scripts/generate-crd.ts` writes it.
 */
import { stringify } from 'yaml'
import {
  GROUP,
  KIND,
  PLURAL,
  SessionClusterSpecSchema,
  SessionClusterStatusSchema,
  VERSION,
} from './session-cluster.ts'

type Json = Record<string, unknown>
const KEEP = [
  'description',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
]

/** A TypeBox (JSON) schema as a structural OpenAPI v3 schema. */
export function structural(schema: Json): Json {
  const out: Json = {}
  for (const k of KEEP) if (schema[k] !== undefined) out[k] = schema[k]
  // OpenAPI v3.0, which Kubernetes speaks: exclusiveMinimum is a flag on minimum.
  if (typeof schema.exclusiveMinimum === 'number') {
    out.minimum = schema.exclusiveMinimum
    out.exclusiveMinimum = true
  }
  if (typeof schema.allowed === 'string' && !out.description) out.description = `Allowed: ${schema.allowed}.`
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf as Json[]
    if (branches.every((b) => b.const !== undefined)) {
      return { ...out, type: typeof branches[0]?.const, enum: branches.map((b) => b.const) }
    }
    const types = new Set(branches.map((b) => b.type))
    if (types.size === 2 && types.has('integer') && types.has('string')) {
      return { ...out, 'x-kubernetes-int-or-string': true }
    }
    // A union of object shapes (interceptors): its `type` property is checked here, the rest by the node.
    const names = branches
      .map((b) => ((b.properties as Json)?.type as Json)?.const)
      .filter((x) => x !== undefined)
    return {
      ...out,
      type: 'object',
      required: ['type'],
      properties: { type: { type: 'string', enum: names } },
      'x-kubernetes-preserve-unknown-fields': true,
    }
  }
  if (schema.const !== undefined) return { ...out, type: typeof schema.const, enum: [schema.const] }
  switch (schema.type) {
    case 'object': {
      if (schema.properties) {
        const props: Json = {}
        for (const [k, v] of Object.entries(schema.properties as Json)) props[k] = structural(v as Json)
        const required = (schema.required as string[] | undefined)?.filter(
          (r) => !(schema.properties as Json)[r] || !('default' in ((schema.properties as Json)[r] as Json)),
        )
        return { ...out, type: 'object', properties: props, ...(required?.length ? { required } : {}) }
      }
      if (schema.patternProperties) {
        const value = Object.values(schema.patternProperties as Json)[0] as Json
        return { ...out, type: 'object', additionalProperties: structural(value) }
      }
      return { ...out, type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
    }
    case 'array':
      return { ...out, type: 'array', items: structural((schema.items as Json) ?? {}) }
    case 'integer':
    case 'number':
    case 'string':
    case 'boolean':
      return { ...out, type: schema.type }
    default:
      return { ...out, 'x-kubernetes-preserve-unknown-fields': true }
  }
}

export function sessionClusterCrd(): Json {
  const spec = structural(SessionClusterSpecSchema as unknown as Json)
  spec.description = 'Desired state of a cluster of Cattery nodes.'
  spec['x-kubernetes-validations'] = [
    {
      rule: "self.manager.type != 'standard' || self.replicas <= 1",
      message:
        'manager.type standard keeps each session on one node: use manager.type delta to replicate, or replicas 1',
    },
    {
      rule: "self.membership.type != 'multicast' || self.membership.dropTime > self.membership.frequency",
      message:
        'membership.dropTime must be longer than membership.frequency, or every member is dropped between heartbeats',
    },
  ]
  const status = structural(SessionClusterStatusSchema as unknown as Json)
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: 'sessioncluster',
        shortNames: ['scluster'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'A cluster of Cattery nodes that replicate HTTP sessions (Tomcat-style DeltaManager).',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: [
            { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
            { name: 'Manager', type: 'string', jsonPath: '.spec.manager.type' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  }
}

export function sessionClusterCrdYaml(): string {
  return `# Generated from operator/api by scripts/generate-crd.ts: do not edit.\n${stringify(sessionClusterCrd(), { lineWidth: 0 })}`
}
