// Postgres with pgvector for tests: PGlite (Postgres compiled to WASM) with the pgvector
// extension, served on a loopback port by pglite-socket, so the adapter talks to it with
// node-postgres over the normal wire protocol (docs/architecture.md, "Modules").
//
// PGlite is one database session: every connection to the socket server shares it. The
// adapter uses no session state, but tests give their pools one connection anyway, so that
// statements from two pool clients can never interleave inside the one session.
import { startEmbeddedPostgres } from '../../src/stores/pgvector/embedded.js'
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
  const pg = await startEmbeddedPostgres()
  t.teardown(() => pg.close())
  const { port } = pg
  return {
    host: pg.host,
    port,
    poolConfig: () => ({ host: pg.host, port, user: 'postgres', database: 'postgres', max: 1 }),
  }
}
