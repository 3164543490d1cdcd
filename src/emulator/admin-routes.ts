// /_emulator/*: the emulator's own endpoints, for tests and benchmarks that run it in another
// process. They sit behind the same API key as everything else.
import type { FastifyInstance } from 'fastify'
import { ZodError } from 'zod'
import { controlError } from '../wire/pinecone/errors.js'
import type { FaultInjector, FaultRule } from './faults.js'
import type { RequestStats } from './request-stats.js'

export function registerAdminRoutes(app: FastifyInstance, faults: FaultInjector, stats: RequestStats): void {
  app.post('/_emulator/faults', async (req, reply) => {
    try {
      const id = faults.add(req.body as FaultRule)
      return reply.code(201).send({ id })
    } catch (err) {
      if (err instanceof ZodError) {
        throw controlError(
          400,
          'INVALID_ARGUMENT',
          `Invalid fault rule: ${err.issues.map((i) => `${i.path.join('.') || '(rule)'}: ${i.message}`).join('; ')}`,
        )
      }
      throw err
    }
  })

  app.get('/_emulator/faults', async () => ({
    faults: faults.list().map((f) => ({ ...f, remaining: Number.isFinite(f.remaining) ? f.remaining : null })),
  }))

  app.delete('/_emulator/faults', async () => {
    faults.clear()
    return {}
  })

  app.delete('/_emulator/faults/:id', async (req) => {
    const { id } = req.params as { id: string }
    if (!faults.remove(id)) throw controlError(404, 'NOT_FOUND', `Fault ${id} not found.`)
    return {}
  })

  app.get('/_emulator/stats', async () => stats.snapshot())

  app.delete('/_emulator/stats', async () => {
    stats.reset()
    return {}
  })
}
