import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { Pool, request } from 'undici'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { LogStats } from '../../src/writelog/contract.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { DIM, malformedRequest, type MalformedRequest } from '../helpers/malformed-requests.js'

// Invariant 5: bad input is answered, not absorbed. A real `vecshift gateway` process in
// phase capture, with a file write log, in front of the emulator, takes a few thousand
// malformed requests (seeded: the seed is printed, FUZZ_SEED=<seed> repeats the run). Each
// must get a 4xx in Pinecone's error shape within a deadline, never a 5xx or silence; none
// may reach the write log or, for the write routes, the source; the gateway must then still
// serve the SDK; and its memory, read from its own /metrics after a forced full GC, must not
// grow with the number of requests.
//
// The gateway runs as a child process so that its memory is its own (an in-process gateway
// would share the heap with the emulator and this test) and so that a full GC can be forced
// in it (--expose-gc and test/helpers/gc-probe.mjs, on SIGUSR2).

const KEY = 'fuzz-key'
const WARMUP = 600
const ROUNDS = 3
const PER_ROUND = 1000
const CONCURRENCY = 8
/** Per request: an answer slower than this is a hang. */
const TIMEOUT_MS = 15_000
/** Heap used + external memory may grow this much over ROUNDS * PER_ROUND requests after
 *  the warm-up. Without a leak it grows well under 1 MB; a leak of 6 KB per request is 18 MB. */
const MAX_GROWTH_BYTES = 16 * 1024 * 1024
/** Resident memory is coarser (the allocator keeps pages), so its bound is looser. */
const MAX_RSS_GROWTH_BYTES = 96 * 1024 * 1024
const GC_PROBE = new URL('../helpers/gc-probe.mjs', import.meta.url).pathname
/** The emulator's operations that write (DELETE /namespaces/x counts as `namespaces`; no
 *  case here reads namespaces). */
const WRITE_OPS = ['upsert', 'update', 'delete', 'namespaces']

interface Answer {
  status?: number
  contentType?: string
  body?: string
  /** No answer: the error, or 'closed' when the server just hung up. */
  error?: string
  timedOut?: boolean
}

interface Failure {
  readonly i: number
  readonly kind: string
  readonly request: string
  readonly answer: string
}

