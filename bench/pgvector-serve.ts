// npm run bench:pgvector-serve — what queries served from pgvector cost and return after a
// move (issue 16, docs/copy.md "pgvector"): 100,000 768-d vectors in 100 namespaces of three
// sizes (3 of 20,000 rows, 7 of 3,000, 90 of ~211: a multi-tenant index), queries in each
// size with no filter and with filters matching 1 %, 10 % and 50 % of a namespace, topK 10
// and 100. Every query is asked of each variant in turn, beside exact search:
//
//   exact            exhaustive search (exactQuery): the truth, and its latency
//   single           one HNSW graph over the table, as vecshift serves it (iterative scan,
//                    ef_search max(100, topK), exact fallback when the graph runs short)
//   single-ef40      the same with pgvector's default ef_search (40): the cost of recall
//   per-namespace    one partial HNSW graph per namespace of 10,000 rows or more (vecshift's
//                    default minIndexedRows), smaller ones searched exactly, as served
//   pgvector-plain   the single graph with none of vecshift's settings (pgvector's defaults,
//                    no iterative scan): the short answers issue 16 found
//
// The planner's choice (graph or primary key) for each layout, size and filter is recorded
// with EXPLAIN. Per variant and cell: recall@k against exact (goal >= 0.95), the share of answers with the
// right length (goal: all, for vecshift's variants), latency p50 and p99. Also: load, build
// and ANALYZE times per layout, and the round trip the per-query settings cost.
//
// The vectors are clustered (a mixture of Gaussians), as embeddings are; uniform random
// vectors in 768 dimensions have no neighbourhoods worth searching. PGlite is Postgres
// compiled to WASM, one session, in its own process: absolute latencies are several times a
// native server's; the ratios between variants are the point.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import type { QueryMatch, StoredVector } from '../src/stores/contract.js'
import { PgvectorStore } from '../src/stores/pgvector/store.js'
import { Processes } from './lib/procs.js'
import { median, round, summarize } from './lib/stats.js'
import { REPO } from './lib/vecshift.js'

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    dimension: { type: 'string', default: '768' },
    namespaces: { type: 'string', default: '100' },
    queries: { type: 'string', default: '10' },
    'work-mem': { type: 'string', default: '1GB' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write(`npm run bench:pgvector-serve -- [options]

  --rows N         vectors in the table (default 100000)
  --dimension D    default 768
  --namespaces K   namespaces the rows are spread over (default 100)
  --queries Q      queries per cell (namespace size x filter x topK) (default 10)
  --work-mem SIZE  maintenance_work_mem for the HNSW builds (default 1GB)
  --quick          10,000 rows, 5 queries per cell (writes bench/results/pgvector-serve-quick.json)
`)
  process.exit(0)
}

const ROWS = args.quick ? 10_000 : Number(args.rows)
const DIM = Number(args.dimension)
const NS = Number(args.namespaces)
const Q = args.quick ? 5 : Number(args.queries)
/** Namespaces of three sizes, as a multi-tenant index has: 3 large ones holding 60 % of the
 *  rows, 7 medium ones 21 %, the rest small (with 100,000 rows: 20,000, 3,000 and ~211). */
const CLASSES = (() => {
  const large = { name: 'large', count: 3, rows: Math.floor((ROWS * 0.6) / 3) }
  const medium = { name: 'medium', count: 7, rows: Math.floor((ROWS * 0.21) / 7) }
  const rest = NS - large.count - medium.count
  const small = {
    name: 'small',
    count: rest,
    rows: Math.floor((ROWS - large.count * large.rows - medium.count * medium.rows) / rest),
  }
  return [large, medium, small]
})()
/** Every namespace with its class and size, ns0 first (large). */
const NAMESPACES = CLASSES.flatMap((c) => Array.from({ length: c.count }, () => c)).map((c, i) => ({
  name: `ns${i}`,
  cls: c.name,
  rows: c.rows,
}))
/** vecshift's default: namespaces from 10,000 rows get a graph of their own. */
const MIN_INDEXED_ROWS = 10_000
const TOPKS = [10, 100] as const
/** Filters on fields whose values cycle within each namespace: 1 %, 10 %, 50 % of its rows. */
const FILTERS = [
  { name: 'none', make: (_: number) => undefined },
  { name: '1%', make: (v: number) => ({ s1: { $eq: v % 100 } }) },
  { name: '10%', make: (v: number) => ({ s10: { $eq: v % 10 } }) },
  { name: '50%', make: (v: number) => ({ s50: { $eq: v % 2 } }) },
] as const
const VARIANTS = ['exact', 'single', 'single-ef40', 'per-namespace', 'pgvector-plain'] as const
type Variant = (typeof VARIANTS)[number]
const GOAL = { recall: 0.95 }
const log = (msg: string) => process.stderr.write(`[bench:pgvector-serve] ${msg}\n`)

