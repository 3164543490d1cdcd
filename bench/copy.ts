// npm run bench:copy — how fast `vecshift copy` moves an index, beside how fast the target
// can take the same records at all (its raw ingest rate), measured in the same run.
//
// Part "emulator": a source emulator holding N vectors (768-d, metadata) and a target
// emulator, each in its own process, as two Pinecone indexes are two services. Raw ingest:
// the benchmark upserts the same records straight into a fresh index of the target with the
// same batch size and concurrency (bodies assembled from pre-formatted values: the least
// client work possible). Copy: the real CLI (`vecshift copy`, a child process), whose memory
// is sampled throughout to show it stays flat as the target fills.
// Part "pgvector": the target is Postgres + pgvector (PGlite over its socket server, its own
// process). Raw ingest: the batched insert forms the adapter could use (a multi-row VALUES,
// which it uses, unnest arrays, a staging table merged with ON CONFLICT), the best of them
// at full size;
// then the copy from an emulator index into a table it creates (HNSW index built after).
// Part "clients": REST over undici (the adapter) against the official SDK, each moving the
// same records source -> target (fetch then upsert), alternated over rounds: the measurement
// behind the adapter's choice of REST.
//
// Part "settle": the cost of copying while writes are captured (docs/copy.md, "Copying while
// writes continue"): the same copy four ways side by side, each round on a fresh target —
// without a write log; the same while a steady stream of writes (by id and by filter) goes
// straight to the source (what the busy machine alone costs); capturing, with a replayer
// following and no writes; and with that stream through a capturing gateway, which the copy
// must settle (extra rounds for the batches the writes touch).
//
// Figures are medians where there are rounds; the machine is 2 cores and shared, so ratios
// in one run matter more than absolute rates.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Pinecone } from '@pinecone-database/pinecone'
import pg from 'pg'
import { Pool } from 'undici'
import { formatFloat32Array } from '../src/wire/pinecone/float32.js'
import { ReplayStatusFile } from '../src/replay/status.js'
import { PgvectorStore } from '../src/stores/pgvector/store.js'
import { PineconeStore } from '../src/stores/pinecone/store.js'
import { prng } from '../test/helpers/prng.js'
import { Processes, treeCpuMs, type Child } from './lib/procs.js'
import { median, round } from './lib/stats.js'
import { cliCommand, REPO, startEmulator, type RunningEmulator } from './lib/vecshift.js'

