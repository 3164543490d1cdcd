import { Pinecone, type Index } from '@pinecone-database/pinecone'
import { request } from 'undici'
import { loadConfig } from '../config/load.js'
import { startEmulator } from '../emulator/server.js'
import { createLogger } from '../logger.js'
import { Gateway } from '../proxy/server.js'

// `vecshift demo`: everything on embedded defaults, in one process. An emulator holds a
// pod-like source index seeded with vectors in several namespaces; the gateway fronts it;
// a traffic generator drives the official SDK through the gateway and checks every answer
// against the index itself. This release's gateway runs in pass-through mode, so the demo
// shows that an app pointed at vecshift sees exactly what it saw before; later phases
// (capture, copy, replay, cutover) extend this same demo.

export interface DemoFlags {
  vectors: number
  seconds: number
  dimension: number
  keepRunning?: boolean
}

const NAMESPACES = ['', 'tenant-a', 'tenant-b']
const API_KEY = 'demo-key'

export async function runDemo(flags: DemoFlags): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`)
  const logger = createLogger({ level: 'warn', name: 'vecshift-demo' })
  const emulator = await startEmulator({ apiKey: API_KEY, logger })
  let gateway: Gateway | undefined
  try {
    await createPodIndex(emulator.url, 'demo-source', flags.dimension)
    say(`emulator     ${emulator.url}  (pod-like index demo-source, dimension ${flags.dimension})`)

    const source = new Pinecone({ apiKey: API_KEY, controllerHostUrl: emulator.url }).index({ host: emulator.indexHost('demo-source') })
    const seedStarted = Date.now()
    await seed(source, flags.vectors, flags.dimension)
    say(`seeded       ${flags.vectors} vectors in ${NAMESPACES.length} namespaces in ${Date.now() - seedStarted} ms`)

    const config = loadConfig({
      env: {},
      overrides: {
        migration: { id: 'demo' },
        source: { type: 'pinecone', index: 'demo-source', host: emulator.indexHost('demo-source'), controllerHost: emulator.url },
        'gateway.listen.port': 0,
        'admin.listen.port': 0,
        'log.level': 'warn',
      },
    })
    gateway = new Gateway(config, logger)
    const { url, adminUrl } = await gateway.listen()
    say(`gateway      ${url}  (admin ${adminUrl})`)

    // The app's only change: its controller host.
    const app = new Pinecone({ apiKey: API_KEY, controllerHostUrl: url }).index({ name: 'demo-source' })
    const result = await traffic(app, source, flags)
    const p = (q: number) => percentile(result.latencies, q).toFixed(1)
    say('')
    say(`traffic      ${result.ops} SDK calls through the gateway in ${flags.seconds} s ` +
      `(${result.queries} queries, ${result.upserts} upserts, ${result.fetches} fetches)`)
    say(`latency      p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`)
    say(`answers      ${result.identical} of ${result.compared} compared answers identical to the index's own`)
    say(`errors       ${result.errors} client errors`)
    if (result.errors > 0 || result.identical !== result.compared) process.exitCode = 1

    if (flags.keepRunning) {
      say('\nrunning; point an app at the gateway, Ctrl-C to stop')
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
    }
  } finally {
    await gateway?.close()
    await emulator.close()
  }
}

/** SDK v9 speaks API 2026-07, which cannot create pod-based indexes; the 2025-04 control
 *  plane can, as on Pinecone. */
async function createPodIndex(controller: string, name: string, dimension: number): Promise<void> {
  const res = await request(`${controller}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04', 'api-key': API_KEY },
    body: JSON.stringify({ name, dimension, metric: 'cosine', spec: { pod: { environment: 'us-east1-gcp', pod_type: 'p1.x1', pods: 1 } } }),
  })
  const text = await res.body.text()
  if (res.statusCode !== 201) throw new Error(`creating the demo index failed: ${res.statusCode} ${text}`)
}

function vector(dimension: number, seed: number): number[] {
  let x = seed * 2654435761 % 4294967296
  return Array.from({ length: dimension }, () => {
    x = (x * 1664525 + 1013904223) % 4294967296
    return x / 4294967296 - 0.5
  })
}

async function seed(index: Index, count: number, dimension: number): Promise<void> {
  const batch = 200
  for (let start = 0; start < count; start += batch) {
    const ns = NAMESPACES[(start / batch) % NAMESPACES.length] as string
    const records = Array.from({ length: Math.min(batch, count - start) }, (_, i) => ({
      id: `item-${start + i}`,
      values: vector(dimension, start + i),
      metadata: { category: ['books', 'music', 'film'][(start + i) % 3] as string, price: (start + i) % 100 },
    }))
    await index.namespace(ns).upsert({ records })
  }
}

interface TrafficResult {
  ops: number; queries: number; upserts: number; fetches: number
  errors: number; compared: number; identical: number; latencies: number[]
}

async function traffic(app: Index, source: Index, flags: DemoFlags): Promise<TrafficResult> {
  const r: TrafficResult = { ops: 0, queries: 0, upserts: 0, fetches: 0, errors: 0, compared: 0, identical: 0, latencies: [] }
  const until = Date.now() + flags.seconds * 1000
  let n = 0
  const worker = async () => {
    while (Date.now() < until) {
      const i = n++
      const ns = NAMESPACES[i % NAMESPACES.length] as string
      const started = performance.now()
      try {
        if (i % 5 === 0) {
          // Live writes go to their own namespace, so the comparisons below read a
          // namespace no other worker is changing at the same moment.
          const id = `live-${i}`
          await app.namespace('live').upsert({ records: [{ id, values: vector(flags.dimension, 1_000_000 + i), metadata: { category: 'live', price: i % 100 } }] })
          r.upserts++
          const via = await app.namespace('live').fetch({ ids: [id] })
          compare(r, via, await source.namespace('live').fetch({ ids: [id] }))
          if (via.records[id] === undefined) r.errors++
        } else if (i % 5 === 1) {
          const ids = [`item-${i % flags.vectors}`, `item-${(i * 7) % flags.vectors}`]
          const via = await app.namespace(ns).fetch({ ids })
          r.fetches++
          compare(r, via, await source.namespace(ns).fetch({ ids }))
        } else {
          const query = { vector: vector(flags.dimension, i), topK: 10, includeMetadata: true, filter: { price: { $lt: 50 } } }
          const via = await app.namespace(ns).query(query)
          r.queries++
          compare(r, via, await source.namespace(ns).query(query))
        }
        r.latencies.push(performance.now() - started)
      } catch {
        r.errors++
      }
      r.ops++
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  return r
}

function compare(r: TrafficResult, via: unknown, direct: unknown): void {
  r.compared++
  if (JSON.stringify(via) === JSON.stringify(direct)) r.identical++
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}