t.test(
  'malformed requests in phase capture: Pinecone-shaped 4xx, nothing logged or forwarded, memory flat',
  async (t) => {
    const seed =
      process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31)
    t.comment(`fuzz seed ${seed} (repeat with FUZZ_SEED=${seed} npx tap test/proxy/fuzz.test.ts)`)

    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [{ name: 'fuzz', dimension: DIM, metric: 'dotproduct' }],
    })
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-fuzz-'))
    const logDir = join(dir, 'log')
    const configPath = join(dir, 'vecshift.yaml')
    writeFileSync(
      configPath,
      [
        'migration: { id: fuzz-test, phase: capture }',
        `source: { type: pinecone, index: fuzz, host: "${emu.indexHost('fuzz')}", controllerHost: "${emu.url}" }`,
        'gateway: { listen: { port: 0 }, shutdownTimeoutMs: 2000 }',
        'admin: { listen: { port: 0 } }',
        `writelog: { backend: file, file: { dir: "${logDir}" } }`,
        `control: { dir: "${join(dir, 'control')}" }`,
        `replay: { dataDir: "${join(dir, 'replay')}" }`,
      ].join('\n'),
    )
    const gw = await startGatewayProcess(t, {
      configPath,
      nodeArgs: ['--expose-gc', '--import', GC_PROBE],
      env: { VECSHIFT_SOURCE_API_KEY: KEY },
    })
    t.ok(gw.adminUrl, 'the admin port is up (for /metrics)')

    // A valid write first, so that the log has a head and a tail whose stillness means something.
    const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ host: gw.url })
    await index.upsert({ records: [{ id: 'before', values: Array.from({ length: DIM }, (_, i) => i + 1) }] })
    const logBefore = await logStats(logDir)
    t.equal(logBefore.records, 2, 'the valid upsert is logged (intent + outcome)')
    const opsBefore = writeOps(emu.stats().ops)

    const pool = new Pool(gw.url, { connections: CONCURRENCY, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
    t.teardown(() => pool.destroy())
    const failures = {
      hang: [] as Failure[],
      noAnswer: [] as Failure[],
      status: [] as Failure[],
      shape: [] as Failure[],
      httpShape: [] as Failure[],
    }
    const summary = new Map<string, Map<string, number>>()
    const kinds = new Map<string, string>()
    let sent = 0
    let bytesSent = 0

    const runBatch = async (from: number, to: number) => {
      let next = from
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < to) {
            const i = next++
            const req = malformedRequest(seed, i, KEY)
            kinds.set(`fuzz-${seed}-${i}`, req.kind)
            bytesSent +=
              req.raw?.length ?? (typeof req.body === 'string' ? Buffer.byteLength(req.body) : (req.body?.length ?? 0))
            const answer = req.raw ? await sendRaw(gw.url, req.raw, req.mayClose === true) : await send(pool, req)
            sent++
            judge(i, req, answer)
          }
        }),
      )
    }

    const judge = (i: number, req: MalformedRequest, a: Answer) => {
      const label = a.status !== undefined ? String(a.status) : a.timedOut ? 'timeout' : 'no answer'
      const perKind = summary.get(req.kind) ?? new Map<string, number>()
      perKind.set(label, (perKind.get(label) ?? 0) + 1)
      summary.set(req.kind, perKind)
      const f: Failure = {
        i,
        kind: req.kind,
        request: req.raw
          ? JSON.stringify(req.raw.subarray(0, 120).toString('latin1'))
          : `${req.method} ${req.path.slice(0, 120)}${req.body !== undefined ? ` ${String(req.body).slice(0, 160)}` : ''}`,
        answer:
          a.status !== undefined
            ? `${a.status} ${a.contentType ?? ''} ${(a.body ?? '').slice(0, 240)}`
            : `${label}: ${a.error ?? ''}`,
      }
      if (a.timedOut) {
        failures.hang.push(f)
        return
      }
      if (a.status === undefined) {
        // A client that hung up mid-body may be answered with silence; nobody else may.
        if (!(req.mayClose && a.error === 'closed')) failures.noAnswer.push(f)
        return
      }
      if (a.status < 400 || a.status >= 500) failures.status.push(f)
      // Requests HTTP itself refuses (raw.*) are answered before any route runs, by the
      // server's client-error handling: listed apart, as their fix is in another place.
      if (!pineconeShaped(a)) (req.raw ? failures.httpShape : failures.shape).push(f)
    }

    const memory = async () => {
      // The probe collects garbage in the gateway, then says so; /metrics is read after that.
      const done = gw.waitForLine((l) => l.msg === 'gc-probe', 10_000)
      gw.child.kill('SIGUSR2')
      const probe = await done
      if (probe.gc !== true) throw new Error('the gateway child has no global.gc (--expose-gc)')
      const res = await request(`${gw.adminUrl}/metrics`)
      const text = await res.body.text()
      return {
        heap: metric(text, 'vecshift_nodejs_heap_size_used_bytes'),
        external: metric(text, 'vecshift_nodejs_external_memory_bytes'),
        rss: metric(text, 'vecshift_process_resident_memory_bytes'),
      }
    }

    const started = Date.now()
    // The warm-up fills every cache that is meant to fill (compiled code, pools, the metric
    // label sets); growth after it is what the requests themselves leave behind.
    await runBatch(0, WARMUP)
    const baseline = await memory()
    t.ok(
      Number.isFinite(baseline.heap) && Number.isFinite(baseline.external) && Number.isFinite(baseline.rss),
      "the gateway's /metrics has the default process metrics (heap used, external, resident)",
    )
    const samples = [baseline]
    for (let round = 0; round < ROUNDS; round++) {
      const from = WARMUP + round * PER_ROUND
      await runBatch(from, from + PER_ROUND)
      samples.push(await memory())
    }
    const elapsed = Date.now() - started
    t.comment(
      `${sent} malformed requests (${(bytesSent / 1e6).toFixed(1)} MB) in ${elapsed} ms, ${CONCURRENCY} at a time`,
    )
    for (const [kind, counts] of [...summary].sort(([a], [b]) => (a < b ? -1 : 1))) {
      t.comment(`  ${kind.padEnd(28)} ${[...counts].map(([s, n]) => `${s}: ${n}`).join(', ')}`)
    }
    t.ok(sent >= 3000, `${sent} requests sent`)

    // Per kind: how many, and the first one (rebuild any case with malformedRequest(seed, i)).
    const report = (list: Failure[]) => {
      const byKind = new Map<string, Failure[]>()
      for (const f of list) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f])
      return [...byKind].map(
        ([kind, fs]) => `${kind} x${fs.length}, e.g. #${fs[0]?.i}: ${fs[0]?.request} -> ${fs[0]?.answer}`,
      )
    }
    t.same(report(failures.hang), [], `no request hung past ${TIMEOUT_MS} ms (${failures.hang.length})`)
    t.same(report(failures.noAnswer), [], `every request was answered (${failures.noAnswer.length} were not)`)
    t.same(
      report(failures.status),
      [],
      `every answer is a 4xx, never a 2xx or 5xx (${failures.status.length} were not)`,
    )
    t.same(
      report(failures.shape),
      [],
      `every error body is in Pinecone's data-plane shape {code,message,details} (${failures.shape.length} were not)`,
    )
    t.same(
      report(failures.httpShape),
      [],
      `so is the answer to a request HTTP refuses (bad request line or headers, oversize headers) (${failures.httpShape.length} were not)`,
    )

    // Nothing reached the log: its head and tail are where the valid upsert left them.
    const logAfter = await logStats(logDir)
    const opsAfter = writeOps(emu.stats().ops)
    const leaked = await appendedSince(logDir, logBefore.tail)
    const leakedKinds = new Map<string, string[]>()
    for (const r of leaked) {
      const kind = kinds.get(r.requestId) ?? 'not a fuzz case'
      leakedKinds.set(kind, [
        ...(leakedKinds.get(kind) ?? []),
        `${r.op} ns=${JSON.stringify(r.namespace)} ${r.requestId}`,
      ])
    }
    t.same(
      [...leakedKinds].map(([kind, rs]) => `${kind} x${rs.length}, e.g. ${rs.slice(0, 3).join('; ')}`),
      [],
      `no malformed request was logged (${leaked.length} records were)`,
    )
    t.same(
      { head: logAfter.head, tail: logAfter.tail, records: logAfter.records },
      { head: logBefore.head, tail: logBefore.tail, records: logBefore.records },
      "the write log's head and tail did not move",
    )
    t.same(opsAfter, opsBefore, 'no write reached the source')

    const growth = (s: { heap: number; external: number }) => s.heap + s.external - baseline.heap - baseline.external
    const last = samples.at(-1) as typeof baseline
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
    const rounds = samples.map((s) => `heap ${mb(s.heap)} + ext ${mb(s.external)}, rss ${mb(s.rss)}`)
    t.comment(`memory after GC, warm-up then each round: ${rounds.join(' | ')}`)
    t.ok(
      growth(last) < MAX_GROWTH_BYTES,
      `heap used + external grew ${mb(growth(last))} over ${ROUNDS * PER_ROUND} requests (bound ${mb(MAX_GROWTH_BYTES)})`,
    )
    t.ok(
      last.rss - baseline.rss < MAX_RSS_GROWTH_BYTES,
      `resident memory grew ${mb(last.rss - baseline.rss)} (bound ${mb(MAX_RSS_GROWTH_BYTES)})`,
    )

    // The gateway still serves the SDK, and a valid write is logged: the log checks above would
    // have seen one.
    const values = Array.from({ length: DIM }, (_, i) => DIM - i)
    await index.upsert({ records: [{ id: 'after', values, metadata: { fuzzed: true } }] })
    const answer = await index.query({ vector: values, topK: 1, includeMetadata: true })
    t.equal(answer.matches[0]?.id, 'after', 'a valid SDK upsert then query works after the fuzzing')
    t.equal((await logStats(logDir)).records, logAfter.records + 2, 'and the valid upsert is logged')
    t.equal(writeOps(emu.stats().ops).upsert, (opsAfter.upsert ?? 0) + 1, 'and forwarded')
    t.equal(gw.child.exitCode, null, 'the gateway process is still running')
    t.equal(gw.logs.filter((l) => (l.level as number) >= 50).length, 0, 'and logged no error')
  },
)

