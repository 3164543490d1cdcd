import { startEmulator } from '../emulator/server.js'
import type { Logger } from '../logger.js'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../stores/pgvector/embedded.js'

// What the demo migrates between, all in this process on loopback ports: the Pinecone
// emulator (the pod-like source, created with it, and the serverless target the copy
// creates) and, with --target pgvector, Postgres + pgvector (src/stores/pgvector/embedded.ts).

export interface DemoPeers {
  readonly emulatorUrl: string
  indexHost(name: string): string
  /** PGlite's port, when started. */
  readonly pgPort: number
  close(): Promise<void>
}

export async function startDemoPeers(options: {
  apiKey: string
  logger: Logger
  pgvector: boolean
  source: { name: string; dimension: number }
}): Promise<DemoPeers> {
  // Pinecone takes a while to save a collection and restore an index from it; so does the
  // emulator, briefly, so that the copy's progress shows those steps.
  const emulator = await startEmulator({
    apiKey: options.apiKey,
    logger: options.logger,
    collectionDelayMs: 300,
    restoreDelayMs: 300,
    indexes: [{ name: options.source.name, dimension: options.source.dimension, metric: 'cosine', kind: 'pod' }],
  })
  let pg: EmbeddedPostgres | undefined
  try {
    if (options.pgvector) pg = await startEmbeddedPostgres()
  } catch (err) {
    await emulator.close()
    throw err
  }
  return {
    emulatorUrl: emulator.url,
    indexHost: (name) => emulator.indexHost(name),
    pgPort: pg?.port ?? 0,
    async close() {
      await pg?.close()
      await emulator.close()
    },
  }
}
