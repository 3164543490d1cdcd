// npm run bench:shadow — what shadow reads cost the clients. Two capturing gateways in front
// of the same source emulator, with a second emulator as the target (the same data): one
// with shadow reads off, one shadowing every query (gateway.shadow.percent 100). Query load
// (1536-d, topK 10, over 2,000 vectors) at a fixed offered rate, the two gateways measured
// back to back in each round, order alternating; medians over rounds of p50 / p99 and of the
// per-round differences. The clients' latency should not move: the shadow request starts
// once the client has its answer. Saved to bench/results/shadow.json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { seedBodies } from './lib/bodies.js'
import { Generator } from './lib/generator.js'
import { Processes } from './lib/procs.js'
import { median, round } from './lib/stats.js'
import { cliCommand, REPO, startEmulator } from './lib/vecshift.js'

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '80' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write(`npm run bench:shadow -- [options]
  --rate R      queries per second offered to each gateway (default 80)
  --rounds N    rounds (default 5)
  --seconds S   measured seconds per run (default 5)
`)
  process.exit(0)
}
const RATE = Number(args.rate)
const ROUNDS = Number(args.rounds)
const SECONDS = Number(args.seconds)
const KEY = 'bench-shadow-key'
const log = (m: string) => process.stderr.write(`bench: ${m}\n`)

async function post(url: string, body: Buffer | string): Promise<number> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2026-07' },
    body,
  })
  await res.body.dump()
  return res.statusCode
}

