// Postgres with pgvector for tests: PGlite (Postgres compiled to WASM) with the pgvector
// extension, served on a loopback port by pglite-socket, so the adapter talks to it with
// node-postgres over the normal wire protocol (DESIGN.md, "Real peers in tests").
//
// PGlite is one database session: every connection to the socket server shares it. The
// adapter uses no session state, but tests give their pools one connection anyway, so that
// statements from two pool clients can never interleave inside the one session.
import type { AddressInfo } from 'node:net'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import type { PoolConfig } from 'pg'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestPostgres {
  readonly host: string
  readonly port: number
  /** Settings for a node-postgres pool (one connection, see above). */
  poolConfig(): PoolConfig
}

export async function startTestPostgres(t: Teardown): Promise<TestPostgres> {
  const db = await PGlite.create({ extensions: { vector } })
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 })
  await server.start()
  const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  t.teardown(async () => {
    await server.stop()
    await db.close()
  })
  return {
    host: '127.0.0.1',
    port,
    poolConfig: () => ({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 }),
  }
}
