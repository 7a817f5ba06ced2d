/**
 * The admin API of the farm (farm-war-deployer.ts), so a pipeline deploys without a shared
 * filesystem:
 *
 *   PUT /apps/<name>     the archive (.tgz) as the body, any content type; at most apps.maxArchiveBytes
 *                        (413 beyond, nothing kept; 413 too for an archive over another apps bound). Optional `x-cattery-sha256: <hex>`: an archive with
 *                        another SHA-256 is refused (422). 201 when the name is new, 200 when it replaced
 *                        (or already ran) that archive: { name, digest, created, changed }.
 *   DELETE /apps/<name>  undeploys it everywhere: 200 { name, undeployed: true }; 404 if the farm does
 *                        not hold it.
 *
 * Both need the admin token even on loopback (admin-auth.ts, `write`): deploying runs code. A refusal
 * answers { code, message } with the coded error of the refusal (the same every member reports).
 * The name is the application's (`shop#v2` is sent as `shop%23v2`).
 */
import type { FastifyInstance } from 'fastify'
import type { FarmWarDeployer } from '../farm/farm-war-deployer.ts'
import { CatteryError, codes } from '../tribes/errors.ts'

const STATUS: Record<string, number> = {
  [codes.APP_BAD_NAME]: 400,
  [codes.FARM_BAD_REQUEST]: 400,
  [codes.ARCHIVE_TOO_LARGE]: 413,
  [codes.APP_NOT_DEPLOYED]: 404,
  [codes.FARM_BUSY]: 503,
  [codes.FARM_TOO_MANY]: 409,
}

export function farmRoutes(farm: FarmWarDeployer, maxArchiveBytes: number) {
  return async (app: FastifyInstance) => {
    // The body is the archive: streamed to the farm's staging, whatever its content type says.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', (_req, payload, done) => done(null, payload))
    app.put<{ Params: { name: string }; Headers: { 'x-cattery-sha256'?: string } }>(
      '/apps/:name',
      async (req, reply) => {
        const { name } = req.params
        const declared = Number(req.headers['content-length'])
        if (declared > maxArchiveBytes)
          return refuse(
            reply,
            new CatteryError(
              codes.ARCHIVE_TOO_LARGE,
              `archive ${name}: ${declared} bytes, more than apps.maxArchiveBytes (${maxArchiveBytes})`,
            ),
          )
        const expected = req.headers['x-cattery-sha256']?.trim().toLowerCase()
        if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected))
          return refuse(
            reply,
            new CatteryError(codes.FARM_BAD_REQUEST, 'x-cattery-sha256 must be 64 hex digits (a SHA-256)'),
          )
        const body = req.body as NodeJS.ReadableStream | undefined
        if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function')
          return refuse(
            reply,
            new CatteryError(codes.FARM_BAD_REQUEST, `PUT /apps/${name} needs the archive as its body`),
          )
        try {
          const r = await farm.deploy(name, body, expected ? { expectedDigest: expected } : {})
          return reply.code(r.created ? 201 : 200).send(r)
        } catch (err) {
          return refuse(reply, err)
        }
      },
    )
    app.delete<{ Params: { name: string } }>('/apps/:name', async (req, reply) => {
      try {
        await farm.undeploy(req.params.name)
        return { name: req.params.name, undeployed: true }
      } catch (err) {
        return refuse(reply, err)
      }
    })
  }
}

function refuse(reply: { code(n: number): { send(b: unknown): unknown } }, err: unknown) {
  const e = err as Error & { code?: string }
  const code = e.code ?? 'CATTERY_ERR_INTERNAL'
  const status = STATUS[code] ?? (code.startsWith('CATTERY_ERR_') ? 422 : 500)
  return reply.code(status).send({ code, message: e.message })
}
