import type { AddressInfo } from 'node:net'

// Postgres with pgvector in this process: PGlite (Postgres compiled to WASM) with the
// pgvector extension, served on a loopback port by pglite-socket, so the adapter talks to
// it over the normal wire protocol. For the demo and the tests, never for real data.
// PGlite is one database session shared by every connection: pools should use one.

export interface EmbeddedPostgres {
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

/** Loaded on demand: PGlite's WASM build is large. */
export async function startEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  const [{ PGlite }, { vector }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite-pgvector'),
    import('@electric-sql/pglite-socket'),
  ])
  const db = await PGlite.create({ extensions: { vector } })
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 })
  await server.start()
  // pglite-socket does not expose its port; its net.Server does.
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  return {
    host: '127.0.0.1',
    port,
    async close() {
      await server.stop()
      await db.close()
    },
  }
}