// A seeded mixture of Gaussians.
let seed = 20261203
const uniform = () => {
  seed = (seed * 16807) % 2147483647
  return seed / 2147483647
}
const gauss = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform())
const CENTERS = Array.from({ length: 256 }, () => Float32Array.from({ length: DIM }, gauss))
const draw = () => {
  const c = CENTERS[Math.floor(uniform() * CENTERS.length)] as Float32Array
  return Float32Array.from({ length: DIM }, (_, i) => (c[i] as number) + 0.6 * gauss())
}

const procs = new Processes()
try {
  log(`starting Postgres + pgvector (PGlite); ${ROWS.toLocaleString('en-US')} x ${DIM}-d in ${NS} namespaces`)
  const pglite = procs.spawn(
    'pglite',
    process.execPath,
    ['--import', 'tsx', join(REPO, 'bench/lib/pglite-server.ts')],
    { cwd: REPO },
  )
  const port = await pglite.waitFor('"port" line', 60_000, (line) => (JSON.parse(line) as { port?: number }).port)
  const pool = { host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 }
  const store = (table: string, extra: Partial<ConstructorParameters<typeof PgvectorStore>[0]> = {}) =>
    new PgvectorStore({ role: 'bench', table, pool, maintenanceWorkMem: args['work-mem'], ...extra })

  // Load once through the adapter (as the copy does), then copy the rows in the database.
  const single = store('serve_single', { layout: 'single' })
  await single.createSchema({ dimension: DIM, metric: 'cosine', deferIndex: true })
  let started = performance.now()
  let loaded = 0
  for (const ns of NAMESPACES) {
    for (let i = 0; i < ns.rows; i += 500) {
      const batch: StoredVector[] = []
      for (let j = i; j < Math.min(ns.rows, i + 500); j++)
        batch.push({ id: `v${j}`, values: draw(), metadata: { s1: j % 100, s10: j % 10, s50: j % 2 } })
      await single.upsert(ns.name, batch)
      if (Math.floor((loaded + batch.length) / 10_000) > Math.floor(loaded / 10_000))
        log(`loaded ${(loaded + batch.length).toLocaleString('en-US')} rows`)
      loaded += batch.length
    }
  }
  const loadMs = performance.now() - started
  const perNs = store('serve_ns', { layout: 'per-namespace', layoutSettings: { minIndexedRows: MIN_INDEXED_ROWS } })
  await perNs.createSchema({ dimension: DIM, metric: 'cosine', deferIndex: true })
  const sql = new pg.Client(pool)
  await sql.connect()
  await sql.query('INSERT INTO serve_ns SELECT * FROM serve_single')

  const build: Record<string, { buildMs: number; analyzeMs: number }> = {}
  for (const [name, s] of [
    ['single', single],
    ['per-namespace', perNs],
  ] as const) {
    log(`building the ${name} layout's HNSW index(es)`)
    started = performance.now()
    await s.buildIndexes()
    const buildMs = performance.now() - started
    started = performance.now()
    await sql.query(`ANALYZE ${name === 'single' ? 'serve_single' : 'serve_ns'}`)
    build[name] = { buildMs: Math.round(buildMs), analyzeMs: Math.round(performance.now() - started) }
    log(`${name}: built in ${Math.round(buildMs / 1000)} s, ANALYZE ${build[name]?.analyzeMs} ms`)
  }
  const ef40 = store('serve_single', { efSearch: 40 })

  // Whether the planner answers from a graph at this size (the size where behaviour changes):
  // one EXPLAIN per layout, namespace class and filter.
  const plans: Record<string, Record<string, string>> = {}
  for (const table of ['serve_single', 'serve_ns']) {
    const layout = table === 'serve_single' ? 'single' : 'per-namespace'
    const byCase: Record<string, string> = {}
    for (const c of CLASSES) {
      const ns = NAMESPACES.find((n) => n.cls === c.name)?.name as string
      for (const f of FILTERS) {
        const filter = f.make(3)
        const cond = filter ? ` AND (metadata->>'${Object.keys(filter)[0]}')::numeric = 3` : ''
        const r = await sql.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT id FROM ${table} WHERE namespace = $1${cond} ORDER BY embedding <=> $2::vector LIMIT 10`,
          [ns, `[${Array.from(draw()).join(',')}]`],
        )
        const text = r.rows.map((row) => row['QUERY PLAN']).join('\n')
        byCase[`${c.name} ${f.name}`] = /Index Scan using \S*hnsw/.test(text)
          ? 'hnsw'
          : /Seq Scan/.test(text)
            ? 'seq scan'
            : 'primary key'
      }
    }
    plans[layout] = byCase
  }
  log(`planner: ${JSON.stringify(plans)}`)

  // The round trip vecshift's per-query settings cost: the transaction and SET LOCALs alone.
  const settings: number[] = []
  const client = new pg.Client(pool)
  await client.connect()
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now()
    await client.query(
      'BEGIN; SET LOCAL hnsw.iterative_scan = strict_order; SET LOCAL hnsw.ef_search = 100; SET LOCAL hnsw.max_scan_tuples = 20000',
    )
    await client.query('COMMIT')
    settings.push(performance.now() - t0)
  }
  await client.end()

  // pgvector's defaults, no settings: what an application gets from a plain ORDER BY ... LIMIT.
  const plain = async (
    ns: string,
    vector: Float32Array,
    topK: number,
    filter: Record<string, { $eq: number }> | undefined,
  ): Promise<QueryMatch[]> => {
    const params: unknown[] = [ns, `[${Array.from(vector).join(',')}]`, topK]
    let where = 'namespace = $1'
    if (filter) {
      const [[field, cond]] = Object.entries(filter) as [[string, { $eq: number }]]
      params.push(cond.$eq)
      where += ` AND (metadata->>'${field}')::numeric = $4`
    }
    const r = await sql.query<{ id: string; d: number }>(
      `SELECT id, embedding <=> $2::vector AS d FROM serve_single WHERE ${where} ORDER BY embedding <=> $2::vector LIMIT $3`,
      params,
    )
    return r.rows.map((row) => ({ id: row.id, score: 1 - Number(row.d) }))
  }

  interface Cell {
    recalls: number[]
    right: number
    asked: number
    ms: number[]
  }
  const cells = new Map<string, Cell>()
  const cell = (v: Variant, cls: string, f: string, k: number) => {
    const key = `${v}|${cls}|${f}|${k}`
    let c = cells.get(key)
    if (!c) {
      c = { recalls: [], right: 0, asked: 0, ms: [] }
      cells.set(key, c)
    }
    return c
  }
  let asked = 0
  for (const c of CLASSES) {
    const members = NAMESPACES.filter((n) => n.cls === c.name)
    for (const k of TOPKS) {
      for (const f of FILTERS) {
        for (let q = 0; q < Q; q++) {
          const ns = (members[Math.floor(uniform() * members.length)] as { name: string }).name
          const vector = draw()
          const filter = f.make(Math.floor(uniform() * 100))
          const request = { topK: k, vector, ...(filter ? { filter } : {}) }
          let truth: QueryMatch[] = []
          for (const v of VARIANTS) {
            const t0 = performance.now()
            const got =
              v === 'exact'
                ? await single.exactQuery(ns, request)
                : v === 'single'
                  ? await single.query(ns, request)
                  : v === 'single-ef40'
                    ? await ef40.query(ns, request)
                    : v === 'per-namespace'
                      ? await perNs.query(ns, request)
                      : await plain(ns, vector, k, filter)
            const ms = performance.now() - t0
            if (v === 'exact') truth = got
            const cl = cell(v, c.name, f.name, k)
            const want = new Set(truth.map((m) => m.id))
            cl.recalls.push(truth.length === 0 ? 1 : got.filter((m) => want.has(m.id)).length / truth.length)
            cl.asked++
            // Exact search returns min(topK, rows matching) by construction; the others are held to it.
            if (got.length === truth.length) cl.right++
            cl.ms.push(ms)
          }
          asked++
        }
      }
      log(`${c.name} namespaces, topK ${k}: ${asked} queries asked`)
    }
  }
  await sql.end()
  await Promise.all([single.close(), perNs.close(), ef40.close()])

  const results = [...cells].map(([key, c]) => {
    const [variant, namespaces, filter, topK] = key.split('|') as [Variant, string, string, string]
    const s = summarize(c.ms)
    return {
      variant,
      namespaces,
      filter,
      topK: Number(topK),
      queries: c.asked,
      recall: round(c.recalls.reduce((a, b) => a + b, 0) / c.recalls.length, 4),
      minRecall: round(Math.min(...c.recalls), 4),
      rightLength: round(c.right / c.asked, 4),
      p50Ms: round(s.p50, 2),
      p99Ms: round(s.p99, 2),
    }
  })
  const served = results.filter((r) => r.variant === 'single' || r.variant === 'per-namespace')
  const goals = {
    recall: {
      goal: `>= ${GOAL.recall} mean recall@k in every cell, both served layouts`,
      measured: Math.min(...served.map((r) => r.recall)),
      met: served.every((r) => r.recall >= GOAL.recall),
    },
    answerLength: {
      goal: 'every served answer has min(topK, matching rows) results',
      measured: Math.min(...served.map((r) => r.rightLength)),
      met: served.every((r) => r.rightLength === 1),
    },
  }
  const report = {
    bench: 'pgvector-serve',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    rows: ROWS,
    dimension: DIM,
    namespaces: NS,
    classes: CLASSES,
    minIndexedRows: MIN_INDEXED_ROWS,
    queriesPerCell: Q,
    loadMs: Math.round(loadMs),
    build,
    plans,
    settingsRoundTripMs: { p50: round(median(settings), 3), p99: round(summarize(settings).p99, 3) },
    results,
    goals,
  }
  mkdirSync(join(REPO, 'bench/results'), { recursive: true })
  const file = join(REPO, 'bench/results', args.quick ? 'pgvector-serve-quick.json' : 'pgvector-serve.json')
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)

  const lines = [
    `| namespaces | filter | topK | ${VARIANTS.map((v) => `${v}: recall, right length, p50 / p99 ms`).join(' | ')} |`,
    `| --- | --- | --- | ${VARIANTS.map(() => '---').join(' | ')} |`,
  ]
  for (const c of CLASSES) {
    for (const k of TOPKS) {
      for (const f of FILTERS) {
        const row = VARIANTS.map((v) => {
          const r = results.find(
            (x) => x.variant === v && x.namespaces === c.name && x.filter === f.name && x.topK === k,
          )
          return r ? `${r.recall.toFixed(3)}, ${Math.round(r.rightLength * 100)} %, ${r.p50Ms} / ${r.p99Ms}` : ''
        })
        lines.push(`| ${c.name} (${c.rows.toLocaleString('en-US')}) | ${f.name} | ${k} | ${row.join(' | ')} |`)
      }
    }
  }
  process.stdout.write(
    `${lines.join('\n')}\n\nplanner: ${JSON.stringify(plans)}\nload ${Math.round(loadMs / 1000)} s; build: ${Object.entries(
      build,
    )
      .map(([n, b]) => `${n} ${Math.round(b.buildMs / 1000)} s (ANALYZE ${b.analyzeMs} ms)`)
      .join(
        ', ',
      )}; per-query settings round trip p50 ${report.settingsRoundTripMs.p50} ms\ngoals: ${JSON.stringify(goals)}\nsaved ${file}\n`,
  )
} finally {
  await procs.stopAll()
}
