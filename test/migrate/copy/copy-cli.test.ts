// `vecshift copy` as an operator runs it: a child process (dist/cli/main.js, built by
// `npm test`) copying between two emulator indexes, killed with SIGKILL mid-copy, then run
// again with --resume: the copy completes, nothing is missing, and only the batches that were
// in flight are copied twice.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pgClient from 'pg'
import t from 'tap'
import { request } from 'undici'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestPostgres } from '../../helpers/pglite.js'
import { until } from '../../helpers/until.js'

const CLI = new URL('../../../dist/cli/main.js', import.meta.url).pathname
const KEY = 'copy-cli-key'
const emu = await startTestEmulator(t, { apiKey: KEY })

async function createIndex(name: string): Promise<PineconeStore> {
  const res = await request(`${emu.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({
      name,
      dimension: 8,
      metric: 'cosine',
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    }),
  })
  await res.body.dump()
  const store = new PineconeStore({
    role: 'test',
    index: name,
    host: emu.indexHost(name),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => store.close())
  return store
}

function runCopy(config: string, args: string[]) {
  const child = spawn(process.execPath, [CLI, 'copy', '--config', config, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, exited, out: () => stdout, err: () => stderr }
}

t.test('copy CLI: SIGKILL mid-copy, then --resume completes it, re-copying only batches in flight', async (t) => {
  const source = await createIndex('cli-source')
  const target = await createIndex('cli-target')
  const records = Array.from({ length: 1500 }, (_, i) => ({
    id: `r${String(i).padStart(5, '0')}`,
    values: Float32Array.from({ length: 8 }, (_, d) => Math.cos(i + d)),
    metadata: { i },
  }))
  await source.upsert('', records.slice(0, 1000))
  await source.upsert('ns2', records.slice(1000))
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-copy-cli-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: cli-copy }',
      `source: { type: pinecone, index: cli-source, host: "${emu.indexHost('cli-source')}", controllerHost: "${emu.url}" }`,
      `target: { type: pinecone, index: cli-target, host: "${emu.indexHost('cli-target')}", controllerHost: "${emu.url}" }`,
      `copy: { checkpointDir: "${join(dir, 'ckpt')}", concurrency: 3, batchSize: 20, maxRequestsPerSec: 40 }`,
      'log: { level: warn }',
    ].join('\n'),
  )
  const checkpointPath = join(dir, 'ckpt', 'cli-copy.copy.json')
  const upsertsBefore = emu.stats().byIndex['cli-target']?.upsert ?? 0

  const first = runCopy(config, [])
  // Kill it once the checkpoint shows real progress, well before the end.
  await until(
    () => {
      if (!existsSync(checkpointPath)) return false
      const cp = JSON.parse(readFileSync(checkpointPath, 'utf8')) as { namespaces: Record<string, { copied: number }> }
      return (cp.namespaces['']?.copied ?? 0) >= 300
    },
    { timeoutMs: 15_000, intervalMs: 50, what: 'the checkpoint to show 300 records copied' },
  )
  first.child.kill('SIGKILL')
  const [, signal] = await first.exited
  t.equal(signal, 'SIGKILL', 'the copy was killed')
  const progressLines = first
    .err()
    .split('\n')
    .filter((l) => l.startsWith('{"progress"'))
  t.ok(progressLines.length >= 1, 'JSON progress lines on stderr when not a terminal')
  t.match(JSON.parse(progressLines[0] as string), { progress: 'copy', total: 1500 })
  const atKill = (await target.stats()).reduce((n, s) => n + s.vectorCount, 0)
  t.ok(atKill > 0 && atKill < 1500, `part copied at the kill (${atKill})`)

  const refused = runCopy(config, [])
  const [code] = await refused.exited
  t.equal(code, 2, 'without --resume an existing checkpoint is refused')
  t.match(refused.err(), /run again with --resume to continue it/)

  const second = runCopy(config, ['--resume', '--json'])
  const [code2] = await second.exited
  t.equal(code2, 0, second.err())
  const summary = JSON.parse(second.out()) as { copied: number; resumed: boolean; namespaces: unknown[] }
  t.equal(summary.copied, 1500)
  t.equal(summary.resumed, true)
  t.same(summary.namespaces, [
    { namespace: '', copied: 1000 },
    { namespace: 'ns2', copied: 500 },
  ])
  t.same(await target.stats(), [
    { namespace: '', vectorCount: 1000 },
    { namespace: 'ns2', vectorCount: 500 },
  ])
  const got = await target.fetch(
    '',
    records.slice(0, 1000).map((r) => r.id),
  )
  t.equal(got.size, 1000, 'no record missing')
  // 75 batches of 20 in all; at most `concurrency` (3) of them were in flight at the kill.
  const upserts = (emu.stats().byIndex['cli-target']?.upsert ?? 0) - upsertsBefore
  t.ok(upserts <= 75 + 3, `${upserts} upsert requests for 75 batches`)

  const third = runCopy(config, ['--resume'])
  const [code3] = await third.exited
  t.equal(code3, 0)
  t.match(third.out(), /already finished/)
})

t.test('copy CLI: collection strategy killed while the new index restores, then --resume finishes it', async (t) => {
  // Its own emulator: a collection takes 0.3 s to save and the index 2.5 s to restore.
  const e = await startTestEmulator(t, { apiKey: KEY, collectionDelayMs: 300, restoreDelayMs: 2_500 })
  const created = await request(`${e.url}/indexes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'api-key': KEY, 'x-pinecone-api-version': '2025-04' },
    body: JSON.stringify({
      name: 'pod-src',
      dimension: 4,
      metric: 'cosine',
      spec: { pod: { environment: 'us-east-1-aws', pod_type: 'p1.x1', pods: 1 } },
    }),
  })
  await created.body.dump()
  const source = new PineconeStore({
    role: 'test',
    index: 'pod-src',
    host: e.indexHost('pod-src'),
    controllerHost: e.url,
    apiKey: KEY,
  })
  t.teardown(() => source.close())
  const records = Array.from({ length: 300 }, (_, i) => ({
    id: `p${i}`,
    values: Float32Array.from({ length: 4 }, (_, d) => Math.sin(i + d)),
    metadata: { i },
  }))
  await source.upsert('', records.slice(0, 200))
  await source.upsert('b', records.slice(200))
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-copy-cli-coll-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: pod-move }',
      `source: { type: pinecone, index: pod-src, host: "${e.indexHost('pod-src')}", controllerHost: "${e.url}" }`,
      // No target host: the new index's host is learned from the control plane.
      `target: { type: pinecone, index: sl-dst, controllerHost: "${e.url}" }`,
      `copy: { checkpointDir: "${join(dir, 'ckpt')}", createTarget: true, ` +
        'collection: { cloud: aws, region: us-east-1, pollIntervalMs: 50 } }',
      'log: { level: warn }',
    ].join('\n'),
  )
  const checkpointPath = join(dir, 'ckpt', 'pod-move.copy.json')
  const first = runCopy(config, [])
  await until(
    () =>
      existsSync(checkpointPath) &&
      (JSON.parse(readFileSync(checkpointPath, 'utf8')) as { collection?: { indexCreated?: boolean } }).collection
        ?.indexCreated === true,
    { timeoutMs: 10_000, intervalMs: 25, what: 'the checkpoint to record the new index created' },
  )
  first.child.kill('SIGKILL')
  const [, signal] = await first.exited
  t.equal(signal, 'SIGKILL')
  t.match(JSON.parse(readFileSync(checkpointPath, 'utf8')), {
    strategy: 'collection',
    collection: { name: 'vecshift-pod-move', created: true, indexCreated: true },
  })
  t.match(first.err(), /"phase":"(saving collection|restoring index)"/, 'progress names the step it waits on')

  const second = runCopy(config, ['--resume', '--json'])
  const [code] = await second.exited
  t.equal(code, 0, second.err())
  t.match(JSON.parse(second.out()), {
    strategy: 'collection',
    resumed: true,
    copied: 300,
    namespaces: [
      { namespace: '', copied: 200 },
      { namespace: 'b', copied: 100 },
    ],
  })
  const target = new PineconeStore({ role: 'test', index: 'sl-dst', controllerHost: e.url, apiKey: KEY })
  t.teardown(() => target.close())
  t.match(await target.describe(), { kind: 'pinecone-serverless', dimension: 4 })
  const got = await target.fetch(
    '',
    records.slice(0, 200).map((r) => r.id),
  )
  t.equal(got.size, 200, 'no record missing')
  t.same(Array.from(got.get('p7')?.values ?? []), Array.from(records[7]?.values ?? []))
  t.equal(e.stats().byIndex['sl-dst']?.upsert ?? 0, 0, 'Pinecone restored the records; vecshift wrote none')
})