/** The answer Pinecone gives: `{"code":<int>,"message":"...","details":[]}` on the data
 *  plane, or the plain-text `Unauthorized` of a 401. */
/** Pinecone's data-plane error shape, its control-plane one (for /indexes/...), or its plain
 *  401 `Unauthorized`. */
function pineconeShaped(a: Answer): boolean {
  if (a.status === 401) return a.body === 'Unauthorized'
  if (!/^application\/json/.test(a.contentType ?? '')) return false
  try {
    const b = JSON.parse(a.body ?? '') as {
      code?: unknown
      message?: unknown
      details?: unknown
      error?: { code?: unknown; message?: unknown }
      status?: unknown
    }
    if (b.error !== undefined)
      return typeof b.error.code === 'string' && typeof b.error.message === 'string' && b.status === a.status
    return Number.isInteger(b.code) && typeof b.message === 'string' && Array.isArray(b.details)
  } catch {
    return false
  }
}

async function send(pool: Pool, req: MalformedRequest): Promise<Answer> {
  const body = req.body === undefined ? undefined : req.chunked ? Readable.from(chunks(req.body)) : req.body
  try {
    const res = await pool.request({
      method: req.method as 'POST',
      path: req.path,
      headers: req.headers,
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    const ct = res.headers['content-type']
    return { status: res.statusCode, contentType: Array.isArray(ct) ? ct[0] : ct, body: await res.body.text() }
  } catch (err) {
    const e = err as Error & { code?: string }
    const timedOut =
      e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT'
    return { error: `${e.code ?? e.name}: ${e.message}`, timedOut }
  }
}

async function* chunks(body: string | Buffer): AsyncGenerator<Buffer> {
  const b = Buffer.from(body)
  const cut = Math.floor(b.length / 2)
  yield b.subarray(0, cut)
  yield b.subarray(cut)
}

/** Writes `bytes` on a new connection and reads until the server closes it. */
function sendRaw(url: string, bytes: Buffer, halfClose: boolean): Promise<Answer> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    const received: Buffer[] = []
    let socketError: string | undefined
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ timedOut: true, error: 'no answer and the connection stayed open' })
    }, TIMEOUT_MS)
    socket.on('data', (c: Buffer) => received.push(c))
    // EPIPE / ECONNRESET once the server has answered and hung up: what it sent still counts.
    socket.on('error', (err: Error & { code?: string }) => {
      socketError = err.code ?? err.message
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(parseResponse(Buffer.concat(received), socketError))
    })
    socket.write(bytes)
    if (halfClose) socket.end()
  })
}

