// npm run bench:writelog — how fast the write log makes writes durable, beside what the disk
// itself can do, and what capture costs the gateway.
//
// Part 1, appends: concurrency 1, 16 and 128 workers each appending one upsert record at a
// time (one 1536-d vector with metadata, as the gateway logs a single-vector upsert) for a
// fixed window; durable appends/s, MB/s, p50/p99 append latency. Beside it, in the same run
// and directory, the raw sequential bandwidth of write + fdatasync for the same bytes in the
// same group sizes (c records per sync): the ceiling any log on this disk has.
// Part 2, the gateway: upserts (100 x 1536-d per request) through the gateway in passthrough
// and in capture (file log), interleaved over rounds; the ratio of their throughput.
// Figures are medians over rounds; the machine is 2 cores and shared, so ratios matter most.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { encodeRecord } from '../src/writelog/codec.js'
import { openFileLog } from '../src/writelog/file/file-log.js'
import type { UpsertRecord } from '../src/writelog/record.js'
import type { WriteLog } from '../src/writelog/contract.js'
import { DIMENSION } from './lib/bodies.js'
import { Generator } from './lib/generator.js'
import { Processes } from './lib/procs.js'
import { median, round, summarize } from './lib/stats.js'
import { cliCommand, REPO, startEmulator } from './lib/vecshift.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backends: { type: 'string', default: 'file,kafka,s3' },
    part: { type: 'string', default: 'appends,gateway' },
    concurrency: { type: 'string', default: '1,16,128' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write(`npm run bench:writelog -- [options]

  --quick            1 round of 1 s windows (a smoke run; writes bench/results/writelog-quick.tmp)
  --backends LIST    file,kafka,s3 (default all three). kafka runs librdkafka's mock cluster
                     (kcat), s3 runs s3rver: both in memory or on this disk, so their rows show
                     the backend's own cost per append, not a real network's
  --part LIST        appends,gateway (default both)
  --concurrency LIST appending workers per run (default 1,16,128)
`)
  process.exit(0)
}
const quick = args.quick ?? false
const BACKENDS = (args.backends ?? '')
  .split(',')
  .map((b) => b.trim())
  .filter(Boolean)
for (const b of BACKENDS)
  if (b !== 'file' && b !== 'kafka' && b !== 's3') throw new Error(`--backends: unknown backend ${b} (file, kafka, s3)`)
