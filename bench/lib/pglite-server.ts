// Postgres + pgvector for the copy benchmark: PGlite (Postgres in WASM) served on a loopback
// port by pglite-socket, in its own process so it has a core to itself rather than sharing
// the benchmark's event loop. Prints {"port":N} once it listens; SIGTERM stops it.
import type { AddressInfo } from 'node:net'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const db = await PGlite.create({ extensions: { vector } })
const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 })
await server.start()
const { port } = (server as unknown as { server: { address(): AddressInfo } }).server.address()
process.stdout.write(`${JSON.stringify({ port })}\n`)
const stop = async () => {
  await server.stop()
  await db.close()
  process.exit(0)
}
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())
