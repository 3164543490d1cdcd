import { createServer } from 'node:net'

/** A loopback port where nothing listens (bound, then closed): connections are refused. */
export function closedPort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
    srv.once('error', reject)
  })
}
