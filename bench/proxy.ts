// npm run bench:proxy [-- --quick]
//
// Query and upsert traffic (1536 dimensions, upserts of 100) sent directly to the emulator,
// through nginx, and through the gateway, in one run: max requests/s (closed loop), p50 and
// p99 latency at one fixed offered load (open loop), errors, CPU per request, and the
// gateway's ratios to nginx. The three targets are interleaved within every round, in an
// order that rotates, so drift on a noisy machine hits them alike; figures are medians over
// rounds. See bench/README.md for the method.
import { spawnSync, execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import {
  DIMENSION,
  QUERY_NAMESPACE,
  UPSERT_BATCH,
  UPSERT_NAMESPACE,
  queryBodies,
  seedBodies,
  upsertBodies,
} from './lib/bodies.js'
import { Generator } from './lib/generator.js'
import { HostProbe, interference, sampleCpu, waitForQuiet, type Interference } from './lib/interference.js'
import type { RunSpec, Workload } from './lib/loadgen-protocol.js'
import { nginxBinary, startNginx } from './lib/nginx.js'
import { freePort } from './lib/net.js'
import { Processes, treeCpuMs, type Child } from './lib/procs.js'
import {
  GOAL,
  TARGETS,
  markdownTable,
  workloadFigures,
  type RunRecord,
  type Target,
  type WorkloadFigures,
} from './lib/report.js'
import { median, round, summarize } from './lib/stats.js'
import {
  REPO,
  cliCommand,
  describeSetup,
  startEmulator,
  startGateway,
  type GatewaySetup,
  type RunningGateway,
} from './lib/vecshift.js'

const INDEX = 'bench'
const API_KEY_ENV = 'VECSHIFT_BENCH_API_KEY'
const API_KEY = 'bench-api-key'
const API_VERSION = '2026-07'

interface Plan {
  rounds: number
  /** Untimed traffic to every target before the first round (JIT, connection pools). */
  initialWarmupMs: number
  max: { warmupMs: number; durationMs: number }
  /** Upserts get a longer window: at ~55 req/s, 6 s is ~330 samples, ~3 of them above p99. */
  rate: { warmupMs: number; durationMs: Record<Workload, number> }
  connections: Record<Workload, number>
  /** Open-loop connection ceiling (only as many are opened as the load needs). */
  rateConnections: number
  /** Offered load = this fraction of the slowest target's median max throughput. */
  rateFraction: number
  seedVectors: number
  /** A block (the three targets of one workload in one round) is measured again when other
   *  processes used more than this many cores during any of its runs. */
  quietThreshold: number
  /** A run is disturbed, too, when the host ran slower than this factor of its best (the
   *  memory-bound probe before or after it, or the emulator's CPU per query during it). */
  maxHostSlowdown: number
  maxBlockRetries: number
  /** Time that redone blocks may add to the whole run; past it, disturbed blocks are kept (flagged). */
  retryBudgetMs: number
  /** Longest wait for a quiet machine before one block, and over the whole benchmark. */
  maxQuietWaitMs: number
  quietWaitBudgetMs: number
  /** Distinct keys whose first request (and a second one) is timed in phase 3. */
  firstRequestKeys: number
}

const FULL: Plan = {
  rounds: 5,
  initialWarmupMs: 2_000,
  max: { warmupMs: 750, durationMs: 2_500 },
  rate: { warmupMs: 750, durationMs: { query: 5_000, upsert: 6_000 } },
  connections: { query: 16, upsert: 8 },
  rateConnections: 32,
  rateFraction: 0.6,
  seedVectors: 2_000,
  quietThreshold: 0.1,
  maxHostSlowdown: 1.15,
  maxBlockRetries: 2,
  retryBudgetMs: 120_000,
  maxQuietWaitMs: 20_000,
  quietWaitBudgetMs: 180_000,
  firstRequestKeys: 300,
}

const QUICK: Plan = {
  ...FULL,
  rounds: 2,
  initialWarmupMs: 1_000,
  max: { warmupMs: 400, durationMs: 1_500 },
  rate: { warmupMs: 400, durationMs: { query: 2_000, upsert: 2_500 } },
  maxBlockRetries: 1,
  retryBudgetMs: 10_000,
  maxQuietWaitMs: 5_000,
  quietWaitBudgetMs: 10_000,
}

function parseCli() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'from-source': { type: 'boolean', default: false },
      'nginx-buffering': { type: 'string', default: 'stream' },
      'rate-fraction': { type: 'string' },
      'query-rate': { type: 'string' },
      'upsert-rate': { type: 'string' },
      workloads: { type: 'string', default: 'query,upsert' },
      'profile-gateway': { type: 'string' },
      baseline: { type: 'boolean', default: false },
      cli: { type: 'string' },
      'gateway-node-flags': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
      'gateway-variant': { type: 'string', multiple: true },
      'gateway-output': { type: 'string' },
      'skip-max': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(`usage: npm run bench:proxy -- [options]
  --quick                  ~1 minute smoke run (2 short rounds); writes bench/results/proxy-quick.tmp
  --rounds N               rounds (default ${FULL.rounds})
  --no-build               measure the existing dist/ instead of running npm run build first
  --from-source            run the emulator and gateway from src/ via tsx (no build)
  --nginx-buffering M      stream (default, like the gateway) | buffer (nginx's store-and-forward)
  --rate-fraction F        fixed load = F x the slowest target's max req/s (default ${FULL.rateFraction})
  --query-rate R, --upsert-rate R   fixed load in req/s, instead of the fraction
  --workloads LIST         query,upsert (default both)
  --baseline               also measure a bare Node.js pass-through (bench/lib/passthrough.ts)
  --profile-gateway DIR    run the gateway with --cpu-prof, profiles written to DIR
  --cli FILE               entry script of the emulator and gateway (e.g. another checkout's
                           dist/cli/main.js), instead of this checkout's dist/; implies no build
  --gateway-node-flags=F   Node.js flags for the gateway process (note the =, since F starts
                           with a dash), e.g. --gateway-node-flags="--max-semi-space-size=4"
  --gateway-env K=V        environment for the gateway process (repeatable): VECSHIFT__* config
                           overrides (VECSHIFT__GATEWAY__UPSTREAM__CONNECTIONS=16), NODE_OPTIONS
  --gateway-variant SPEC   one more gateway process, measured as target gateway-NAME in the same
                           rounds (repeatable). SPEC: NAME[;node=FLAGS][;env=K=V]...[;cli=FILE]
                           e.g. "ss4;node=--max-semi-space-size=4"
  --gateway-output DIR     append each gateway's stdout/stderr to DIR/<target>.log (--trace-gc)
  --skip-max               no max-throughput phase; needs --query-rate / --upsert-rate
  --out FILE               JSON output (default bench/results/proxy.json)
`)
    process.exit(0)
  }
  const plan: Plan = { ...(values.quick ? QUICK : FULL) }
  if (values.rounds !== undefined) plan.rounds = Math.max(1, Math.floor(positive('--rounds', values.rounds)))
  if (values['rate-fraction'] !== undefined) plan.rateFraction = positive('--rate-fraction', values['rate-fraction'])
  const buffering = values['nginx-buffering']
  if (buffering !== 'stream' && buffering !== 'buffer') throw new Error('--nginx-buffering is stream or buffer')
  const workloads = (values.workloads ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)
  for (const w of workloads) if (w !== 'query' && w !== 'upsert') throw new Error(`unknown workload ${w}`)
  const fixedRate = {
    query: values['query-rate'] === undefined ? undefined : positive('--query-rate', values['query-rate']),
    upsert: values['upsert-rate'] === undefined ? undefined : positive('--upsert-rate', values['upsert-rate']),
  } as Record<Workload, number | undefined>
  const skipMax = values['skip-max'] ?? false
  if (skipMax && workloads.some((w) => fixedRate[w as Workload] === undefined))
    throw new Error('--skip-max needs --query-rate and --upsert-rate for the workloads measured')
  const gateway = {
    nodeFlags: splitFlags(values['gateway-node-flags'] ?? ''),
    env: parseEnv(values['gateway-env'] ?? [], '--gateway-env'),
  }
  const variants = (values['gateway-variant'] ?? []).map(parseVariant)
  const names = new Set<string>()
  for (const v of variants) {
    if (names.has(v.name)) throw new Error(`--gateway-variant ${v.name} given twice`)
    names.add(v.name)
  }
  return {
    quick: values.quick ?? false,
    plan,
    build: !values['no-build'] && !values['from-source'] && values.cli === undefined,
    fromSource: values['from-source'] ?? false,
    buffering: buffering as 'stream' | 'buffer',
    fixedRate,
    skipMax,
    cli: values.cli === undefined ? undefined : resolve(values.cli),
    gateway,
    variants,
    gatewayOutput: values['gateway-output'] === undefined ? undefined : resolve(values['gateway-output']),
    workloads: workloads as Workload[],
    baseline: values.baseline ?? false,
    profileDir: values['profile-gateway'] === undefined ? undefined : resolve(values['profile-gateway']),
    out: resolve(values.out ?? join(REPO, values.quick ? 'bench/results/proxy-quick.tmp' : 'bench/results/proxy.json')),
  }
}