function parseResponse(received: Buffer, socketError: string | undefined): Answer {
  // Interim answers (100 Continue) come before the final one.
  let data = received
  while (/^HTTP\/1\.[01] 1\d\d /.test(data.toString('latin1', 0, 16))) {
    const end = data.indexOf('\r\n\r\n')
    if (end === -1) break
    data = data.subarray(end + 4)
  }
  const text = data.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
  if (end === -1 || !m)
    return {
      error:
        data.length === 0
          ? 'closed'
          : `unparseable answer (${socketError ?? 'closed'}): ${JSON.stringify(text.slice(0, 200))}`,
    }
  const headers = new Map<string, string>()
  for (const line of text.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  let body = data.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'))
  const length = headers.get('content-length')
  if (length !== undefined) body = body.subarray(0, Number(length))
  else if (headers.get('transfer-encoding') === 'chunked') body = dechunk(body)
  return { status: Number(m[1]), contentType: headers.get('content-type'), body: body.toString('utf8') }
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = b.indexOf('\r\n', at)
    if (eol === -1) break
    const size = parseInt(b.subarray(at, eol).toString('latin1'), 16)
    if (!(size > 0)) break
    out.push(b.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(out)
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)
  return m ? Number(m[1]) : NaN
}

function writeOps(ops: Record<string, number>): Record<string, number> {
  return Object.fromEntries(WRITE_OPS.map((op) => [op, ops[op] ?? 0]))
}

/** The log as a reader beside the gateway sees it (read-only: the gateway holds the lock). */
async function logStats(dir: string): Promise<LogStats> {
  const log = await openFileLog({ dir, readOnly: true })
  try {
    return await log.stats()
  } finally {
    await log.close()
  }
}

async function appendedSince(
  dir: string,
  after: string | undefined,
): Promise<Array<{ op: string; namespace: string; requestId: string }>> {
  const log = await openFileLog({ dir, readOnly: true })
  const out: Array<{ op: string; namespace: string; requestId: string }> = []
  try {
    for await (const { record } of log.read(after === undefined ? {} : { after }))
      out.push({ op: record.op, namespace: record.namespace, requestId: record.requestId })
  } finally {
    await log.close()
  }
  return out
}