const PARTS = new Set((args.part ?? '').split(',').map((p) => p.trim()))
const ROUNDS = quick ? 1 : 3
/** The gateway part is the noisiest (three processes on two cores): more rounds. */
const GATEWAY_ROUNDS = quick ? 1 : 5
const WINDOW_MS = quick ? 1000 : 3000
const CONCURRENCY = (args.concurrency ?? '').split(',').map((c) => {
  const n = Number(c)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--concurrency: ${c} is not a positive integer`)
  return n
})
const GOAL = { fileVsRaw: 0.7, p99Ms: 5, captureVsPassthrough: 0.8 }
const API_KEY = 'bench-api-key'
type Backend = 'file' | 'kafka' | 's3'

function record(i: number): UpsertRecord {
  const values = new Float32Array(DIMENSION)
  for (let d = 0; d < DIMENSION; d++) values[d] = Math.sin(i * 31 + d) * 0.5
  return {
    op: 'upsert',
    instance: 'bench',
    seq: i,
    ts: Date.now(),
    apiVersion: '2026-07',
    requestId: `r${i}`,
    namespace: 'bench',
    vectors: [{ id: `id-${i % 5000}`, values, metadata: { source: 'bench', n: i } }],
  }
}

interface AppendFigures {
  appendsPerSec: number
  mbPerSec: number
  p50Ms: number
  p99Ms: number
}

// Built once: the benchmark measures the log, not the making of test vectors.
const POOL = Array.from({ length: 512 }, (_, i) => record(i))

async function measureAppends(log: WriteLog, concurrency: number): Promise<AppendFigures> {
  const latencies: number[] = []
  let bytes = 0
  let n = 0
  const frameBytes = encodeRecord(record(0)).length
  const until = performance.now() + WINDOW_MS
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const r = { ...(POOL[n % POOL.length] as UpsertRecord), seq: n++ }
        const t0 = performance.now()
        await log.append([r])
        latencies.push(performance.now() - t0)
        bytes += frameBytes
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const s = summarize(latencies)
  process.stderr.write(
    `  run ${log.backend} c=${concurrency}: ${(latencies.length / seconds).toFixed(0)}/s ` +
      `p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(1)}\n`,
  )
  return {
    appendsPerSec: latencies.length / seconds,
    mbPerSec: bytes / seconds / 1024 / 1024,
    p50Ms: s.p50,
    p99Ms: s.p99,
  }
}

/** Sequential writes of `group` records' bytes, each followed by fdatasync: the ceiling of
 *  any log on this disk, in bandwidth and in latency (p50/p99 of one write + sync). */
async function measureRaw(dir: string, group: number): Promise<{ mbPerSec: number; p50Ms: number; p99Ms: number }> {
  const chunk = Buffer.concat(Array.from({ length: group }, (_, i) => encodeRecord(record(i))))
  const path = join(dir, `raw-${group}-${Date.now()}`)
  const file = await open(path, 'w', 0o600)
  const latencies: number[] = []
  let offset = 0
  const until = performance.now() + WINDOW_MS
  const started = performance.now()
  try {
    while (performance.now() < until) {
      const t0 = performance.now()
      await file.write(chunk, 0, chunk.length, offset)
      await file.datasync()
      latencies.push(performance.now() - t0)
      offset += chunk.length
    }
  } finally {
    await file.close()
  }
  const s = summarize(latencies)
  return { mbPerSec: offset / ((performance.now() - started) / 1000) / 1024 / 1024, p50Ms: s.p50, p99Ms: s.p99 }
}

/** Where a remote backend's peer listens: librdkafka's mock cluster, s3rver. */
interface Peer {
  kafka?: { brokers: string[] }
  s3?: { endpoint: string; bucket: string; region: string }
}

/** Starts the peer of `backend`. The helpers (and kafkajs, the AWS SDK) are imported only
 *  now, after the file rows: a gateway on the file log never loads them, and a heap that
 *  holds them makes every major GC longer, which showed in the file log's p99. */
async function startPeer(backend: 'kafka' | 's3', teardowns: Array<() => unknown>): Promise<Peer> {
  const t = {
    teardown: (fn: () => unknown) => {
      teardowns.push(fn)
    },
  }
  if (backend === 'kafka') {
    const { startTestKafka } = await import('../test/helpers/kafka.js')
    return { kafka: { brokers: (await startTestKafka(t)).brokers } }
  }
  const { startTestS3 } = await import('../test/helpers/s3.js')
  const s3 = await startTestS3(t)
  return { s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region } }
}

let runCounter = 0

/** A fresh, empty log of `backend` for one measured run. */
async function openFresh(backend: Backend, dir: string, peer: Peer): Promise<WriteLog> {
  const n = ++runCounter
  if (backend === 'file') {
    // Files are deleted only at the end: freeing a few hundred MB keeps the filesystem's
    // journal busy for a while, and the next run's syncs would wait for it.
    return openFileLog({ dir: mkdtempSync(join(dir, 'log-')) })
  }
  const { openWriteLog } = await import('../src/writelog/open.js')
  if (backend === 'kafka') {
    const kafka = peer.kafka as NonNullable<Peer['kafka']>
    return openWriteLog({ backend: 'kafka', kafka: { brokers: kafka.brokers, topic: `bench-${process.pid}-${n}` } })
  }
  const s3 = peer.s3 as NonNullable<Peer['s3']>
  return openWriteLog({
    backend: 's3',
    s3: { bucket: s3.bucket, prefix: `bench/${n}`, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true },
  })
}

interface RawFigures {
  mbPerSec: number
  p50Ms: number
  p99Ms: number
}
interface AppendRow {
  backend: Backend
  concurrency: number
  figures: AppendFigures
  raw: RawFigures
  rawMbPerSec: number
  ratio: number
  runs: AppendFigures[]
}

async function runLog(backend: Backend, dir: string, peer: Peer, concurrency: number): Promise<AppendFigures> {
  const log = await openFresh(backend, dir, peer)
  try {
    return await measureAppends(log, concurrency)
  } finally {
    await log.close()
  }
}

const medianOf = <T>(runs: T[], k: keyof T) => median(runs.map((r) => r[k] as number))

/** Raw write + fdatasync and the file log, alternating over rounds so drift hits both
 *  alike; then Kafka and S3, whose rows are set beside the same raw figures. */
async function partAppends(dir: string, teardowns: Array<() => unknown>): Promise<AppendRow[]> {
  const rows: AppendRow[] = []
  const raws = new Map<number, RawFigures>()
  const row = (backend: Backend, c: number, runs: AppendFigures[]) => {
    const figures = {
      appendsPerSec: medianOf(runs, 'appendsPerSec'),
      mbPerSec: medianOf(runs, 'mbPerSec'),
      p50Ms: medianOf(runs, 'p50Ms'),
      p99Ms: medianOf(runs, 'p99Ms'),
    }
    const raw = raws.get(c) as RawFigures
    rows.push({
      backend,
      concurrency: c,
      figures,
      raw,
      rawMbPerSec: raw.mbPerSec,
      ratio: figures.mbPerSec / raw.mbPerSec,
      runs,
    })
    process.stderr.write(
      `appends ${backend} c=${c}: ${figures.appendsPerSec.toFixed(0)}/s, ${figures.mbPerSec.toFixed(1)} MB/s, ` +
        `p50 ${figures.p50Ms.toFixed(2)} ms, p99 ${figures.p99Ms.toFixed(2)} ms; ` +
        `raw write+fdatasync ${raw.mbPerSec.toFixed(1)} MB/s, p99 ${raw.p99Ms.toFixed(2)} ms\n`,
    )
  }
  for (const c of CONCURRENCY) {
    const raw: RawFigures[] = []
    const file: AppendFigures[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const measureFile = BACKENDS.includes('file')
        ? async () => {
            file.push(await runLog('file', dir, {}, c))
          }
        : async () => {}
      if (round % 2 === 0) {
        raw.push(await measureRaw(dir, c))
        await measureFile()
      } else {
        await measureFile()
        raw.push(await measureRaw(dir, c))
      }
    }
    raws.set(c, { mbPerSec: medianOf(raw, 'mbPerSec'), p50Ms: medianOf(raw, 'p50Ms'), p99Ms: medianOf(raw, 'p99Ms') })
    if (file.length > 0) row('file', c, file)
  }
  for (const backend of ['kafka', 's3'] as const) {
    if (!BACKENDS.includes(backend)) continue
    const peer = await startPeer(backend, teardowns)
    for (const c of CONCURRENCY) {
      const runs: AppendFigures[] = []
      for (let round = 0; round < ROUNDS; round++) runs.push(await runLog(backend, dir, peer, c))
      row(backend, c, runs)
    }
  }
  return rows
}

async function startGateway(
  procs: Processes,
  dir: string,
  emulatorUrl: string,
  capture: boolean,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const config = join(dir, `gateway-${capture ? 'capture' : 'passthrough'}.yaml`)
  writeFileSync(
    config,
    [
      `migration: { id: bench, phase: ${capture ? 'capture' : 'passthrough'} }`,
      `source: { type: pinecone, index: bench, host: "${emulatorUrl}/data/bench", controllerHost: "${emulatorUrl}" }`,
      'gateway: { listen: { host: 127.0.0.1, port: 0 }, shutdownTimeoutMs: 2000 }',
      'admin: { enabled: false }',
      `writelog: { backend: file, file: { dir: "${mkdtempSync(join(dir, 'gwlog-'))}" } }`,
      // Each gateway its own control record: the phase is the config's, not a previous run's.
      `control: { dir: "${mkdtempSync(join(dir, 'control-'))}" }`,
      'log: { level: info }',
    ].join('\n'),
  )
  const child = procs.spawn(
    `gateway-${capture ? 'capture' : 'passthrough'}`,
    process.execPath,
    [...cliCommand(false).argv, 'gateway', '--config', config],
    { cwd: REPO, env: { ...process.env, VECSHIFT_SOURCE_API_KEY: API_KEY } },
  )
  const url = await child.waitFor('"gateway listening" line', 30_000, (line) => {
    const parsed = JSON.parse(line) as { msg?: unknown; url?: unknown }
    return parsed.msg === 'gateway listening' && typeof parsed.url === 'string' ? parsed.url : undefined
  })
  return { url, stop: () => child.stop() }
}

async function partGateway(procs: Processes, dir: string) {
  const env = { ...process.env, VECSHIFT_BENCH_API_KEY: API_KEY }
  const emulator = await startEmulator(procs, cliCommand(false), {
    index: 'bench',
    dimension: DIMENSION,
    apiKeyEnv: 'VECSHIFT_BENCH_API_KEY',
    env,
  })
  const generator = await Generator.start(procs)
  const headers = { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07', 'api-key': API_KEY }
  const rps: Record<'passthrough' | 'capture', number[]> = { passthrough: [], capture: [] }
  for (let round = 0; round < GATEWAY_ROUNDS; round++) {
    const order: Array<'passthrough' | 'capture'> =
      round % 2 === 0 ? ['passthrough', 'capture'] : ['capture', 'passthrough']
    for (const mode of order) {
      const gw = await startGateway(procs, dir, emulator.url, mode === 'capture')
      const result = await generator.run({
        origin: gw.url,
        basePath: '',
        headers,
        workload: 'upsert',
        mode: 'max',
        connections: 8,
        warmupMs: 500,
        durationMs: WINDOW_MS,
        timeoutMs: 30_000,
      })
      const failures =
        Object.values(result.non2xx).reduce((a, b) => a + b, 0) +
        Object.values(result.errors).reduce((a, b) => a + b, 0)
      if (failures > 0)
        throw new Error(
          `${mode}: ${failures} failed upserts ${JSON.stringify({ non2xx: result.non2xx, errors: result.errors })}`,
        )
      rps[mode].push(result.rps)
      process.stderr.write(`gateway ${mode} round ${round + 1}: ${result.rps.toFixed(1)} upserts/s\n`)
      await gw.stop()
    }
  }
  const ratios = rps.capture.map((c, i) => c / (rps.passthrough[i] as number))
  return {
    passthroughRps: median(rps.passthrough),
    captureRps: median(rps.capture),
    ratio: median(ratios),
    rounds: { passthroughRps: rps.passthrough, captureRps: rps.capture, ratios },
  }
}

async function main(): Promise<void> {
  const procs = new Processes()
  const teardowns: Array<() => unknown> = []
  // The log goes where a real deployment's would: the working disk, not a tmpfs.
  const dir = mkdtempSync(join(process.env.VECSHIFT_BENCH_DIR ?? tmpdir(), 'vecshift-bench-writelog-'))
  try {
    const appends = PARTS.has('appends') ? await partAppends(dir, teardowns) : []
    const gateway = PARTS.has('gateway') ? await partGateway(procs, dir) : undefined
    const lines: string[] = []
    if (appends.length > 0) {
      lines.push(
        '| backend | concurrency | appends/s | MB/s | p50 ms | p99 ms | raw write+fdatasync MB/s | raw p50 / p99 ms | log / raw MB/s |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...appends.map(
          (r) =>
            `| ${r.backend} | ${r.concurrency} | ${r.figures.appendsPerSec.toFixed(0)} ` +
            `| ${r.figures.mbPerSec.toFixed(1)} | ${r.figures.p50Ms.toFixed(2)} | ${r.figures.p99Ms.toFixed(2)} ` +
            `| ${r.raw.mbPerSec.toFixed(1)} | ${r.raw.p50Ms.toFixed(2)} / ${r.raw.p99Ms.toFixed(2)} | ${r.ratio.toFixed(2)}× |`,
        ),
      )
    }
    if (gateway !== undefined) {
      if (lines.length > 0) lines.push('')
      lines.push(
        '| gateway upserts (100 × 1536-d) | req/s |',
        '| --- | ---: |',
        `| passthrough | ${gateway.passthroughRps.toFixed(1)} |`,
        `| capture (file log) | ${gateway.captureRps.toFixed(1)} |`,
        `| **capture / passthrough** | **${gateway.ratio.toFixed(2)}×** |`,
      )
    }
    const at128 = appends.find((r) => r.backend === 'file' && r.concurrency === 128)
    const goals = {
      ...(at128 === undefined
        ? {}
        : {
            fileVsRawAt128: {
              goal: `>= ${GOAL.fileVsRaw}`,
              measured: round(at128.ratio, 3),
              met: at128.ratio >= GOAL.fileVsRaw,
            },
            p99At128Ms: {
              goal: `<= ${GOAL.p99Ms}`,
              measured: round(at128.figures.p99Ms, 3),
              met: at128.figures.p99Ms <= GOAL.p99Ms,
            },
          }),
      ...(gateway === undefined
        ? {}
        : {
            captureVsPassthrough: {
              goal: `>= ${GOAL.captureVsPassthrough}`,
              measured: round(gateway.ratio, 3),
              met: gateway.ratio >= GOAL.captureVsPassthrough,
            },
          }),
    }
    const table = lines.join('\n')
    process.stdout.write(`${table}\n\nGoals: ${JSON.stringify(goals)}\n`)
    const complete = BACKENDS.length === 3 && PARTS.has('appends') && PARTS.has('gateway')
    const out = {
      benchmark: 'writelog',
      date: new Date().toISOString(),
      quick,
      rounds: ROUNDS,
      gatewayRounds: GATEWAY_ROUNDS,
      windowMs: WINDOW_MS,
      machine: { cpus: cpus().length, node: process.version, dir },
      record: { dimension: DIMENSION, vectorsPerRecord: 1, frameBytes: encodeRecord(record(0)).length },
      peers: {
        kafka: 'librdkafka mock cluster (kcat -X test.mock.num.brokers=3), in memory',
        s3: 's3rver on this disk',
      },
      appends,
      gateway,
      goals,
      table,
    }
    // Only a full run replaces the committed figures; partial and quick runs are scratch.
    const name = quick || !complete ? 'writelog-partial.tmp' : 'writelog.json'
    writeFileSync(join(REPO, 'bench/results', name), `${JSON.stringify(out, null, 2)}\n`)
    process.stderr.write(`figures saved to bench/results/${name}\n`)
  } finally {
    await procs.stopAll()
    for (const fn of teardowns.reverse()) await fn()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