function splitFlags(raw: string): string[] {
  return raw.split(/\s+/).filter(Boolean)
}

function parseEnv(pairs: readonly string[], flag: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new Error(`${flag} takes NAME=VALUE, got ${pair}`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

interface VariantSpec {
  readonly name: string
  readonly nodeFlags: string[]
  readonly env: Record<string, string>
  readonly cli: string | undefined
}

/** NAME[;node=FLAGS][;env=K=V]...[;cli=FILE] */
function parseVariant(raw: string): VariantSpec {
  const [name = '', ...parts] = raw.split(';')
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name))
    throw new Error(`--gateway-variant: bad name in ${raw} (letters, digits, . _ -)`)
  const nodeFlags: string[] = []
  const envPairs: string[] = []
  let cli: string | undefined
  for (const part of parts) {
    const eq = part.indexOf('=')
    const key = part.slice(0, eq)
    const value = part.slice(eq + 1)
    if (key === 'node') nodeFlags.push(...splitFlags(value))
    else if (key === 'env') envPairs.push(value)
    else if (key === 'cli') cli = resolve(value)
    else throw new Error(`--gateway-variant: unknown field ${part} in ${raw} (node=, env=, cli=)`)
  }
  return { name, nodeFlags, env: parseEnv(envPairs, '--gateway-variant env'), cli }
}

