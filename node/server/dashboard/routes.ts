/**
 * The dashboard's routes on the admin server: the page's files (open: they hold no data; served with
 * a strict Content-Security-Policy) and /dashboard/events, the live feed, behind the admin token like
 * /status (the hook in admin.ts decides; admin-auth.ts). At MAX_STREAMS open feeds, another is
 * answered 503 CATTERY_ERR_DASHBOARD_BUSY with Retry-After. The page's session lookup uses the admin
 * server's own /sessions/<id> route, with its rules (values only with admin.showSessionValues).
 */
import type { FastifyInstance } from 'fastify'
import { codes } from '../../tribes/errors.ts'
import { DASHBOARD_CSP, dashboardFile, dashboardPaths } from './assets.ts'
import type { DashboardStreams } from './event-stream.ts'

export function dashboardRoutes(streams: DashboardStreams) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('preClose', async () => streams.closeAll())
    app.get('/dashboard', async (_req, reply) => reply.redirect('/dashboard/', 308))
    for (const path of dashboardPaths()) {
      app.get(path, async (_req, reply) => {
        const f = await dashboardFile(path)
        if (!f) return reply.code(404).send({ code: codes.ADMIN_NOT_FOUND, message: `no file ${path}` })
        return reply
          .type(f.type)
          .header('cache-control', 'no-cache')
          .header('content-security-policy', DASHBOARD_CSP)
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          .send(f.body)
      })
    }
    app.get('/dashboard/events', async (req, reply) => {
      // open() writes nothing when it refuses, so fastify can still answer; otherwise the stream is ours.
      if (!streams.open(reply.raw))
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({
            code: codes.DASHBOARD_BUSY,
            message: `${streams.maxStreams} dashboards are open on this node already (the bound); close one, or try again later`,
          })
      reply.hijack()
      req.raw.once('close', () => reply.raw.end())
    })
  }
}
