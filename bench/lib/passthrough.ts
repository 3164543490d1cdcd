// The smallest reasonable Node.js reverse proxy: node:http in, an undici Pool out, bodies
// streamed both ways, hop-by-hop headers dropped, nothing else (no framework, no metrics,
// no auth, no limits). `--baseline` adds it as a fourth target, to split the gateway's cost
// into what any Node.js proxy pays and what the gateway adds on top.
//
//   node --import tsx bench/lib/passthrough.ts http://127.0.0.1:PORT/data/INDEX
// prints {"msg":"gateway listening","url":...} when it listens; SIGTERM stops it.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool, type Dispatcher } from 'undici'

const upstream = new URL(process.argv[2] ?? '')
const basePath = upstream.pathname.replace(/\/+$/, '')
// Same pool settings as the gateway's defaults (gateway.upstream).
const pool = new Pool(upstream.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 })
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
])

function copyHeaders(
  from: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name in from) {
    const value = from[name]
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
  }
  return out
}

const server = createServer((req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  pool
    .request({
      method: req.method as Dispatcher.HttpMethod,
      path: basePath + (req.url ?? '/'),
      headers: copyHeaders(req.headers),
      body: hasBody ? req : null,
    })
    .then(
      (up) => {
        res.writeHead(up.statusCode, copyHeaders(up.headers))
        up.body.pipe(res)
      },
      (err: Error) => {
        res.writeHead(502, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ code: 14, message: err.message, details: [] }))
      },
    )
})
server.keepAliveTimeout = 72_000

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ msg: 'gateway listening', url: `http://127.0.0.1:${port}` })}\n`)
})
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close()
    server.closeAllConnections()
    void pool.close().finally(() => process.exit(0))
  })
}
