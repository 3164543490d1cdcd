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
import { encodeRecord } from '../src/writelog/codec.js'
import { openFileLog } from '../src/writelog/file/file-log.js'
import type { UpsertRecord } from '../src/writelog/record.js'
import type { WriteLog } from '../src/writelog/contract.js'
import { DIMENSION } from './lib/bodies.js'
import { Generator } from './lib/generator.js'
import { Processes } from './lib/procs.js'
import { median, round, summarize } from './lib/stats.js'
import { cliCommand, REPO, startEmulator } from './lib/vecshift.js'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 1 : 3
const WINDOW_MS = quick ? 1000 : 3000
const CONCURRENCY = [1, 16, 128]
const GOAL = { fileVsRaw: 0.7, p99Ms: 5, captureVsPassthrough: 0.8 }
const API_KEY = 'bench-api-key'

function record(i: number): UpsertRecord {
  const values = new Float32Array(DIMENSION)
  for (let d = 0; d < DIMENSION; d++) values[d] = Math.sin(i * 31 + d) * 0.5
  return {
    op: 'upsert', instance: 'bench', seq: i, ts: Date.now(), apiVersion: '2026-07', requestId: `r${i}`, namespace: 'bench',
    vectors: [{ id: `id-${i % 5000}`, values, metadata: { source: 'bench', n: i } }],
  }
}

interface AppendFigures { appendsPerSec: number; mbPerSec: number; p50Ms: number; p99Ms: number }

// Built once: the benchmark measures the log, not the making of test vectors.
const POOL = Array.from({ length: 512 }, (_, i) => record(i))

async function measureAppends(log: WriteLog, concurrency: number): Promise<AppendFigures> {
  const latencies: number[] = []
  let bytes = 0
  let n = 0
  const frameBytes = encodeRecord(record(0)).length
  const until = performance.now() + WINDOW_MS
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const r = { ...(POOL[n % POOL.length] as UpsertRecord), seq: n++ }
      const t0 = performance.now()
      await log.append([r])
      latencies.push(performance.now() - t0)
      bytes += frameBytes
    }
  }))
  const seconds = (performance.now() - started) / 1000
  const s = summarize(latencies)
  return { appendsPerSec: latencies.length / seconds, mbPerSec: bytes / seconds / 1024 / 1024, p50Ms: s.p50, p99Ms: s.p99 }
}

/** Sequential writes of `group` records' bytes, each followed by fdatasync. */
async function measureRaw(dir: string, group: number): Promise<{ mbPerSec: number }> {
  const chunk = Buffer.concat(Array.from({ length: group }, (_, i) => encodeRecord(record(i))))
  const file = await open(join(dir, `raw-${group}-${Date.now()}`), 'w', 0o600)
  let offset = 0
  const until = performance.now() + WINDOW_MS
  const started = performance.now()
  try {
    while (performance.now() < until) {
      await file.write(chunk, 0, chunk.length, offset)
      await file.datasync()
      offset += chunk.length
    }
  } finally {
    await file.close()
  }
  return { mbPerSec: offset / ((performance.now() - started) / 1000) / 1024 / 1024 }
}

async function partAppends(dir: string) {
  const rows: Array<{ concurrency: number; file: AppendFigures; rawMbPerSec: number; ratio: number }> = []
  for (const c of CONCURRENCY) {
    const file: AppendFigures[] = []
    const raw: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      // Raw first and the log second, then the other way round: drift hits both.
      const logDir = mkdtempSync(join(dir, 'log-'))
      const runLog = async () => {
        const log = await openFileLog({ dir: logDir })
        try { file.push(await measureAppends(log, c)) } finally { await log.close() }
      }
      if (round % 2 === 0) { raw.push((await measureRaw(dir, c)).mbPerSec); await runLog() }
      else { await runLog(); raw.push((await measureRaw(dir, c)).mbPerSec) }
      rmSync(logDir, { recursive: true, force: true })
    }
    const pick = (k: keyof AppendFigures) => median(file.map((f) => f[k]))
    const figures = { appendsPerSec: pick('appendsPerSec'), mbPerSec: pick('mbPerSec'), p50Ms: pick('p50Ms'), p99Ms: pick('p99Ms') }
    const rawMbPerSec = median(raw)
    rows.push({ concurrency: c, file: figures, rawMbPerSec, ratio: figures.mbPerSec / rawMbPerSec })
    process.stderr.write(`appends c=${c}: ${figures.appendsPerSec.toFixed(0)}/s, ${figures.mbPerSec.toFixed(1)} MB/s (raw ${rawMbPerSec.toFixed(1)}), p99 ${figures.p99Ms.toFixed(2)} ms\n`)
  }
  return rows
}