function positive(flag: string, raw: string): number {
  const n = Number(raw)
  if (!(n > 0)) throw new Error(`${flag} must be a positive number, got ${raw}`)
  return n
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`)
}

function run(command: string, args: string[], what: string): void {
  const out = spawnSync(command, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] })
  if (out.status !== 0)
    throw new Error(`${what} failed (${command} ${args.join(' ')} exited ${out.status ?? out.signal})`)
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO, encoding: 'utf8' }).trim()
    return dirty ? `${rev} (src/ modified)` : rev
  } catch {
    return 'unknown'
  }
}

/**
 * What confirming a key costs (auth mode passthrough): against an emulator that takes any
 * key, a gateway of its own, and for each of `keys` new keys, one query (its first request:
 * the key check and the query), the same query again (a cached verdict), and the same query
 * straight to the emulator; one at a time, so each figure is a single request's latency.
 */
async function measureFirstRequests(
  procs: Processes,
  cli: ReturnType<typeof cliCommand>,
  work: string,
  env: NodeJS.ProcessEnv,
  keys: number,
) {
  // An API key variable that is not set: this emulator accepts every key.
  const emulator = await startEmulator(procs, cli, {
    index: INDEX,
    dimension: DIMENSION,
    apiKeyEnv: 'VECSHIFT_BENCH_UNSET_KEY',
    env: { ...env, VECSHIFT_BENCH_UNSET_KEY: '' },
  })
  await seed(`${emulator.url}${emulator.indexPath}`, 200)
  const setup: GatewaySetup = { name: 'gateway-keycheck', cli, nodeFlags: [], env: {} }
  const gateway = await startGateway(procs, setup, {
    dir: work,
    index: INDEX,
    emulatorUrl: emulator.url,
    indexPath: emulator.indexPath,
    env,
  })
  const body = JSON.stringify({
    namespace: QUERY_NAMESPACE,
    topK: 10,
    vector: Array.from({ length: DIMENSION }, (_, i) => Math.sin(i)),
  })
  const timed = async (url: string, key: string): Promise<number> => {
    const start = process.hrtime.bigint()
    const res = await request(url, { method: 'POST', headers: { ...HEADERS, 'api-key': key }, body })
    await res.body.arrayBuffer()
    if (res.statusCode !== 200) throw new Error(`key-check phase: ${url} answered ${res.statusCode}`)
    return Number(process.hrtime.bigint() - start) / 1e6
  }
  // Untimed: connections and JIT warm, with a key of its own.
  for (let i = 0; i < 20; i++) await timed(`${gateway.url}/query`, `warm-${i}`)
  const first: number[] = []
  const cached: number[] = []
  const direct: number[] = []
  for (let i = 0; i < keys; i++) {
    const key = `bench-key-${i}-${Date.now()}`
    first.push(await timed(`${gateway.url}/query`, key))
    cached.push(await timed(`${gateway.url}/query`, key))
    direct.push(await timed(`${emulator.url}${emulator.indexPath}/query`, key))
  }
  const figures = (xs: number[]) => {
    const s = summarize(xs)
    return { p50: round(s.p50, 2), p99: round(s.p99, 2), mean: round(s.mean, 2) }
  }
  const out = {
    keys,
    method:
      'sequential: per new key, its first query through a passthrough gateway, the same query again, ' +
      'and the query straight to the emulator (which takes any key)',
    first: figures(first),
    cached: figures(cached),
    direct: figures(direct),
    firstMinusCachedP50Ms: round(median(first) - median(cached), 2),
  }
  await gateway.child.stop()
  await emulator.child.stop()
  return out
}

const HEADERS = {
  'content-type': 'application/json',
  'x-pinecone-api-version': API_VERSION,
  'api-key': API_KEY,
}

async function post(url: string, body: Buffer | string): Promise<{ status: number; json: unknown }> {
  const res = await request(url, { method: 'POST', headers: HEADERS, body })
  const text = await res.body.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.statusCode, json }
}

interface Endpoint {
  readonly target: Target
  readonly origin: string
  readonly basePath: string
  /** Processes whose CPU is the proxy's (none for direct). */
  readonly proxy: Child | undefined
}

async function seed(emulatorIndexUrl: string, vectors: number): Promise<void> {
  for (const body of seedBodies(vectors)) {
    const { status, json } = await post(`${emulatorIndexUrl}/vectors/upsert`, body)
    if (status !== 200) throw new Error(`seeding failed: ${status} ${JSON.stringify(json)}`)
  }
  const { status, json } = await post(`${emulatorIndexUrl}/describe_index_stats`, '{}')
  const stats = json as { totalVectorCount?: number | string }
  if (status !== 200 || Number(stats.totalVectorCount) < vectors) {
    throw new Error(`after seeding, describe_index_stats says ${status} ${JSON.stringify(json)}`)
  }
}

/** Every target must answer like Pinecone before it is timed: the same query gives the same
 *  matches on all three, and an upsert of 100 is acknowledged as 100. */
async function checkTargets(endpoints: Endpoint[]): Promise<void> {
  const [query] = queryBodies(1)
  const [upsert] = upsertBodies()
  let reference: string | undefined
  for (const e of endpoints) {
    const q = await post(`${e.origin}${e.basePath}/query`, query as Buffer)
    const matches = (q.json as { matches?: Array<{ id: string; score: number }> }).matches
    if (q.status !== 200 || !Array.isArray(matches) || matches.length !== 10) {
      throw new Error(`${e.target}: query answered ${q.status} ${JSON.stringify(q.json).slice(0, 300)}`)
    }
    const key = JSON.stringify(matches.map((m) => [m.id, m.score]))
    reference ??= key
    if (key !== reference) throw new Error(`${e.target}: query matches differ from the direct answer`)
    const u = await post(`${e.origin}${e.basePath}/vectors/upsert`, upsert as Buffer)
    if (u.status !== 200 || (u.json as { upsertedCount?: number }).upsertedCount !== UPSERT_BATCH) {
      throw new Error(`${e.target}: upsert answered ${u.status} ${JSON.stringify(u.json).slice(0, 300)}`)
    }
  }
}

/** How disturbed a run was: 1 is the limit, for foreign CPU and for host slowdown alike. */
function disturbance(i: Interference, plan: Plan): number {
  return Math.max(
    (i.foreignCores + i.stealCores) / plan.quietThreshold,
    ((i.hostSlowdown ?? 1) - 1) / (plan.maxHostSlowdown - 1),
  )
}

function interferenceNote(runs: RunRecord[], discarded: RunRecord[], plan: Plan): string {
  const redone = new Set(discarded.map((r) => `${r.phase}/${r.round}/${r.workload}`)).size
  const cpu = runs.filter((r) => r.interference.foreignCores + r.interference.stealCores > plan.quietThreshold).length
  const slow = runs.filter((r) => (r.interference.hostSlowdown ?? 1) > plan.maxHostSlowdown).length
  const worst = Math.max(0, ...runs.map((r) => r.interference.foreignCores + r.interference.stealCores))
  const worstSlow = Math.max(1, ...runs.map((r) => r.interference.hostSlowdown ?? 1))
  return (
    `Other processes on the machine: ${redone} block(s) re-measured; of ${runs.length} kept runs, ${cpu} ` +
    `saw more than ${plan.quietThreshold} cores of foreign CPU (worst ${worst.toFixed(2)}) and ${slow} a host ` +
    `more than ${plan.maxHostSlowdown}× slower than its best (worst ${worstSlow.toFixed(2)}×).`
  )
}

async function startBaseline(procs: Processes, upstream: string): Promise<{ child: Child; url: string }> {
  const script = join(REPO, 'bench/lib/passthrough.ts')
  const child = procs.spawn('node-baseline', process.execPath, ['--import', 'tsx', script, upstream], { cwd: REPO })
  const url = await child.waitFor(
    '"gateway listening" line',
    30_000,
    (line) => (JSON.parse(line) as { url?: string }).url,
  )
  return { child, url }
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length
  return items.map((_, i) => items[(i + by) % n] as T)
}

async function main(): Promise<void> {
  const options = parseCli()
  const { plan } = options
  const started = Date.now()
  const procs = new Processes()
  const work = mkdtempSync(join(tmpdir(), 'vecshift-bench-'))
  // Also on Ctrl-C, where Processes exits without returning here.
  process.on('exit', () => rmSync(work, { recursive: true, force: true }))
  try {
    log('checking dependencies (scripts/bench-deps.sh)')
    run('bash', [join(REPO, 'scripts/bench-deps.sh')], 'installing nginx')
    if (options.build) {
      log('building (npm run build)')
      run('npm', ['run', '--silent', 'build'], 'npm run build')
    }
    const cli = cliCommand(options.fromSource, options.cli)
    const env = { ...process.env, [API_KEY_ENV]: API_KEY, VECSHIFT_SOURCE_API_KEY: API_KEY }

    log(`starting the emulator (${cli.describe})`)
    const emulator = await startEmulator(procs, cli, {
      index: INDEX,
      dimension: DIMENSION,
      apiKeyEnv: API_KEY_ENV,
      env,
    })
    const emulatorHostPort = new URL(emulator.url).host
    log(`seeding ${plan.seedVectors} vectors into ${INDEX} (namespace ${QUERY_NAMESPACE})`)
    await seed(`${emulator.url}${emulator.indexPath}`, plan.seedVectors)

    const binary = nginxBinary()
    const nginx = await startNginx(procs, binary, {
      prefix: join(work, 'nginx'),
      port: await freePort(),
      upstream: emulatorHostPort,
      basePath: emulator.indexPath,
      buffering: options.buffering,
    })
    log(`${nginx.version} listening at ${nginx.url}`)

    const profileFlags = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir]
    if (options.profileDir !== undefined) mkdirSync(options.profileDir, { recursive: true })
    if (options.gatewayOutput !== undefined) mkdirSync(options.gatewayOutput, { recursive: true })
    const setups: GatewaySetup[] = [
      { name: 'gateway', cli, nodeFlags: [...profileFlags, ...options.gateway.nodeFlags], env: options.gateway.env },
      ...options.variants.map((v) => ({
        name: `gateway-${v.name}`,
        cli: v.cli === undefined ? cli : cliCommand(false, v.cli),
        nodeFlags: [...profileFlags, ...v.nodeFlags],
        env: v.env,
      })),
    ]
    const gateways: Array<{ setup: GatewaySetup; running: RunningGateway }> = []
    for (const setup of setups) {
      const running = await startGateway(procs, setup, {
        dir: work,
        index: INDEX,
        emulatorUrl: emulator.url,
        indexPath: emulator.indexPath,
        env,
        ...(options.gatewayOutput === undefined
          ? {}
          : { outputFile: join(options.gatewayOutput, `${setup.name}.log`) }),
      })
      gateways.push({ setup, running })
      log(`${setup.name} listening at ${running.url} (${describeSetup(setup)})`)
    }
    const gateway = (gateways[0] as { running: RunningGateway }).running

    const baseline = options.baseline ? await startBaseline(procs, `${emulator.url}${emulator.indexPath}`) : undefined
    if (baseline) log(`node-baseline (bench/lib/passthrough.ts) listening at ${baseline.url}`)

    const generator = await Generator.start(procs)
    log(`bodies: query ${generator.bodyBytes.query} B, upsert ${generator.bodyBytes.upsert} B`)

    const endpoints: Partial<Record<Target, Endpoint>> = {
      direct: { target: 'direct', origin: emulator.url, basePath: emulator.indexPath, proxy: undefined },
      nginx: { target: 'nginx', origin: nginx.url, basePath: '', proxy: nginx.child },
      gateway: { target: 'gateway', origin: gateway.url, basePath: '', proxy: gateway.child },
      ...(baseline
        ? {
            'node-baseline': {
              target: 'node-baseline' as const,
              origin: baseline.url,
              basePath: '',
              proxy: baseline.child,
            },
          }
        : {}),
    }
    for (const { setup, running } of gateways.slice(1)) {
      const target = setup.name as Target
      endpoints[target] = { target, origin: running.url, basePath: '', proxy: running.child }
    }
    const measured: Target[] = [
      ...TARGETS,
      ...(baseline ? ['node-baseline' as const] : []),
      ...gateways.slice(1).map((g) => g.setup.name as Target),
    ]
    const endpoint = (t: Target): Endpoint => {
      const e = endpoints[t]
      if (e === undefined) throw new Error(`no endpoint for ${t}`)
      return e
    }
    await checkTargets(measured.map(endpoint))
    log(`all ${measured.length} targets answer alike (same query matches, upsert acknowledged)`)

    const probe = new HostProbe()
    for (let i = 0; i < 5; i++) probe.measure()
    log(`host probe: ${probe.bestMs.toFixed(1)} ms at best`)
    /** Lowest emulator CPU per query so far, by phase: a run far above it ran on a slow host. */
    const emulatorBest: Record<string, number> = {}

    const runs: RunRecord[] = []
    /** Blocks measured again because something else took CPU: kept for the record. */
    const discarded: RunRecord[] = []
    let quietWaitedMs = 0
    let retriedMs = 0
    const measure = async (
      phase: 'max' | 'rate',
      round: number,
      position: number,
      attempt: number,
      workload: Workload,
      target: Target,
      rate?: number,
    ): Promise<RunRecord> => {
      const e = endpoint(target)
      const spec: RunSpec = {
        origin: e.origin,
        basePath: e.basePath,
        headers: HEADERS,
        workload,
        mode: phase,
        connections: phase === 'max' ? plan.connections[workload] : plan.rateConnections,
        ...(rate === undefined ? {} : { rate }),
        warmupMs: phase === 'max' ? plan.max.warmupMs : plan.rate.warmupMs,
        durationMs: phase === 'max' ? plan.max.durationMs : plan.rate.durationMs[workload],
        timeoutMs: 30_000,
      }
      const before = probe.slowdown()
      const machine0 = sampleCpu()
      const cpu0 = {
        emulator: treeCpuMs(emulator.child.pid),
        proxy: e.proxy ? treeCpuMs(e.proxy.pid) : 0,
        generator: treeCpuMs(generator.child.pid),
      }
      const result = await generator.run(spec)
      const cpuMs = {
        emulator: treeCpuMs(emulator.child.pid) - cpu0.emulator,
        proxy: e.proxy ? treeCpuMs(e.proxy.pid) - cpu0.proxy : 0,
        generator: treeCpuMs(generator.child.pid) - cpu0.generator,
      }
      const cpuSeen = interference(machine0, sampleCpu())
      const after = probe.slowdown()
      let emulatorSlowdown = 1
      if (workload === 'query' && result.total > 0) {
        const perQuery = cpuMs.emulator / result.total
        emulatorBest[phase] = Math.min(emulatorBest[phase] ?? Infinity, perQuery)
        emulatorSlowdown = perQuery / (emulatorBest[phase] as number)
      }
      const seen: Interference = {
        ...cpuSeen,
        hostSlowdown: Math.round(Math.max(before, after, emulatorSlowdown) * 1000) / 1000,
      }
      for (const child of [
        emulator.child,
        nginx.child,
        ...gateways.map((g) => g.running.child),
        ...(baseline ? [baseline.child] : []),
      ]) {
        if (!child.running) throw new Error(`${child.name} died during the benchmark\n${child.tail()}`)
      }
      return {
        phase,
        round,
        position,
        workload,
        target,
        ...(rate === undefined ? {} : { rate }),
        result,
        cpuMs,
        interference: seen,
        attempt,
      }
    }
    const describe = (r: RunRecord) => {
      const x = r.result
      const fails =
        Object.values(x.non2xx)
          .concat(Object.values(x.errors))
          .reduce((a, b) => a + b, 0) + x.dropped
      const lat = `p50 ${x.latency.p50.toFixed(2).padStart(6)} p99 ${x.latency.p99.toFixed(2).padStart(6)} ms`
      const noise = r.interference.foreignCores + r.interference.stealCores
      const slow = r.interference.hostSlowdown ?? 1
      return (
        `${r.phase.padEnd(4)} r${r.round}${r.attempt > 1 ? `#${r.attempt}` : '  '} ` +
        `${r.workload.padEnd(6)} ${r.target.padEnd(13)} ${x.rps.toFixed(1).padStart(6)} req/s  ${lat}` +
        `  cpu ms: emu ${r.cpuMs.emulator.toFixed(0)} proxy ${r.cpuMs.proxy.toFixed(0)} gen ${r.cpuMs.generator.toFixed(0)}` +
        `  other ${noise.toFixed(2)} cores, host ${slow.toFixed(2)}x` +
        `${disturbance(r.interference, plan) > 1 ? ' DISTURBED' : ''}${fails ? `  FAILURES ${fails}` : ''}`
      )
    }
    /** The three targets of one workload, back to back, in an order that rotates each round.
     *  Redone as a whole when other processes took CPU during any of its runs, so the three
     *  stay comparable with each other. */
    const block = async (phase: 'max' | 'rate', round: number, workload: Workload, rate?: number): Promise<void> => {
      let best: RunRecord[] | undefined
      let bestNoise = Infinity
      for (let attempt = 1; attempt <= plan.maxBlockRetries + 1; attempt++) {
        const attemptStart = performance.now()
        const budget = plan.quietWaitBudgetMs - quietWaitedMs
        if (budget > 0) {
          const { waitedMs, seen } = await waitForQuiet(
            plan.quietThreshold,
            Math.min(plan.maxQuietWaitMs, budget),
            probe,
            1 + (plan.maxHostSlowdown - 1) / 2,
          )
          quietWaitedMs += waitedMs
          if (waitedMs > 1_000)
            log(
              `waited ${(waitedMs / 1000).toFixed(1)} s for other processes to settle ` +
                `(now ${seen.foreignCores.toFixed(2)} cores, host ${(seen.hostSlowdown ?? 1).toFixed(2)}x)`,
            )
        }
        const records: RunRecord[] = []
        let position = 0
        for (const target of rotate(measured, round - 1)) {
          const record = await measure(phase, round, position++, attempt, workload, target, rate)
          records.push(record)
          log(describe(record))
        }
        const noise = Math.max(...records.map((r) => disturbance(r.interference, plan)))
        if (noise < bestNoise) {
          if (best) discarded.push(...best)
          best = records
          bestNoise = noise
        } else {
          discarded.push(...records)
        }
        if (attempt > 1) retriedMs += performance.now() - attemptStart
        if (noise <= 1) break
        if (retriedMs >= plan.retryBudgetMs) {
          log('block disturbed, but the time for re-measuring is spent; keeping it (flagged in the JSON)')
          break
        }
        if (attempt <= plan.maxBlockRetries)
          log(`block disturbed (other processes or a slow host, ${noise.toFixed(1)}x the limit); measuring it again`)
        else log('block still disturbed after retries; keeping its least disturbed attempt (flagged in the JSON)')
      }
      runs.push(...(best ?? []))
    }

    // Untimed: warms the JIT of every process and the connection pools along every path.
    log('warming up every target')
    for (const workload of options.workloads) {
      for (const target of measured) {
        await generator.run({
          origin: endpoint(target).origin,
          basePath: endpoint(target).basePath,
          headers: HEADERS,
          workload,
          mode: 'max',
          connections: plan.connections[workload],
          warmupMs: 0,
          durationMs: plan.initialWarmupMs,
          timeoutMs: 30_000,
        })
      }
    }

    if (options.skipMax) {
      log('phase 1 skipped (--skip-max)')
    } else {
      log(`phase 1: max throughput, ${plan.rounds} rounds`)
      for (let round = 1; round <= plan.rounds; round++) {
        for (const workload of options.workloads) await block('max', round, workload)
      }
    }

    const rates = {} as Record<Workload, number>
    for (const workload of options.workloads) {
      const slowest = Math.min(
        ...measured.map((t) =>
          median(
            runs.filter((r) => r.phase === 'max' && r.workload === workload && r.target === t).map((r) => r.result.rps),
          ),
        ),
      )
      const fixed = options.fixedRate[workload]
      rates[workload] = fixed ?? Math.max(1, Math.round(slowest * plan.rateFraction))
      log(
        `${workload}: fixed offered load ${rates[workload]} req/s ` +
          `(${fixed === undefined ? `${plan.rateFraction} x the slowest target's ${slowest.toFixed(1)} req/s` : 'set by flag'})`,
      )
    }

    log(`phase 2: latency at a fixed offered load, ${plan.rounds} rounds`)
    for (let round = 1; round <= plan.rounds; round++) {
      for (const workload of options.workloads) await block('rate', round, workload, rates[workload])
    }

    log(
      `phase 3: a key's first request (auth mode passthrough confirms each new key with the source once), ${plan.firstRequestKeys} keys`,
    )
    const firstRequest = await measureFirstRequests(procs, cli, work, env, plan.firstRequestKeys)
    log(
      `first request of a key: p50 ${firstRequest.first.p50} ms, p99 ${firstRequest.first.p99} ms; ` +
        `the same key again: p50 ${firstRequest.cached.p50} ms, p99 ${firstRequest.cached.p99} ms; ` +
        `direct: p50 ${firstRequest.direct.p50} ms`,
    )

    const figures: Partial<Record<Workload, WorkloadFigures>> = {}
    for (const workload of options.workloads)
      figures[workload] = workloadFigures(
        runs.filter((r) => r.workload === workload),
        rates[workload],
        measured,
      )

    const date = new Date().toISOString()
    const cpuList = cpus()
    const machine = {
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      kernel: release(),
      node: process.version,
      nginx: nginx.version,
      loadAverageAtEnd: loadavg().map((v) => round(v, 2)),
    }
    const table = markdownTable(figures, {
      rounds: plan.rounds,
      nginxVersion: nginx.version,
      nginxMode:
        options.buffering === 'stream' ? 'bodies streamed both ways, as the gateway does' : 'bodies buffered in memory',
      nodeVersion: process.version,
      cpus: machine.cpus,
      date,
      bodyBytes: generator.bodyBytes,
      connections: plan.connections,
      extraNotes: [interferenceNote(runs, discarded, plan)],
    })
    const report = {
      benchmark: 'proxy',
      date,
      quick: options.quick,
      revision: gitRevision(),
      elapsedSeconds: round((Date.now() - started) / 1000, 1),
      machine,
      goal: GOAL,
      method: {
        rounds: plan.rounds,
        order: 'per round: query then upsert; within each, direct, nginx, gateway rotated by one position every round',
        interference:
          `a block (the targets of 1 workload in 1 round) is redone, up to ${plan.maxBlockRetries} times, ` +
          `when other processes used more than ${plan.quietThreshold} cores during any of its runs, ` +
          `or the host ran more than ${plan.maxHostSlowdown}x slower than its best ` +
          '(memory-bound probe before and after each run; emulator CPU per query); ' +
          `before each block the driver waits (up to ${plan.maxQuietWaitMs / 1000} s, ` +
          `${plan.quietWaitBudgetMs / 1000} s in all) for a quiet machine and a fast host; ` +
          `redone blocks may add at most ${plan.retryBudgetMs / 1000} s`,
        maxThroughput: options.skipMax
          ? 'skipped (--skip-max)'
          : {
              loop: 'closed',
              connections: plan.connections,
              warmupMs: plan.max.warmupMs,
              durationMs: plan.max.durationMs,
            },
        fixedLoad: {
          loop: 'open, constant inter-arrival time',
          rateFraction: plan.rateFraction,
          maxConnections: plan.rateConnections,
          warmupMs: plan.rate.warmupMs,
          durationMs: plan.rate.durationMs,
          samplesPerRun: Object.fromEntries(
            options.workloads.map((w) => [w, Math.round((rates[w] * plan.rate.durationMs[w]) / 1000)]),
          ),
          latency: 'from handing the request to the client pool to the last response byte, 2xx only',
        },
        initialWarmupMs: plan.initialWarmupMs,
        seedVectors: plan.seedVectors,
        dimension: DIMENSION,
        upsertBatch: UPSERT_BATCH,
        namespaces: { query: QUERY_NAMESPACE, upsert: UPSERT_NAMESPACE },
        bodyBytes: generator.bodyBytes,
        headers: { 'content-type': 'application/json', 'x-pinecone-api-version': API_VERSION, 'api-key': '(set)' },
        processes: {
          emulator: `${cli.describe}: emulator --create-index ${INDEX}:${DIMENSION}:cosine`,
          gateway:
            `${describeSetup(setups[0] as GatewaySetup)}: ` +
            `gateway (passthrough, defaults; log level info, no per-request logging)` +
            `${options.profileDir ? ' with --cpu-prof' : ''}`,
          ...Object.fromEntries(setups.slice(1).map((s) => [s.name, describeSetup(s)])),
          nginx:
            `${nginx.version}, worker_processes 1, upstream keepalive 64, ` +
            (options.buffering === 'stream'
              ? 'proxy_request_buffering off, proxy_buffering off'
              : 'proxy_request_buffering on, proxy_buffering on, client_body_buffer_size 4m'),
          loadGenerator: 'bench/lib/loadgen.ts in its own Node process (undici Pool)',
          ...(baseline
            ? { nodeBaseline: 'bench/lib/passthrough.ts: node:http + undici Pool(128), streaming, no framework' }
            : {}),
        },
      },
      results: figures,
      firstRequest,
      table,
      interference: {
        threshold: plan.quietThreshold,
        maxHostSlowdown: plan.maxHostSlowdown,
        hostProbeBestMs: round(probe.bestMs, 1),
        hostSlowRuns: runs.filter((r) => (r.interference.hostSlowdown ?? 1) > plan.maxHostSlowdown).length,
        blocksRedone: new Set(discarded.map((r) => `${r.phase}/${r.round}/${r.workload}`)).size,
        stillDisturbedRuns: runs.filter(
          (r) => r.interference.foreignCores + r.interference.stealCores > plan.quietThreshold,
        ).length,
        quietWaitSeconds: round(quietWaitedMs / 1000, 1),
        remeasureSeconds: round(retriedMs / 1000, 1),
      },
      runs: runs.map((r) => ({ ...r, result: { ...r.result, samples: undefined } })),
      discardedRuns: discarded.map((r) => ({ ...r, result: { ...r.result, samples: undefined } })),
    }
    mkdirSync(dirname(options.out), { recursive: true })
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`)

    process.stdout.write(`\n${table}\n\n`)
    log(`figures saved to ${options.out} (${report.elapsedSeconds} s)`)
    for (const workload of options.workloads) {
      const c = figures[workload]?.gatewayVsNginx
      if (c === undefined) continue
      log(
        `${workload}: gateway/nginx throughput ${c.throughputRatio.toFixed(2)}x (goal >= ${GOAL.minThroughputRatio}), ` +
          `p99 ${c.p99DeltaMs >= 0 ? '+' : ''}${c.p99DeltaMs.toFixed(2)} ms (goal <= +${GOAL.maxP99DeltaMs}): ` +
          `${c.meetsThroughputGoal && c.meetsP99Goal ? 'target met' : 'target MISSED'}`,
      )
      for (const [variant, v] of Object.entries(figures[workload]?.variantsVsNginx ?? {})) {
        log(
          `${workload}: ${variant}/nginx throughput ${v.throughputRatio.toFixed(2)}x, ` +
            `p99 ${v.p99DeltaMs >= 0 ? '+' : ''}${v.p99DeltaMs.toFixed(2)} ms ` +
            `(pooled ${v.p99DeltaPooledMs >= 0 ? '+' : ''}${v.p99DeltaPooledMs.toFixed(2)} ms)`,
        )
      }
    }
  } finally {
    await procs.stopAll()
    rmSync(work, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