const { values: args } = parseArgs({
  options: {
    vectors: { type: 'string', default: '100000' },
    'pg-vectors': { type: 'string', default: '20000' },
    dimension: { type: 'string', default: '768' },
    concurrency: { type: 'string', default: '4' },
    'batch-size': { type: 'string', default: '200' },
    'pg-batch-size': { type: 'string', default: '500' },
    part: { type: 'string', default: 'emulator,pgvector,clients,settle' },
    'settle-vectors': { type: 'string', default: '20000' },
    'settle-writes': { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write(`npm run bench:copy -- [options]

  --vectors N         records in the emulator source (default 100000)
  --pg-vectors N      records copied into pgvector (default 20000: PGlite is Postgres compiled
                      to WASM, one session, about 500 rows/s of 768-d vectors)
  --dimension D       default 768
  --concurrency C     batches in flight, copy and raw alike (default 4)
  --batch-size B      vectors per request to the emulator (default 200)
  --pg-batch-size B   rows per insert into pgvector (default 500)
  --part LIST         emulator,pgvector,clients,settle (default all)
  --rounds R          rounds of the clients and settle parts (default 3)
  --settle-vectors N  records copied in each run of the settle part (default 20000)
  --settle-writes W   writes per second through the gateway during its last variant (default 200)
  --quick             10,000 / 2,000 vectors, 1 round (writes bench/results/copy-partial.tmp)
  --profile DIR       run each vecshift copy with --cpu-prof, profiles written to DIR
`)
  process.exit(0)
}

const positive = (name: string, value: string | undefined): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: ${value} is not a positive integer`)
  return n
}
const quick = args.quick ?? false
const N = quick ? 10_000 : positive('vectors', args.vectors)
const PG_N = quick ? 2_000 : positive('pg-vectors', args['pg-vectors'])
const DIM = positive('dimension', args.dimension)
const CONCURRENCY = positive('concurrency', args.concurrency)
const BATCH = positive('batch-size', args['batch-size'])
const PG_BATCH = positive('pg-batch-size', args['pg-batch-size'])
const ROUNDS = quick ? 1 : positive('rounds', args.rounds)
const SETTLE_N = quick ? 5_000 : positive('settle-vectors', args['settle-vectors'])
const SETTLE_W = positive('settle-writes', args['settle-writes'])
const PARTS = new Set(
  (args.part ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean),
)
for (const p of PARTS)
  if (!['emulator', 'pgvector', 'clients', 'settle'].includes(p)) throw new Error(`--part: unknown part ${p}`)
const GOAL = { copyVsRaw: 0.8, memoryGrowth: 1.25 } as const

const API_KEY_ENV = 'VECSHIFT_BENCH_API_KEY'
const API_KEY = 'bench-copy-key'
const POOL_SIZE = 2_000
const log = (m: string) => process.stderr.write(`bench: ${m}\n`)

// Records: POOL_SIZE distinct vectors (formatted once as float32 text, which is JSON and
// pgvector's text form alike), reused under distinct ids, with a little metadata.
const valueText: string[] = []
{
  const rnd = prng(42)
  for (let i = 0; i < POOL_SIZE; i++)
    valueText.push(formatFloat32Array(Float32Array.from({ length: DIM }, () => rnd() * 2 - 1)))
}
const idOf = (i: number) => `doc-${String(i).padStart(7, '0')}`
const metaOf = (i: number) => `{"i":${i},"genre":"g${i % 5}","title":"record ${i}"}`
const recordJson = (i: number) =>
  `{"id":"${idOf(i)}","values":${valueText[i % POOL_SIZE] as string},"metadata":${metaOf(i)}}`

interface Http {
  post(path: string, body: string): Promise<{ status: number; text: string }>
  close(): Promise<void>
}

function http(origin: string): Http {
  const pool = new Pool(origin, { connections: 32 })
  return {
    async post(path, body) {
      const res = await pool.request({
        method: 'POST',
        path,
        body,
        headers: { 'content-type': 'application/json', 'api-key': API_KEY, 'x-pinecone-api-version': '2025-04' },
      })
      return { status: res.statusCode, text: await res.body.text() }
    },
    close: () => pool.close(),
  }
}

async function createIndex(emu: RunningEmulator, name: string): Promise<void> {
  const client = http(emu.url)
  const res = await client.post(
    '/indexes',
    JSON.stringify({
      name,
      dimension: DIM,
      metric: 'cosine',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    }),
  )
  await client.close()
  if (res.status !== 201) throw new Error(`create index ${name}: ${res.status} ${res.text}`)
}

async function deleteIndex(emu: RunningEmulator, name: string): Promise<void> {
  const pool = new Pool(emu.url)
  const res = await pool.request({ method: 'DELETE', path: `/indexes/${name}`, headers: { 'api-key': API_KEY } })
  await res.body.dump()
  await pool.close()
}

/** Runs `count` items through `fn`, `concurrency` at a time, in order of index. */
async function parallel(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++
        if (i >= count) return
        await fn(i)
      }
    }),
  )
}

/** Upserts records [from, to) into an emulator index; answers vectors per second. */
async function ingest(emu: RunningEmulator, index: string, from: number, to: number, batch: number): Promise<number> {
  const client = http(emu.url)
  const batches = Math.ceil((to - from) / batch)
  const started = performance.now()
  await parallel(batches, CONCURRENCY, async (b) => {
    const parts: string[] = []
    for (let i = from + b * batch; i < Math.min(to, from + (b + 1) * batch); i++) parts.push(recordJson(i))
    const res = await client.post(`/data/${index}/vectors/upsert`, `{"vectors":[${parts.join(',')}],"namespace":""}`)
    if (res.status !== 200) throw new Error(`upsert into ${index}: ${res.status} ${res.text.slice(0, 300)}`)
  })
  const seconds = (performance.now() - started) / 1000
  await client.close()
  return (to - from) / seconds
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** CPU used by some processes from now on, per 1,000 vectors when asked. */
function cpuOf(pids: Record<string, number>): { per1000(vectors: number): Record<string, number> } {
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, treeCpuMs(pid)]))
  return {
    per1000: (vectors) =>
      Object.fromEntries(
        Object.entries(pids).map(([k, pid]) => [
          k,
          round((treeCpuMs(pid) - (start[k] as number)) / (vectors / 1000), 1),
        ]),
      ),
  }
}

interface CopyRun {
  readonly copied: number
  readonly perSecond: number
  readonly durationMs: number
  readonly indexBuildMs?: number
  /** Median RSS (MB) of the copy process in each quarter of the copy, and the peak. */
  readonly rssQuartersMb: number[]
  readonly rssPeakMb: number
  /** CPU time of the copy process, start-up and index build included. */
  readonly cpuMs: number
  /** With a write log: extra rounds, unpositioned batches, unsettled ids. */
  readonly settle?: SettleSummary
}

/** `vecshift copy` as an operator runs it, its memory sampled every 200 ms. */
async function runCopyCli(procs: Processes, configYaml: string, dir: string, name: string): Promise<CopyRun> {
  const config = join(dir, `${name}.yaml`)
  writeFileSync(config, configYaml)
  const cli = cliCommand(false)
  const profile = args.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', args.profile]
  const child: Child = procs.spawn(
    `copy-${name}`,
    process.execPath,
    [...profile, ...cli.argv, 'copy', '--config', config, '--json', '--progress', 'json'],
    {
      cwd: REPO,
      env: { ...process.env, VECSHIFT_SOURCE_API_KEY: API_KEY, VECSHIFT_TARGET_API_KEY: API_KEY },
    },
  )
  let out = ''
  child.proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const samples: Array<{ at: number; mb: number }> = []
  let cpuMs = 0
  const timer = setInterval(() => {
    const mb = rssMb(child.pid)
    if (Number.isFinite(mb)) samples.push({ at: performance.now(), mb })
    cpuMs = Math.max(cpuMs, treeCpuMs(child.pid))
  }, 200)
  const code = await child.exited
  clearInterval(timer)
  if (code !== 0) throw new Error(`vecshift copy (${name}) exited ${code}\n${child.tail()}`)
  const summary = JSON.parse(out.trim().split('\n').at(-1) as string) as {
    copied: number
    perSecond: number
    durationMs: number
    indexBuildMs?: number
    settle?: SettleSummary
  }
  // Quarters of the copy itself: the samples before the index build (if any) and after start-up.
  const copyEnd = (samples.at(-1)?.at ?? 0) - (summary.indexBuildMs ?? 0)
  const copyStart = copyEnd - summary.durationMs
  const during = samples.filter((s) => s.at >= copyStart && s.at <= copyEnd)
  const quarters = [0, 1, 2, 3].map((q) =>
    median(
      during
        .filter(
          (s) =>
            s.at >= copyStart + (q * summary.durationMs) / 4 && s.at < copyStart + ((q + 1) * summary.durationMs) / 4,
        )
        .map((s) => s.mb),
    ),
  )
  return {
    copied: summary.copied,
    perSecond: summary.copied / (summary.durationMs / 1000),
    durationMs: summary.durationMs,
    ...(summary.indexBuildMs === undefined ? {} : { indexBuildMs: summary.indexBuildMs }),
    rssQuartersMb: quarters.map((q) => round(q, 1)),
    rssPeakMb: round(Math.max(...during.map((s) => s.mb)), 1),
    cpuMs: round(cpuMs, 0),
    ...(summary.settle ? { settle: summary.settle } : {}),
  }
}

// --- settle: copying while writes are captured -----------------------------------------

interface SettleSummary {
  extraRounds: number
  unpositionedBatches: number
  unsettled: number
}

/** One copy of `ssrc` into a fresh target index: without a write log (variant 0); the same
 *  with writes sent straight to the source (1); capturing with a replayer following (2); and
 *  with the writes through a capturing gateway as well (3). */
async function settleRun(
  procs: Processes,
  source: RunningEmulator,
  target: RunningEmulator,
  dir: string,
  name: string,
  variant: number,
): Promise<CopyRun & { settle?: SettleSummary }> {
  await createIndex(target, name)
  const runDir = join(dir, name)
  mkdirSync(runDir, { recursive: true })
  const env = { ...process.env, VECSHIFT_SOURCE_API_KEY: API_KEY, VECSHIFT_TARGET_API_KEY: API_KEY }
  const config = [
    `migration: { id: ${name}${variant >= 2 ? ', phase: capture' : ''} }`,
    `source: { type: pinecone, index: ssrc, host: "${source.url}/data/ssrc", controllerHost: "${source.url}" }`,
    `target: { type: pinecone, index: ${name}, host: "${target.url}/data/${name}", controllerHost: "${target.url}" }`,
    'gateway: { listen: { port: 0 } }',
    'admin: { enabled: false }',
    `writelog: { backend: file, file: { dir: "${join(runDir, 'log')}" } }`,
    `control: { dir: "${join(runDir, 'control')}" }`,
    `replay: { dataDir: "${join(runDir, 'replay')}" }`,
    `copy: { checkpointDir: "${join(runDir, 'ckpt')}", concurrency: ${CONCURRENCY}, batchSize: ${BATCH} }`,
    'log: { level: warn }',
  ].join('\n')
  const cli = cliCommand(false)
  const started: Child[] = []
  let stopWrites = () => {}
  let writing: Promise<void> = Promise.resolve()
  let pool: Pool | undefined
  try {
    const sendTo = (origin: string, prefix: string) => {
      pool = new Pool(origin, { connections: 4 })
      return async (path: string, body: string) => {
        const res = await (pool as Pool).request({
          method: 'POST',
          path: `${prefix}${path}`,
          headers: { 'api-key': API_KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2025-10' },
          body,
        })
        await res.body.dump()
        if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode}`)
      }
    }
    let send: ((path: string, body: string) => Promise<void>) | undefined
    if (variant === 1) send = sendTo(source.url, '/data/ssrc')
    if (variant >= 2) {
      const file = join(dir, `${name}-daemons.yaml`)
      writeFileSync(file, config.replace('level: warn', 'level: info'))
      const gateway = procs.spawn(`gateway-${name}`, process.execPath, [...cli.argv, 'gateway', '--config', file], {
        cwd: REPO,
        env,
      })
      started.push(gateway)
      const url = await gateway.waitFor('"gateway listening" line', 30_000, (line) => {
        const entry = JSON.parse(line) as { msg?: string; url?: string }
        return entry.msg === 'gateway listening' ? entry.url : undefined
      })
      const replayer = procs.spawn(
        `replay-${name}`,
        process.execPath,
        [...cli.argv, 'replay', '--config', file, '--follow'],
        { cwd: REPO, env },
      )
      started.push(replayer)
      send = sendTo(url, '')
      // The replayer is following once its first write (this one) is applied.
      await send('/vectors/upsert', `{"vectors":[${recordJson(0)}]}`)
      const replayStatus = new ReplayStatusFile(join(runDir, 'replay'), name, 'replay').path
      for (let i = 0; ; i++) {
        try {
          if ((JSON.parse(readFileSync(replayStatus, 'utf8')) as { lagRecords?: number }).lagRecords === 0) break
        } catch {
          /* not written yet */
        }
        if (i > 600) throw new Error(`the replayer did not report\n${replayer.tail()}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    if (send && (variant === 1 || variant === 3)) {
      const post = send
      {
        // A steady stream on ids the copy is moving, paced, not a burst: 80 % upserts, 10 %
        // deletes by id, 5 % updates and 5 % deletes by filter (a replayer applies each write
        // by filter alone, so their share decides whether it keeps up).
        const rnd = prng(7)
        let stop = false
        stopWrites = () => {
          stop = true
        }
        writing = (async () => {
          const every = 1000 / SETTLE_W
          let next = performance.now()
          const inFlight = new Set<Promise<void>>()
          while (!stop) {
            const i = Math.floor(rnd() * SETTLE_N)
            const pick = rnd()
            const p =
              pick < 0.8
                ? post('/vectors/upsert', `{"vectors":[${recordJson(i)}]}`)
                : pick < 0.85
                  ? post('/vectors/update', `{"filter":{"i":{"$eq":${i}}},"setMetadata":{"touched":true}}`)
                  : pick < 0.9
                    ? post('/vectors/delete', `{"filter":{"i":{"$in":[${i},${(i + 1) % SETTLE_N}]}}}`)
                    : post('/vectors/delete', `{"ids":["${idOf(i)}"]}`)
            const tracked: Promise<void> = p
              .catch((err: Error) => {
                log(`settle write failed: ${err.message}`)
              })
              .finally(() => {
                inFlight.delete(tracked)
              })
            inFlight.add(tracked)
            next += every
            const wait = next - performance.now()
            if (wait > 0) await new Promise((r) => setTimeout(r, wait))
          }
          await Promise.all(inFlight)
        })()
      }
    }
    const copy = await runCopyCli(procs, config, runDir, name)
    return copy
  } finally {
    stopWrites()
    await writing
    await pool?.close()
    for (const child of started) await child.stop()
    await deleteIndex(target, name)
  }
}

// --- pgvector raw ingest: the insert forms the adapter could use ------------------------

type PgMethod = 'unnest' | 'values' | 'staging-merge'

const UPSERT_TAIL =
  'ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, sparse = EXCLUDED.sparse, metadata = EXCLUDED.metadata'

async function pgIngest(client: pg.Client, table: string, method: PgMethod, count: number): Promise<number> {
  const t = `"public"."${table}"`
  if (method === 'staging-merge') {
    await client.query(`CREATE TEMP TABLE IF NOT EXISTS stage_${table} (LIKE ${t})`)
  }
  const started = performance.now()
  for (let from = 0; from < count; from += PG_BATCH) {
    const ids: string[] = []
    const vectors: string[] = []
    const metadata: string[] = []
    for (let i = from; i < Math.min(count, from + PG_BATCH); i++) {
      ids.push(idOf(i))
      vectors.push(valueText[i % POOL_SIZE] as string)
      metadata.push(metaOf(i))
    }
    if (method === 'unnest') {
      await client.query(
        `INSERT INTO ${t} (namespace, id, embedding, sparse, metadata)
        SELECT '', u.id, CAST(u.e AS vector), NULL, CAST(u.m AS jsonb) ` +
          `FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, e, m) ${UPSERT_TAIL}`,
        [ids, vectors, metadata],
      )
    } else if (method === 'values') {
      const params: string[] = []
      const rows = ids.map((id, k) => {
        params.push(id, vectors[k] as string, metadata[k] as string)
        const p = k * 3
        return `('', $${p + 1}, $${p + 2}::vector, NULL, $${p + 3}::jsonb)`
      })
      await client.query(
        `INSERT INTO ${t} (namespace, id, embedding, sparse, metadata) VALUES ${rows.join(',')} ${UPSERT_TAIL}`,
        params,
      )
    } else {
      // COPY FROM STDIN would fill the staging table; PGlite's socket server cannot take it
      // (the session loses protocol sync), so unnest fills it and this row measures the merge.
      await client.query(
        `INSERT INTO stage_${table} (namespace, id, embedding, sparse, metadata)
        SELECT '', u.id, CAST(u.e AS vector), NULL, CAST(u.m AS jsonb) FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, e, m)`,
        [ids, vectors, metadata],
      )
      await client.query(`INSERT INTO ${t} SELECT * FROM stage_${table} ${UPSERT_TAIL}`)
      await client.query(`TRUNCATE stage_${table}`)
    }
  }
  return count / ((performance.now() - started) / 1000)
}

async function main(): Promise<void> {
  const procs = new Processes()
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-bench-copy-'))
  const env = { ...process.env, [API_KEY_ENV]: API_KEY }
  const cli = cliCommand(false)
  const results: Record<string, unknown> = {}
  const lines: string[] = ['| measurement | vectors/s | ratio | notes |', '| --- | ---: | ---: | --- |']
  const goals: Record<string, { goal: string; measured: number; met: boolean }> = {}
  try {
    log(`starting the source and target emulators (${cli.describe})`)
    const source = await startEmulator(procs, cli, { index: 'src', dimension: DIM, apiKeyEnv: API_KEY_ENV, env })
    const target = await startEmulator(procs, cli, { index: 'dst', dimension: DIM, apiKeyEnv: API_KEY_ENV, env })

    if (PARTS.has('emulator')) {
      log(`seeding the source with ${N.toLocaleString('en-US')} × ${DIM}-d vectors`)
      const seedRate = await ingest(source, 'src', 0, N, BATCH)
      log(`seeded at ${Math.round(seedRate)} vectors/s; raw ingest into the target`)
      await createIndex(target, 'raw')
      const rawCpu = cpuOf({ target: target.child.pid })
      const raw = await ingest(target, 'raw', 0, N, BATCH)
      const rawCpuMs = rawCpu.per1000(N)
      await deleteIndex(target, 'raw')
      log(`raw ingest ${Math.round(raw)} vectors/s; copying with vecshift copy`)
      const copyCpu = cpuOf({ source: source.child.pid, target: target.child.pid })
      const copy = await runCopyCli(
        procs,
        [
          'migration: { id: bench-emu }',
          `source: { type: pinecone, index: src, host: "${source.url}/data/src", controllerHost: "${source.url}" }`,
          `target: { type: pinecone, index: dst, host: "${target.url}/data/dst", controllerHost: "${target.url}" }`,
          `copy: { checkpointDir: "${join(dir, 'ckpt')}", concurrency: ${CONCURRENCY}, batchSize: ${BATCH} }`,
          'log: { level: warn }',
        ].join('\n'),
        dir,
        'emulator',
      )
      if (copy.copied !== N) throw new Error(`the copy moved ${copy.copied} of ${N} records`)
      const copyCpuMs: Record<string, number> = { ...copyCpu.per1000(N), copier: round(copy.cpuMs / (N / 1000), 1) }
      const ratio = copy.perSecond / raw
      const growth = (copy.rssQuartersMb[3] as number) / (copy.rssQuartersMb[0] as number)
      // Source, copier and target share this machine's cores: the copy cannot go faster than
      // the cores divided by the CPU all three spend per vector.
      const cpuPerVectorMs = Object.values(copyCpuMs).reduce((a, b) => a + b, 0) / 1000
      const ceiling = cpus().length / (cpuPerVectorMs / 1000)
      results.emulator = {
        vectors: N,
        seedPerSecond: round(seedRate, 0),
        rawPerSecond: round(raw, 0),
        copy: { ...copy, perSecond: round(copy.perSecond, 0) },
        ratio: round(ratio, 3),
        rssGrowth: round(growth, 3),
        cpuMsPer1000: { raw: rawCpuMs, copy: copyCpuMs },
        cpuCeilingPerSecond: round(ceiling, 0),
        copyVsCeiling: round(copy.perSecond / ceiling, 3),
      }
      lines.push(
        `| emulator raw ingest (${N.toLocaleString('en-US')} × ${DIM}-d, batches of ${BATCH}, ${CONCURRENCY} in flight) ` +
          `| ${Math.round(raw).toLocaleString('en-US')} | 1.00× | pre-formatted bodies, no fetch |`,
        `| **vecshift copy emulator → emulator** | **${Math.round(copy.perSecond).toLocaleString('en-US')}** ` +
          `| **${ratio.toFixed(2)}×** ` +
          `| list + fetch + upsert; copier RSS by quarter ${copy.rssQuartersMb.join(' / ')} MB (peak ${copy.rssPeakMb}) |`,
        `| CPU ms per 1,000 vectors: raw | | | target ${rawCpuMs.target} |`,
        `| CPU ms per 1,000 vectors: copy | | | source ${copyCpuMs.source}, copier ${copyCpuMs.copier}, target ${copyCpuMs.target} |`,
        `| CPU ceiling of the copy on ${cpus().length} shared cores ` +
          `| ${Math.round(ceiling).toLocaleString('en-US')} | ${(ceiling / raw).toFixed(2)}× ` +
          `| the copy reached ${Math.round((copy.perSecond / ceiling) * 100)}% of it |`,
      )
      goals.emulatorCopyVsRaw = {
        goal: `>= ${GOAL.copyVsRaw}`,
        measured: round(ratio, 3),
        met: ratio >= GOAL.copyVsRaw,
      }
      goals.copierMemoryFlat = {
        goal: `last-quarter RSS <= ${GOAL.memoryGrowth} × first-quarter`,
        measured: round(growth, 3),
        met: growth <= GOAL.memoryGrowth,
      }
    }

    if (PARTS.has('pgvector')) {
      log('starting Postgres + pgvector (PGlite)')
      const pglite = procs.spawn(
        'pglite',
        process.execPath,
        ['--import', 'tsx', join(REPO, 'bench/lib/pglite-server.ts')],
        { cwd: REPO },
      )
      const port = await pglite.waitFor('"port" line', 60_000, (line) => (JSON.parse(line) as { port?: number }).port)
      const poolConfig = { host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 }
      const client = new pg.Client(poolConfig)
      await client.connect()
      const table = async (name: string) => {
        const store = new PgvectorStore({ role: 'bench', table: name, pool: poolConfig })
        await store.createSchema({ dimension: DIM, metric: 'cosine', deferIndex: true })
        await store.close()
      }
      const methodN = Math.min(PG_N, 5_000)
      const methods: Record<string, number> = {}
      for (const method of ['unnest', 'values', 'staging-merge'] as const) {
        await table(`m_${method.replace('-', '_')}`)
        methods[method] = await pgIngest(client, `m_${method.replace('-', '_')}`, method, methodN)
        log(`pgvector ${method}: ${Math.round(methods[method] as number)} rows/s`)
      }
      const best = (Object.entries(methods).sort((a, b) => b[1] - a[1])[0] as [PgMethod, number])[0]
      await table('raw_full')
      const raw = await pgIngest(client, 'raw_full', best, PG_N)
      log(`pgvector raw (${best}, ${PG_N} rows): ${Math.round(raw)} rows/s; copying with vecshift copy`)
      await client.end()
      await createIndex(source, 'srcpg')
      await ingest(source, 'srcpg', 0, PG_N, BATCH)
      const copy = await runCopyCli(
        procs,
        [
          'migration: { id: bench-pg }',
          `source: { type: pinecone, index: srcpg, host: "${source.url}/data/srcpg", controllerHost: "${source.url}" }`,
          `target: { type: pgvector, table: copied, host: 127.0.0.1, port: ${port}, database: postgres, ` +
            `user: postgres, poolSize: 1, maintenanceWorkMem: 512MB }`,
          `copy: { checkpointDir: "${join(dir, 'ckpt')}", concurrency: ${CONCURRENCY}, batchSize: ${PG_BATCH}, createTarget: true }`,
          'log: { level: warn }',
        ].join('\n'),
        dir,
        'pgvector',
      )
      if (copy.copied !== PG_N) throw new Error(`the copy moved ${copy.copied} of ${PG_N} records`)
      const ratio = copy.perSecond / raw
      results.pgvector = {
        vectors: PG_N,
        methodVectors: methodN,
        methods: Object.fromEntries(Object.entries(methods).map(([k, v]) => [k, round(v, 0)])),
        best,
        rawPerSecond: round(raw, 0),
        copy: { ...copy, perSecond: round(copy.perSecond, 0) },
        ratio: round(ratio, 3),
      }
      for (const [method, rate] of Object.entries(methods)) {
        lines.push(
          `| pgvector insert: ${method} (${methodN.toLocaleString('en-US')} rows, ${PG_BATCH} per statement) ` +
            `| ${Math.round(rate).toLocaleString('en-US')} | ${(rate / (methods.unnest as number)).toFixed(2)}× unnest | ` +
            (method === 'staging-merge'
              ? 'COPY FROM STDIN not available on PGlite; staging filled by unnest'
              : method === 'values'
                ? "the adapter's form"
                : '') +
            ' |',
        )
      }
      lines.push(
        `| pgvector raw ingest (${best}, ${PG_N.toLocaleString('en-US')} × ${DIM}-d, no HNSW yet) ` +
          `| ${Math.round(raw).toLocaleString('en-US')} | 1.00× | best of the forms above |`,
        `| **vecshift copy emulator → pgvector** | **${Math.round(copy.perSecond).toLocaleString('en-US')}** ` +
          `| **${ratio.toFixed(2)}×** ` +
          `| HNSW built after the load in ${round((copy.indexBuildMs ?? 0) / 1000, 1)} s; ` +
          `copier RSS by quarter ${copy.rssQuartersMb.join(' / ')} MB |`,
      )
      goals.pgvectorCopyVsRaw = {
        goal: `>= ${GOAL.copyVsRaw}`,
        measured: round(ratio, 3),
        met: ratio >= GOAL.copyVsRaw,
      }
      await pglite.stop()
    }

    if (PARTS.has('clients')) {
      const M = Math.min(N, quick ? 2_000 : 10_000)
      log(
        `clients: moving ${M} records source -> target through the REST adapter and through the SDK, ${ROUNDS} round(s)`,
      )
      await createIndex(source, 'csrc')
      await ingest(source, 'csrc', 0, M, BATCH)
      const ids = Array.from({ length: M }, (_, i) => idOf(i))
      const batches = Math.ceil(M / BATCH)
      const rest: number[] = []
      const sdk: number[] = []
      const restCpu: number[] = []
      const sdkCpu: number[] = []
      for (let round = 0; round < ROUNDS; round++) {
        for (const client of ['rest', 'sdk'] as const) {
          const name = `c${client}${round}`
          await createIndex(target, name)
          const cpu = process.cpuUsage()
          const started = performance.now()
          if (client === 'rest') {
            const from = new PineconeStore({
              role: 'source',
              index: 'csrc',
              host: `${source.url}/data/csrc`,
              controllerHost: source.url,
              apiKey: API_KEY,
            })
            const to = new PineconeStore({
              role: 'target',
              index: name,
              host: `${target.url}/data/${name}`,
              controllerHost: target.url,
              apiKey: API_KEY,
            })
            await parallel(batches, CONCURRENCY, async (b) => {
              const got = await from.fetch('', ids.slice(b * BATCH, (b + 1) * BATCH))
              await to.upsert('', [...got.values()])
            })
            await Promise.all([from.close(), to.close()])
          } else {
            const from = new Pinecone({ apiKey: API_KEY, controllerHostUrl: source.url }).index({
              host: `${source.url}/data/csrc`,
            })
            const to = new Pinecone({ apiKey: API_KEY, controllerHostUrl: target.url }).index({
              host: `${target.url}/data/${name}`,
            })
            await parallel(batches, CONCURRENCY, async (b) => {
              const got = await from.fetch({ ids: ids.slice(b * BATCH, (b + 1) * BATCH) })
              await to.upsert({ records: Object.values(got.records) as never })
            })
          }
          const seconds = (performance.now() - started) / 1000
          const used = process.cpuUsage(cpu)
          ;(client === 'rest' ? rest : sdk).push(M / seconds)
          ;(client === 'rest' ? restCpu : sdkCpu).push(((used.user + used.system) / 1000 / M) * 1000)
          await deleteIndex(target, name)
        }
      }
      const r = median(rest)
      const s = median(sdk)
      results.clients = {
        vectors: M,
        rounds: ROUNDS,
        restPerSecond: rest.map((v) => round(v, 0)),
        sdkPerSecond: sdk.map((v) => round(v, 0)),
        restCpuMsPer1000: round(median(restCpu), 1),
        sdkCpuMsPer1000: round(median(sdkCpu), 1),
        ratio: round(r / s, 3),
      }
      lines.push(
        `| clients: REST adapter, fetch + upsert (${M.toLocaleString('en-US')} records, median of ${ROUNDS}) ` +
          `| ${Math.round(r).toLocaleString('en-US')} | ${(r / s).toFixed(2)}× SDK ` +
          `| client CPU ${round(median(restCpu), 1)} ms per 1,000 records |`,
        `| clients: official SDK, fetch + upsert | ${Math.round(s).toLocaleString('en-US')} | 1.00× ` +
          `| client CPU ${round(median(sdkCpu), 1)} ms per 1,000 records |`,
      )
    }

    if (PARTS.has('settle')) {
      log(`settle: copying ${SETTLE_N} records four ways, ${ROUNDS} round(s)`)
      await createIndex(source, 'ssrc')
      await ingest(source, 'ssrc', 0, SETTLE_N, BATCH)
      const variants = [
        'no write log',
        `no write log, ${SETTLE_W} writes/s to the source`,
        'capture, idle',
        `capture, ${SETTLE_W} writes/s through the gateway`,
      ] as const
      const runs: Record<string, Array<CopyRun & { settle?: SettleSummary }>> = Object.fromEntries(
        variants.map((v) => [v, []]),
      )
      for (let r = 0; r < ROUNDS; r++) {
        for (const [v, variant] of variants.entries()) {
          runs[variant]?.push(await settleRun(procs, source, target, dir, `s${r}${v}`, v))
        }
      }
      const rate = (v: string) => median((runs[v] ?? []).map((x) => x.perSecond))
      const base = rate('no write log')
      const extra = (v: string) => median((runs[v] ?? []).map((x) => x.settle?.extraRounds ?? 0))
      const unpositioned = (v: string) => median((runs[v] ?? []).map((x) => x.settle?.unpositionedBatches ?? 0))
      results.settle = {
        vectors: SETTLE_N,
        writesPerSecond: SETTLE_W,
        rounds: ROUNDS,
        runs: Object.fromEntries(
          variants.map((v) => [
            v,
            (runs[v] ?? []).map((x) => ({ perSecond: round(x.perSecond, 0), cpuMs: x.cpuMs, settle: x.settle })),
          ]),
        ),
        ratio: Object.fromEntries(variants.map((v) => [v, round(rate(v) / base, 3)])),
      }
      // Also on its own: the settle part is often run alone (--part settle), at several rates.
      if (!quick) {
        const settle = {
          benchmark: 'copy/settle',
          date: new Date().toISOString(),
          quick,
          machine: { cpus: cpus().length, node: process.version },
          dimension: DIM,
          concurrency: CONCURRENCY,
          batchSize: BATCH,
          ...(results.settle as object),
        }
        writeFileSync(
          join(REPO, 'bench/results', `copy-settle-${SETTLE_W}.json`),
          `${JSON.stringify(settle, null, 2)}\n`,
        )
      }
      for (const v of variants) {
        lines.push(
          `| copy ${SETTLE_N.toLocaleString('en-US')} records, ${v} (median of ${ROUNDS}) ` +
            `| ${Math.round(rate(v)).toLocaleString('en-US')} | ${(rate(v) / base).toFixed(2)}× | ` +
            (v === 'no write log'
              ? 'the floor: fetch + upsert only'
              : v.startsWith('no write log')
                ? 'the same writes, straight to the source: what the busy machine alone costs'
                : `batches settled in the write log; extra rounds ${extra(v)}, unpositioned batches ${unpositioned(v)}`) +
            ' |',
        )
      }
    }

    const tableText = lines.join('\n')
    process.stdout.write(`${tableText}\n\nGoals: ${JSON.stringify(goals)}\n`)
    const complete = PARTS.size === 4 && !quick
    const out = {
      benchmark: 'copy',
      date: new Date().toISOString(),
      quick,
      machine: { cpus: cpus().length, memoryGb: round(totalmem() / 2 ** 30, 1), node: process.version },
      settings: {
        vectors: N,
        pgVectors: PG_N,
        dimension: DIM,
        concurrency: CONCURRENCY,
        batchSize: BATCH,
        pgBatchSize: PG_BATCH,
        rounds: ROUNDS,
      },
      peers: {
        emulator: 'two vecshift emulator processes (source, target)',
        pgvector: 'PGlite + pgvector over pglite-socket, its own process',
      },
      ...results,
      goals,
      table: tableText,
    }
    const name = complete ? 'copy.json' : 'copy-partial.tmp'
    writeFileSync(join(REPO, 'bench/results', name), `${JSON.stringify(out, null, 2)}\n`)
    log(`figures saved to bench/results/${name}`)
  } finally {
    await procs.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
