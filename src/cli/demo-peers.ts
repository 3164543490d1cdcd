import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startEmulator } from '../emulator/server.js'
import type { Logger } from '../logger.js'

// What the demo migrates between, all in this process on loopback ports: the Pinecone
// emulator (the pod-like source, and the serverless target the copy creates) and, with
// --target pgvector, Postgres + pgvector as PGlite served over the wire protocol.

export interface DemoPeers {
  readonly emulatorUrl: string
  indexHost(name: string): string
  /** PGlite's port, when started. */
  readonly pgPort: number
  createPodIndex(name: string, dimension: number): Promise<void>
  close(): Promise<void>
}

export async function startDemoPeers(options: { apiKey: string; logger: Logger; pgvector: boolean }): Promise<DemoPeers> {
  // Pinecone takes a while to save a collection and restore an index from it; so does the
  // emulator, briefly, so that the copy's progress shows those steps.
  const emulator = await startEmulator({ apiKey: options.apiKey, logger: options.logger, collectionDelayMs: 300, restoreDelayMs: 300 })
  let pg: { port: number; close(): Promise<void> } | undefined
  try {
    if (options.pgvector) pg = await startPglite()
  } catch (err) {
    await emulator.close()
    throw err
  }
  return {
    emulatorUrl: emulator.url,
    indexHost: (name) => emulator.indexHost(name),
    pgPort: pg?.port ?? 0,
    async createPodIndex(name, dimension) {
      // SDK v9 speaks API 2026-07, which cannot create pod-based indexes; the 2025-04
      // control plane can, as on Pinecone.
      const res = await request(`${emulator.url}/indexes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04', 'api-key': options.apiKey },
        body: JSON.stringify({ name, dimension, metric: 'cosine', spec: { pod: { environment: 'us-east1-gcp', pod_type: 'p1.x1', pods: 1 } } }),
      })
      const text = await res.body.text()
      if (res.statusCode !== 201) throw new Error(`creating the demo index failed: ${res.statusCode} ${text}`)
    },
    async close() {
      await pg?.close()
      await emulator.close()
    },
  }
}

/** Loaded only with --target pgvector: PGlite's WASM build is large. */
async function startPglite(): Promise<{ port: number; close(): Promise<void> }> {
  const [{ PGlite }, { vector }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'), import('@electric-sql/pglite-pgvector'), import('@electric-sql/pglite-socket'),
  ])
  const db = await PGlite.create({ extensions: { vector } })
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 })
  await server.start()
  // pglite-socket does not expose its port; its net.Server does.
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  return {
    port,
    async close() {
      await server.stop()
      await db.close()
    },
  }
}
