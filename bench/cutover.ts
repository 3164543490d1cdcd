// npm run bench:cutover — the cutover under live traffic: how long writes pause, whether any
// client request fails, and whether any acknowledged write is lost.
//
// Processes: a source and a target emulator, `vecshift gateway` (capture, file log, file
// control store), `vecshift replay --follow`, and this process as the load generator: an open
// loop of W upserts/s and Q queries/s through the gateway (default 500 + 500). The source is
// seeded and copied first (`vecshift copy`); after a warm-up `vecshift cutover` runs, and the
// load goes on for a while after the flip. Each id is written by one request at a time
// (ids cycle through a key space far larger than the writes in flight), so the last
// acknowledged value of every id is known; at the end the target must hold exactly those.
// Reported: write latency p50 / p99 / max in the cutover window and outside it, errors, the
// cutover's step timings, and lost writes. Figures go to bench/results/cutover.json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { PineconeStore } from '../src/stores/pinecone/store.js'
import { Processes } from './lib/procs.js'
import { round, summarize } from './lib/stats.js'
import { cliCommand, REPO, startEmulator } from './lib/vecshift.js'

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '500' },
    queries: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '8' },
    after: { type: 'string', default: '3' },
    seed: { type: 'string', default: '5000' },
    'max-pause': { type: 'string', default: '2000' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write(`npm run bench:cutover -- [options]

  --writes N      upserts per second through the gateway (default 500)
  --queries N     queries per second through the gateway (default 500)
  --warmup S      seconds of load before the cutover (default 8: the copy's load has passed)
  --after S       seconds of load after it (default 3)
  --seed N        records in the source before the migration (default 5000)
  --max-pause MS  the cutover's write-pause budget (default 2000)
`)
  process.exit(0)
}
const num = (name: string, v: string | undefined) => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: ${v} is not a number`)
  return n
}
const WRITES = num('writes', args.writes)
const QUERIES = num('queries', args.queries)
const WARMUP_S = num('warmup', args.warmup)
const AFTER_S = num('after', args.after)
const SEED = num('seed', args.seed)
const MAX_PAUSE = num('max-pause', args['max-pause'])
const DIM = 64
const KEYSPACE = 20_000
const GOAL = { maxPauseMs: 100 } as const
const KEY = 'bench-cutover-key'
const log = (m: string) => process.stderr.write(`bench: ${m}\n`)

interface Sample {
  readonly at: number
  readonly ms: number
  readonly ok: boolean
  readonly error?: string
}

async function main(): Promise<void> {
  const procs = new Processes()
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-bench-cutover-'))
  const env = {
    ...process.env,
    VECSHIFT_BENCH_API_KEY: KEY,
    VECSHIFT_SOURCE_API_KEY: KEY,
    VECSHIFT_TARGET_API_KEY: KEY,
  }
  const cli = cliCommand(false)
  try {
    log('starting the source and target emulators')
    const src = await startEmulator(procs, cli, {
      index: 'src',
      dimension: DIM,
      apiKeyEnv: 'VECSHIFT_BENCH_API_KEY',
      env,
    })
    const dst = await startEmulator(procs, cli, {
      index: 'dst',
      dimension: DIM,
      apiKeyEnv: 'VECSHIFT_BENCH_API_KEY',
      env,
    })
    const source = new PineconeStore({
      role: 'source',
      index: 'src',
      host: `${src.url}/data/src`,
      controllerHost: src.url,
      apiKey: KEY,
    })
    const target = new PineconeStore({
      role: 'target',
      index: 'dst',
      host: `${dst.url}/data/dst`,
      controllerHost: dst.url,
      apiKey: KEY,
    })
    for (let i = 0; i < SEED; i += 500) {
      await source.upsert(
        '',
        Array.from({ length: Math.min(500, SEED - i) }, (_, k) => ({
          id: `seed-${i + k}`,
          values: Float32Array.from({ length: DIM }, (_, d) => Math.sin(i + k + d)),
        })),
      )
    }
    const config = join(dir, 'vecshift.yaml')
    writeFileSync(
      config,
      [
        'migration: { id: bench-cutover, phase: capture }',
        `source: { type: pinecone, index: src, host: "${src.url}/data/src", controllerHost: "${src.url}" }`,
        `target: { type: pinecone, index: dst, host: "${dst.url}/data/dst", controllerHost: "${dst.url}" }`,
        'gateway: { listen: { host: 127.0.0.1, port: 0 } }',
        'admin: { enabled: false }',
        `writelog: { backend: file, file: { dir: "${join(dir, 'log')}" } }`,
        `rollback: { logDir: "${join(dir, 'reverse')}" }`,
        `control: { dir: "${join(dir, 'control')}" }`,
        `replay: { dataDir: "${join(dir, 'replay')}" }`,
        `copy: { checkpointDir: "${join(dir, 'copy')}", concurrency: 4, batchSize: 200 }`,
        `cutover: { maxPauseMs: ${MAX_PAUSE} }`,
        'log: { level: warn }',
      ].join('\n'),
    )
    log('starting the gateway (capture)')
    const gateway = procs.spawn(
      'gateway',
      process.execPath,
      [...cli.argv, 'gateway', '--config', config, '--log-level', 'info'],
      { cwd: REPO, env },
    )
    const url = await gateway.waitFor('"gateway listening" line', 30_000, (line) => {
      const p = JSON.parse(line) as { msg?: string; url?: string }
      return p.msg === 'gateway listening' ? p.url : undefined
    })

    // The load: an open loop, each request timed from when it was due.
    const pool = new Pool(url as string, { connections: 64 })
    const headers = { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' }
    const writes: Sample[] = []
    const queries: Sample[] = []
    const ledger = new Map<string, number>()
    let next = 0
    let stop = false
    const fire = (kind: 'write' | 'query') => {
      const started = performance.now()
      const n = next++
      const id = `live-${n % KEYSPACE}`
      const vector = Array.from({ length: DIM }, (_, d) => Math.cos(n + d))
      const body =
        kind === 'write'
          ? JSON.stringify({ vectors: [{ id, values: vector, metadata: { n } }], namespace: '' })
          : JSON.stringify({ vector, topK: 5, namespace: '' })
      pool.request({ method: 'POST', path: kind === 'write' ? '/vectors/upsert' : '/query', headers, body }).then(
        async (res) => {
          await res.body.dump()
          const sample = {
            at: started,
            ms: performance.now() - started,
            ok: res.statusCode === 200,
            ...(res.statusCode === 200 ? {} : { error: String(res.statusCode) }),
          }
          ;(kind === 'write' ? writes : queries).push(sample)
          if (kind === 'write' && sample.ok) ledger.set(id, n)
        },
        (err: Error) =>
          (kind === 'write' ? writes : queries).push({
            at: started,
            ms: performance.now() - started,
            ok: false,
            error: err.message,
          }),
      )
    }
    const ticker = (perSecond: number, kind: 'write' | 'query') =>
      (async () => {
        if (perSecond === 0) return
        const interval = 1000 / perSecond
        let due = performance.now()
        while (!stop) {
          due += interval
          fire(kind)
          const wait = due - performance.now()
          if (wait > 1) await sleep(wait)
        }
      })()

    log('copying (vecshift copy) while writes flow, then following the log (vecshift replay --follow)')
    const loads = [ticker(WRITES, 'write'), ticker(QUERIES, 'query')]
    const copy = procs.spawn(
      'copy',
      process.execPath,
      [...cli.argv, 'copy', '--config', config, '--progress', 'none'],
      { cwd: REPO, env },
    )
    if ((await copy.exited) !== 0) throw new Error(`vecshift copy failed\n${copy.tail()}`)
    procs.spawn('replay', process.execPath, [...cli.argv, 'replay', '--config', config, '--follow'], { cwd: REPO, env })
    // The target takes the queries from the flip on. A real target index is a warm service
    // (and an operator would move reads first with --canary): warm the emulator's query path
    // too, or the flip measures its JIT compiling the k-NN scan while held writes queue behind.
    // Fifty queries in the warm-up's last second are enough (each runs the scan over every
    // vector); more would be load the source-side measurement does not have.
    const warmUntil = performance.now() + WARMUP_S * 1000
    await sleep(Math.max(0, WARMUP_S * 1000 - 1000))
    for (let i = 0; i < 50; i++) {
      await target.query('', { topK: 5, vector: Float32Array.from({ length: DIM }, (_, d) => Math.sin(i + d)) })
      await sleep(20)
    }
    await sleep(Math.max(0, warmUntil - performance.now()))

    log('cutover')
    const cutStarted = performance.now()
    const cut = procs.spawn('cutover', process.execPath, [...cli.argv, 'cutover', '--config', config, '--json'], {
      cwd: REPO,
      env,
    })
    let cutOut = ''
    cut.proc.stdout?.on('data', (d: Buffer) => {
      cutOut += d.toString()
    })
    const cutCode = await cut.exited
    const cutEnded = performance.now()
    const result = JSON.parse(cutOut.trim() || '{}') as {
      outcome?: string
      reason?: string
      pauseMs?: number
      steps?: Array<{ name: string; ms: number; startedAt: string }>
    }
    await sleep(AFTER_S * 1000)
    stop = true
    await Promise.all(loads)
    await sleep(500)
    await pool.close()

    // Lost writes: every acknowledged value must be what the target holds for its id (each id
    // has one write in flight at a time, so the last acknowledged one is the newest).
    const ids = [...ledger.keys()]
    const held = new Map<string, number>()
    for (let i = 0; i < ids.length; i += 1000) {
      for (const [id, v] of await target.fetch('', ids.slice(i, i + 1000)))
        held.set(id, (v.metadata as { n: number }).n)
    }
    const lost = ids.filter((id) => held.get(id) !== ledger.get(id)).length
    const inWindow = writes.filter((s) => s.at >= cutStarted && s.at <= cutEnded)
    // Steady state: the two seconds before the cutover (the copy is over by then).
    const outside = writes.filter((s) => s.at < cutStarted && s.at >= cutStarted - 2000)
    const lat = (samples: Sample[]) => {
      const s = summarize(samples.map((x) => x.ms))
      return { count: s.count, p50: round(s.p50, 1), p99: round(s.p99, 1), max: round(s.max, 1) }
    }
    const errors = [...writes, ...queries].filter((s) => !s.ok)
    // The clients' pause: the slowest write issued while the cutover ran (the window); the
    // slowest of the whole run (start-up, the copy) is reported beside it.
    const longest = Math.max(0, ...inWindow.map((s) => s.ms))
    // Where in the window the slow writes were issued: before the first step (the cutover
    // process starting), in each step while traffic flows, and in the pause (barrier to flip),
    // whose writes are the ones held. Step times are wall clock; samples are this process's
    // performance clock.
    const toPerf = (iso: string) => Date.parse(iso) - performance.timeOrigin
    const steps = result.steps ?? []
    const phases: Array<{ name: string; from: number; to: number }> = []
    if (steps.length > 0) {
      phases.push({
        name: 'process start-up',
        from: cutStarted,
        to: toPerf((steps[0] as { startedAt: string }).startedAt),
      })
      const barrier = steps.findIndex((s) => s.name === 'barrier')
      for (const [i, st] of steps.entries()) {
        if (barrier >= 0 && i >= barrier) break
        phases.push({ name: st.name, from: toPerf(st.startedAt), to: toPerf(st.startedAt) + st.ms })
      }
      if (barrier >= 0) {
        const last = steps[steps.length - 1] as { startedAt: string; ms: number }
        phases.push({
          name: 'pause (barrier → flip)',
          from: toPerf((steps[barrier] as { startedAt: string }).startedAt),
          to: toPerf(last.startedAt) + last.ms,
        })
      }
    }
    const byPhase = phases.map((ph) => {
      const issued = writes.filter((w) => w.at >= ph.from && w.at < ph.to)
      return {
        name: ph.name,
        ms: round(ph.to - ph.from, 0),
        writes: issued.length,
        slowestMs: round(Math.max(0, ...issued.map((w) => w.ms)), 1),
      }
    })
    const pausePhase = byPhase.find((p) => p.name.startsWith('pause'))
    const longestOverall = Math.max(0, ...writes.map((s) => s.ms))
    const figures = {
      benchmark: 'cutover',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      settings: {
        writesPerSecond: WRITES,
        queriesPerSecond: QUERIES,
        warmupSeconds: WARMUP_S,
        afterSeconds: AFTER_S,
        seed: SEED,
        maxPauseMs: MAX_PAUSE,
        dimension: DIM,
      },
      cutover: {
        exitCode: cutCode,
        outcome: result.outcome,
        reason: result.reason,
        pauseMs: result.pauseMs,
        steps: result.steps?.map((s) => ({ name: s.name, ms: s.ms })),
        commandMs: round(cutEnded - cutStarted, 0),
      },
      writes: {
        total: writes.length,
        inCutoverWindow: lat(inWindow),
        beforeCutover: lat(outside),
        longestInWindowMs: round(longest, 1),
        longestOverallMs: round(longestOverall, 1),
        byPhase,
      },
      queries: lat(queries),
      errors: { count: errors.length, examples: errors.slice(0, 5).map((e) => e.error) },
      lostWrites: lost,
      idsChecked: ids.length,
      goals: {
        longestWritePauseMs: {
          goal: `<= ${GOAL.maxPauseMs}`,
          measured: round(longest, 1),
          met: longest <= GOAL.maxPauseMs,
        },
        // The writes the barrier held: the pause itself, without the load the steps before
        // it (the cutover process starting, the pre-reconcile) put on a shared machine.
        heldWritePauseMs: {
          goal: `<= ${GOAL.maxPauseMs}`,
          measured: pausePhase?.slowestMs,
          met: pausePhase !== undefined && pausePhase.slowestMs <= GOAL.maxPauseMs,
        },
        errors: { goal: '0', measured: errors.length, met: errors.length === 0 },
        lostWrites: { goal: '0', measured: lost, met: lost === 0 },
      },
    }
    const table = [
      '| measurement | value |',
      '| --- | ---: |',
      `| offered load | ${WRITES} upserts/s + ${QUERIES} queries/s |`,
      `| cutover outcome | ${result.outcome ?? `failed (exit ${cutCode})`} |`,
      `| write pause (control store, barrier → flip) | ${result.pauseMs ?? '—'} ms |`,
      ...(result.steps ?? []).map((s) => `| step: ${s.name} | ${s.ms} ms |`),
      `| write latency in the 2 s before the cutover p50 / p99 / max | ${figures.writes.beforeCutover.p50} ` +
        `/ ${figures.writes.beforeCutover.p99} / ${figures.writes.beforeCutover.max} ms |`,
      `| write latency in the cutover window p50 / p99 / max | ${figures.writes.inCutoverWindow.p50} ` +
        `/ ${figures.writes.inCutoverWindow.p99} / ${figures.writes.inCutoverWindow.max} ms |`,
      ...byPhase.map(
        (p) => `| slowest write issued during ${p.name} (${p.ms} ms, ${p.writes} writes) | ${p.slowestMs} ms |`,
      ),
      `| **longest write in the cutover window (clients' pause)** | **${round(longest, 1)} ms** (goal ≤ ${GOAL.maxPauseMs}) |`,
      `| longest write of the whole run (start-up and copy included) | ${round(longestOverall, 1)} ms |`,
      `| client errors | ${errors.length} |`,
      `| lost writes (of ${ids.length} ids checked) | ${lost} |`,
    ].join('\n')
    process.stdout.write(`${table}\n\nGoals: ${JSON.stringify(figures.goals)}\n`)
    writeFileSync(join(REPO, 'bench/results/cutover.json'), `${JSON.stringify({ ...figures, table }, null, 2)}\n`)
    log('figures saved to bench/results/cutover.json')
    await Promise.all([source.close(), target.close()])
  } finally {
    await procs.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
