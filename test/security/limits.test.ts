// The gateway's limits and defaults that protect it and its keys: a request that takes too
// long to arrive gets 408, an upstream whose TLS certificate does not verify is refused
// (verification is on by default), and an admin API on a non-loopback address without a
// token does not start. (Body size, header size and concurrency limits: gateway-http.test.ts.)
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttps } from 'node:https'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'

const run = promisify(execFile)
const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname
const HEADERS = { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07', 'api-key': 'k' }

/** Sends `parts` of one raw request on a new connection, waiting `gapMs` between them, and
 *  resolves with everything the server sent once it closes the connection. */
function rawExchange(port: number, parts: readonly string[], gapMs = 0): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', async () => {
      for (const [i, part] of parts.entries()) {
        // A client that sends its request in pieces: the gap creates the slow client, it is
        // not a wait for anything.
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs))
        socket.write(part)
      }
    })
    let text = ''
    socket.on('data', (d) => {
      text += d.toString()
      // One answer is all a test needs; a kept-alive connection would stay open.
      if (/\r\n\r\n/.test(text) && text.length >= headerEnd(text) + contentLength(text)) socket.end()
    })
    socket.on('close', () => resolve(text))
    socket.on('error', reject)
    setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer in 10 s: ${text}`))
    }, 10_000).unref()
  })
}
const headerEnd = (text: string) => text.indexOf('\r\n\r\n') + 4
const contentLength = (text: string) => Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? 0)

const QUERY_HEAD =
  'POST /query HTTP/1.1\r\nHost: gw\r\nApi-Key: k\r\nX-Pinecone-Api-Version: 2026-07\r\nContent-Type: application/json\r\n'

t.test('a request that does not arrive within requestTimeoutMs gets 408 in Pinecone shape', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: 'k', indexes: [{ name: 'idx', dimension: 2, metric: 'cosine' }] })
  const gw = await startTestGateway(t, {
    index: 'idx',
    host: emu.indexHost('idx'),
    controllerHost: emu.url,
    config: { 'gateway.limits.requestTimeoutMs': 1000, 'gateway.shutdownTimeoutMs': 1000 },
  })
  const port = Number(new URL(gw.url).port)
  const body = JSON.stringify({ vector: [1, 0], topK: 1 })
  // Not before the deadline: a slow client whose body comes in two pieces, well within it,
  // is served.
  const slow = await rawExchange(
    port,
    [`${QUERY_HEAD}Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`, body.slice(5)],
    300,
  )
  t.match(slow, /^HTTP\/1\.1 200 /, 'a request that arrives slowly but within the deadline is served')
  // Headers promise a body that never comes (a slow or stuck client, or a slowloris).
  const answer = await rawExchange(port, [`${QUERY_HEAD}Content-Length: 100\r\n\r\n{"vec`])
  t.match(answer, /^HTTP\/1\.1 408 /, 'one whose body never comes gets 408')
  t.match(JSON.parse(answer.slice(headerEnd(answer))), {
    code: 4,
    message: /not received in time/,
    details: [],
  })
  const ok = await request(`${gw.url}/query`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vector: [1, 0], topK: 1 }),
  })
  t.equal(ok.statusCode, 200, 'and the gateway serves the next request')
  await ok.body.dump()
})

t.test('upstream TLS is verified by default; tlsVerify: false is an explicit opt-out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-tls-'))
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
  ])
  // A self-signed "source" that answers every data-plane call.
  const server = createHttps(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"matches":[],"namespace":"","usage":{"readUnits":1}}')
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`

  const strict = await startTestGateway(t, { index: 'idx', host: base, controllerHost: base })
  const refused = await request(`${strict.url}/query`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vector: [1, 0], topK: 1 }),
  })
  t.equal(refused.statusCode, 502, 'a certificate that does not verify: 502')
  t.equal(refused.headers['x-vecshift-error'], 'VECSHIFT_ERR_UPSTREAM_TLS')
  t.match(await refused.body.json(), {
    message: /TLS certificate that does not verify \(DEPTH_ZERO_SELF_SIGNED_CERT\).*NODE_EXTRA_CA_CERTS/,
  })

  const lax = await startTestGateway(t, {
    index: 'idx',
    host: base,
    controllerHost: base,
    config: { source: { type: 'pinecone', index: 'idx', host: base, controllerHost: base, tlsVerify: false } },
  })
  const passed = await request(`${lax.url}/query`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vector: [1, 0], topK: 1 }),
  })
  t.equal(passed.statusCode, 200, 'with source.tlsVerify: false the same upstream is reached')
  await passed.body.dump()
})

t.test('the admin API on a non-loopback address without a token refuses to start, naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-admin-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: open-admin }',
      'source: { type: pinecone, index: idx, host: "http://127.0.0.1:9", controllerHost: "http://127.0.0.1:9" }',
      'gateway: { listen: { port: 0 } }',
      'admin: { listen: { host: 0.0.0.0, port: 0 } }',
      `control: { dir: "${join(dir, 'control')}" }`,
    ].join('\n'),
  )
  const env = { ...process.env }
  delete env.VECSHIFT_ADMIN_TOKEN
  const err = await run(process.execPath, [CLI, 'gateway', '--config', config], { env, timeout: 20_000 }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  )
  t.ok(err, 'the gateway does not start')
  t.not(err?.code, 0)
  t.match(err?.stderr, /admin\.listen\.host.*0\.0\.0\.0, not loopback, and VECSHIFT_ADMIN_TOKEN is not set/)
})