t.test('copy CLI: into a pgvector table it creates, loading first and building the HNSW index after', async (t) => {
  const pg = await startTestPostgres(t)
  const source = await createIndex('to-pg')
  const records = Array.from({ length: 400 }, (_, i) => ({
    id: `g${i}`,
    values: Float32Array.from({ length: 8 }, (_, d) => Math.cos(i * 3 + d)),
    metadata: { i, tag: `t${i % 4}` },
  }))
  await source.upsert('', records)
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-copy-cli-pg-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: to-pg }',
      `source: { type: pinecone, index: to-pg, host: "${emu.indexHost('to-pg')}", controllerHost: "${emu.url}" }`,
      // PGlite is one session: one connection (helpers/pglite.ts).
      `target: { type: pgvector, table: items, host: 127.0.0.1, port: ${pg.port}, database: postgres, user: postgres, ` +
        'poolSize: 1, maintenanceWorkMem: 128MB }',
      `copy: { checkpointDir: "${join(dir, 'ckpt')}", createTarget: true, batchSize: 50 }`,
      'log: { level: warn }',
    ].join('\n'),
  )
  const run = runCopy(config, ['--json'])
  const [code] = await run.exited
  t.equal(code, 0, run.err())
  const summary = JSON.parse(run.out()) as { copied: number; indexBuildMs?: number }
  t.equal(summary.copied, 400)
  t.type(summary.indexBuildMs, 'number', 'the summary says the index was built after the load')
  t.match(run.err(), /building the HNSW index of the target pgvector table public.items/)
  const client = new pgClient.Client(pg.poolConfig())
  await client.connect()
  t.teardown(() => client.end())
  const defs = (
    await client.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'items' AND indexdef LIKE '%USING hnsw%'`)
  ).rows
  t.equal(defs.length, 1, 'the HNSW index exists')
  t.equal((await client.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 400)
  const again = runCopy(config, ['--resume'])
  t.equal((await again.exited)[0], 0)
  t.match(again.out(), /already finished.*nothing to do/)
})

t.test('copy CLI: --help and a missing target section', async (t) => {
  const help = runCopy('/nonexistent', ['--help'])
  await help.exited
  t.match(help.out(), /--resume[\s\S]*--concurrency[\s\S]*--rate[\s\S]*Exit codes/)
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-copy-cli-'))
  const config = join(dir, 'c.yaml')
  writeFileSync(
    config,
    'migration: { id: no-target }\n' +
      `source: { type: pinecone, index: cli-source, host: "${emu.indexHost('cli-source')}", controllerHost: "${emu.url}" }\n`,
  )
  const run = runCopy(config, [])
  const [code] = await run.exited
  t.equal(code, 2)
  t.match(run.err(), /this command needs a target store; add a "target:" section/)
})