async function main(): Promise<void> {
  const procs = new Processes()
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-bench-shadow-'))
  const cli = cliCommand(false)
  const env = {
    ...process.env,
    VECSHIFT_BENCH_API_KEY: KEY,
    VECSHIFT_SOURCE_API_KEY: KEY,
    VECSHIFT_TARGET_API_KEY: KEY,
  }
  try {
    log('starting the source and target emulators, seeding both with the same 2,000 vectors')
    const src = await startEmulator(procs, cli, {
      index: 'bench',
      dimension: 1536,
      apiKeyEnv: 'VECSHIFT_BENCH_API_KEY',
      env,
    })
    const dst = await startEmulator(procs, cli, {
      index: 'bench',
      dimension: 1536,
      apiKeyEnv: 'VECSHIFT_BENCH_API_KEY',
      env,
    })
    for (const body of seedBodies(2000)) {
      for (const e of [src, dst])
        if ((await post(`${e.url}${e.indexPath}/vectors/upsert`, body)) !== 200) throw new Error('seeding failed')
    }
    const gateways: Record<string, { url: string; adminUrl: string }> = {}
    for (const [name, percent] of [
      ['off', 0],
      ['shadow-100', 100],
    ] as const) {
      const config = join(dir, `${name}.yaml`)
      writeFileSync(
        config,
        [
          'migration: { id: bench, phase: capture }',
          `source: { type: pinecone, index: bench, host: "${src.url}${src.indexPath}", controllerHost: "${src.url}" }`,
          `target: { type: pinecone, index: bench, host: "${dst.url}${dst.indexPath}", controllerHost: "${dst.url}" }`,
          `gateway: { listen: { host: 127.0.0.1, port: 0 }, shutdownTimeoutMs: 2000, shadow: { percent: ${percent}, maxConcurrent: 16 } }`,
          'admin: { listen: { host: 127.0.0.1, port: 0 } }',
          `control: { dir: "${join(dir, `${name}-control`)}" }`,
          `writelog: { backend: file, file: { dir: "${join(dir, `${name}-log`)}" } }`,
          `rollback: { logDir: "${join(dir, `${name}-reverse`)}" }`,
          'log: { level: info }',
        ].join('\n'),
      )
      const child = procs.spawn(`gateway-${name}`, process.execPath, [...cli.argv, 'gateway', '--config', config], {
        cwd: REPO,
        env,
      })
      gateways[name] = await child.waitFor('"gateway listening" line', 30_000, (line) => {
        const p = JSON.parse(line) as { msg?: string; url?: string; adminUrl?: string }
        return p.msg === 'gateway listening' && p.url && p.adminUrl ? { url: p.url, adminUrl: p.adminUrl } : undefined
      })
    }
    const gen = await Generator.start(procs)
    const headers = { 'content-type': 'application/json', 'x-pinecone-api-version': '2026-07', 'api-key': KEY }
    const runs: Record<string, Array<{ p50: number; p99: number; rps: number; failures: number }>> = {
      off: [],
      'shadow-100': [],
    }
    const order = Object.keys(runs)
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of round % 2 === 0 ? order : [...order].reverse()) {
        const g = gateways[name] as { url: string }
        const r = await gen.run({
          origin: g.url,
          basePath: '',
          headers,
          workload: 'query',
          mode: 'rate',
          rate: RATE,
          connections: 16,
          warmupMs: 750,
          durationMs: SECONDS * 1000,
          timeoutMs: 10_000,
        })
        const failures =
          Object.values(r.non2xx).reduce((a, b) => a + b, 0) + Object.values(r.errors).reduce((a, b) => a + b, 0)
        runs[name]?.push({ p50: r.latency.p50, p99: r.latency.p99, rps: r.rps, failures })
        log(
          `round ${round + 1} ${name}: p50 ${r.latency.p50.toFixed(2)} ms, ` +
            `p99 ${r.latency.p99.toFixed(2)} ms, ${r.rps.toFixed(1)}/s, ${failures} failures`,
        )
      }
    }
    const shadowStatus = (await (
      await fetch(`${(gateways['shadow-100'] as { adminUrl: string }).adminUrl}/admin/status`)
    ).json()) as { shadow?: Record<string, unknown> }
    const med = (name: string, key: 'p50' | 'p99' | 'rps') => round(median((runs[name] ?? []).map((x) => x[key])), 2)
    const diff = (key: 'p50' | 'p99') =>
      round(median((runs.off ?? []).map((x, i) => (runs['shadow-100']?.[i]?.[key] ?? 0) - x[key])), 2)
    const figures = {
      benchmark: 'shadow',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      settings: {
        rate: RATE,
        rounds: ROUNDS,
        seconds: SECONDS,
        dimension: 1536,
        vectors: 2000,
        topK: 10,
        maxConcurrent: 16,
      },
      off: { p50: med('off', 'p50'), p99: med('off', 'p99'), rps: med('off', 'rps') },
      shadow: { p50: med('shadow-100', 'p50'), p99: med('shadow-100', 'p99'), rps: med('shadow-100', 'rps') },
      difference: { p50: diff('p50'), p99: diff('p99') },
      shadowComparisons: shadowStatus.shadow,
      failures: {
        off: (runs.off ?? []).reduce((a, x) => a + x.failures, 0),
        shadow: (runs['shadow-100'] ?? []).reduce((a, x) => a + x.failures, 0),
      },
      runs,
    }
    const table = [
      `| queries @ ${RATE}/s through a capturing gateway | p50 ms | p99 ms | req/s | failures |`,
      '| --- | ---: | ---: | ---: | ---: |',
      `| shadow reads off | ${figures.off.p50} | ${figures.off.p99} | ${figures.off.rps} | ${figures.failures.off} |`,
      `| every query shadowed to the target | ${figures.shadow.p50} | ${figures.shadow.p99} ` +
        `| ${figures.shadow.rps} | ${figures.failures.shadow} |`,
      `| **shadow − off (median of per-round differences)** | ` +
        `**${figures.difference.p50 >= 0 ? '+' : ''}${figures.difference.p50}** | ` +
        `**${figures.difference.p99 >= 0 ? '+' : ''}${figures.difference.p99}** | | |`,
      '',
      `Shadow comparisons made: ${JSON.stringify(shadowStatus.shadow)}. ` +
        `Medians of ${ROUNDS} rounds, ${cpus().length} CPUs, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
    ].join('\n')
    process.stdout.write(`${table}\n`)
    writeFileSync(join(REPO, 'bench/results/shadow.json'), `${JSON.stringify({ ...figures, table }, null, 2)}\n`)
    log('figures saved to bench/results/shadow.json')
  } finally {
    await procs.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