async function startGateway(procs: Processes, dir: string, emulatorUrl: string, capture: boolean): Promise<{ url: string; stop: () => Promise<void> }> {
  const config = join(dir, `gateway-${capture ? 'capture' : 'passthrough'}.yaml`)
  writeFileSync(config, [
    `migration: { id: bench, phase: ${capture ? 'capture' : 'passthrough'} }`,
    `source: { type: pinecone, index: bench, host: "${emulatorUrl}/data/bench", controllerHost: "${emulatorUrl}" }`,
    'gateway: { listen: { host: 127.0.0.1, port: 0 }, shutdownTimeoutMs: 2000 }',
    'admin: { enabled: false }',
    `writelog: { backend: file, file: { dir: "${mkdtempSync(join(dir, 'gwlog-'))}" } }`,
    'log: { level: info }',
  ].join('\n'))
  const child = procs.spawn(`gateway-${capture ? 'capture' : 'passthrough'}`, process.execPath,
    [...cliCommand(false).argv, 'gateway', '--config', config], { cwd: REPO, env: { ...process.env, VECSHIFT_SOURCE_API_KEY: API_KEY } })
  const url = await child.waitFor('"gateway listening" line', 30_000, (line) => {
    const parsed = JSON.parse(line) as { msg?: unknown; url?: unknown }
    return parsed.msg === 'gateway listening' && typeof parsed.url === 'string' ? parsed.url : undefined
  })
  return { url, stop: () => child.stop() }
}

async function partGateway(procs: Processes, dir: string) {
  const env = { ...process.env, VECSHIFT_BENCH_API_KEY: API_KEY }
  const emulator = await startEmulator(procs, cliCommand(false), { index: 'bench', dimension: DIMENSION, apiKeyEnv: 'VECSHIFT_BENCH_API_KEY', env })
  const generator = await Generator.start(procs)
  const headers = { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07', 'api-key': API_KEY }
  const rps: Record<'passthrough' | 'capture', number[]> = { passthrough: [], capture: [] }
  for (let round = 0; round < ROUNDS; round++) {
    const order: Array<'passthrough' | 'capture'> = round % 2 === 0 ? ['passthrough', 'capture'] : ['capture', 'passthrough']
    for (const mode of order) {
      const gw = await startGateway(procs, dir, emulator.url, mode === 'capture')
      const result = await generator.run({
        origin: gw.url, basePath: '', headers, workload: 'upsert', mode: 'max', connections: 8,
        warmupMs: 500, durationMs: WINDOW_MS, timeoutMs: 30_000,
      })
      const failures = Object.values(result.non2xx).reduce((a, b) => a + b, 0) + Object.values(result.errors).reduce((a, b) => a + b, 0)
      if (failures > 0) throw new Error(`${mode}: ${failures} failed upserts ${JSON.stringify({ non2xx: result.non2xx, errors: result.errors })}`)
      rps[mode].push(result.rps)
      process.stderr.write(`gateway ${mode} round ${round + 1}: ${result.rps.toFixed(1)} upserts/s\n`)
      await gw.stop()
    }
  }
  const ratios = rps.capture.map((c, i) => c / (rps.passthrough[i] as number))
  return { passthroughRps: median(rps.passthrough), captureRps: median(rps.capture), ratio: median(ratios) }
}

async function main(): Promise<void> {
  const procs = new Processes()
  // The log goes where a real deployment's would: the working disk, not a tmpfs.
  const dir = mkdtempSync(join(process.env.VECSHIFT_BENCH_DIR ?? tmpdir(), 'vecshift-bench-writelog-'))
  try {
    const appends = await partAppends(dir)
    const gateway = await partGateway(procs, dir)
    const lines = [
      '| backend | concurrency | appends/s | MB/s | p50 ms | p99 ms | raw fdatasync MB/s | log / raw |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...appends.map((r) => `| file | ${r.concurrency} | ${r.file.appendsPerSec.toFixed(0)} | ${r.file.mbPerSec.toFixed(1)} | ${r.file.p50Ms.toFixed(2)} | ${r.file.p99Ms.toFixed(2)} | ${r.rawMbPerSec.toFixed(1)} | ${r.ratio.toFixed(2)}× |`),
      '',
      '| gateway upserts (100 × 1536-d) | req/s |',
      '| --- | ---: |',
      `| passthrough | ${gateway.passthroughRps.toFixed(1)} |`,
      `| capture (file log) | ${gateway.captureRps.toFixed(1)} |`,
      `| **capture / passthrough** | **${gateway.ratio.toFixed(2)}×** |`,
    ]
    const at128 = appends.find((r) => r.concurrency === 128)
    const goals = {
      fileVsRawAt128: { goal: `>= ${GOAL.fileVsRaw}`, measured: round(at128?.ratio ?? NaN, 3), met: (at128?.ratio ?? 0) >= GOAL.fileVsRaw },
      p99At128Ms: { goal: `<= ${GOAL.p99Ms}`, measured: round(at128?.file.p99Ms ?? NaN, 3), met: (at128?.file.p99Ms ?? Infinity) <= GOAL.p99Ms },
      captureVsPassthrough: { goal: `>= ${GOAL.captureVsPassthrough}`, measured: round(gateway.ratio, 3), met: gateway.ratio >= GOAL.captureVsPassthrough },
    }
    const table = lines.join('\n')
    process.stdout.write(`${table}\n\nGoals: ${JSON.stringify(goals)}\n`)
    const out = {
      benchmark: 'writelog', date: new Date().toISOString(), quick, rounds: ROUNDS, windowMs: WINDOW_MS,
      machine: { cpus: cpus().length, node: process.version, dir },
      record: { dimension: DIMENSION, vectorsPerRecord: 1, frameBytes: encodeRecord(record(0)).length },
      appends, gateway, goals, table,
    }
    writeFileSync(join(REPO, 'bench/results', quick ? 'writelog-quick.tmp' : 'writelog.json'), `${JSON.stringify(out, null, 2)}\n`)
  } finally {
    await procs.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
