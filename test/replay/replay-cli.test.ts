// `vecshift replay` as an operator runs it, beside a live gateway in phase capture: the
// official SDK writes through the gateway (upserts, updates by id and by filter, deletes by
// ids and by filter, and writes the source refuses), the replayer process is killed with
// SIGKILL while it applies the log, then run again: the target ends holding exactly what the
// source holds, and the refused writes never reach it.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { prng } from '../helpers/prng.js'
import { until } from '../helpers/until.js'

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname
const KEY = 'replay-cli-key'

function run(config: string, args: string[]) {
  const child = spawn(process.execPath, [CLI, 'replay', '--config', config, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY },
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, exited, out: () => out, err: () => err }
}

t.test('replay CLI: SIGKILL while applying, run again: the target equals the source', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 8, metric: 'dotproduct' },
      { name: 'dst', dimension: 8, metric: 'dotproduct' },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-replay-cli-'))
  const logDir = join(dir, 'log')
  const log = await openFileLog({ dir: logDir })
  const gw = await startTestGateway(t, {
    index: 'src',
    host: emu.indexHost('src'),
    controllerHost: emu.url,
    writeLog: log,
    config: { 'migration.phase': 'capture' },
    env: { VECSHIFT_SOURCE_API_KEY: KEY },
  })
  t.teardown(() => log.close())

  // Mixed writes from the official SDK through the gateway.
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ host: gw.url })
  const rnd = prng(21)
  const ids = Array.from({ length: 120 }, (_, i) => `doc-${i}`)
  const values = () => Array.from({ length: 8 }, () => rnd() - 0.5)
  let refused = 0
  for (const ns of ['', 'tenant']) {
    const target = ns === '' ? index : index.namespace(ns)
    for (let i = 0; i < ids.length; i += 20) {
      await target.upsert({
        records: ids.slice(i, i + 20).map((id, k) => ({
          id,
          values: values(),
          metadata: { n: i + k, group: `g${(i + k) % 4}`, tags: ['a', `t${k % 3}`] },
        })),
      })
    }
    for (let k = 0; k < 60; k++) {
      const id = ids[Math.floor(rnd() * ids.length)] as string
      const pick = rnd()
      if (pick < 0.4) await target.update({ id, metadata: { touched: k } })
      else if (pick < 0.6) await target.update({ id, values: values() })
      else if (pick < 0.8) await target.upsert({ records: [{ id, values: values(), metadata: { again: k } }] })
      else await target.deleteMany({ ids: [id] })
    }
    await target.update({ filter: { group: { $eq: 'g1' } }, metadata: { bulk: true } })
    await target.deleteMany({ filter: { group: { $eq: 'g2' }, n: { $lt: 40 } } })
    // Refused by the source (wrong dimension): acknowledged as an error, never replayed.
    try {
      await target.upsert({ records: [{ id: 'refused', values: [1, 2, 3] }] })
    } catch {
      refused++
    }
  }
  t.equal(refused, 2, 'the source refused two writes')

  // A slow target keeps the replayer busy long enough to be killed mid-way.
  const slow = emu.faults.add({ op: 'upsert', index: 'dst', latencyMs: 40 })
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: replay-cli }',
      `source: { type: pinecone, index: src, host: "${emu.indexHost('src')}", controllerHost: "${emu.url}" }`,
      `target: { type: pinecone, index: dst, host: "${emu.indexHost('dst')}", controllerHost: "${emu.url}" }`,
      `writelog: { backend: file, file: { dir: "${logDir}" } }`,
      `replay: { dataDir: "${join(dir, 'replay')}", batchSize: 10 }`,
      'log: { level: warn }',
    ].join('\n'),
  )
  const statusPath = join(dir, 'replay', 'replay-cli.replay.json')
  const first = run(config, [])
  await until(
    () =>
      existsSync(statusPath) &&
      (JSON.parse(readFileSync(statusPath, 'utf8')) as { counts: { batches: number } }).counts.batches >= 3,
    { timeoutMs: 10_000, intervalMs: 25, what: 'the status file to count 3 batches applied' },
  )
  first.child.kill('SIGKILL')
  const [, signal] = await first.exited
  t.equal(signal, 'SIGKILL', 'the replayer was killed mid-way')
  const atKill = JSON.parse(readFileSync(statusPath, 'utf8')) as { checkpoint: string; tail: string }
  t.ok(
    Number(atKill.checkpoint) < Number(atKill.tail),
    `killed before the end (${atKill.checkpoint} of ${atKill.tail})`,
  )
  emu.faults.remove(slow)

  const second = run(config, ['--json'])
  const [code] = await second.exited
  t.equal(code, 0, second.err())
  // Counts are per run; the second run continues where the killed one's checkpoint was.
  const final = JSON.parse(second.out()) as {
    lagRecords: number
    awaitingOutcome: number
    checkpoint: string
    tail: string
    counts: { applied: number }
  }
  t.match(final, { lagRecords: 0, awaitingOutcome: 0 })
  t.equal(final.checkpoint, final.tail, 'caught up to the end of the log')
  t.ok(final.counts.applied > 0, `the second run applied ${final.counts.applied} more writes`)

  const source = new PineconeStore({
    role: 'test',
    index: 'src',
    host: emu.indexHost('src'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  const target = new PineconeStore({
    role: 'test',
    index: 'dst',
    host: emu.indexHost('dst'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => Promise.all([source.close(), target.close()]))
  for (const ns of ['', 'tenant']) {
    const [a, b] = [await source.fetch(ns, [...ids, 'refused']), await target.fetch(ns, [...ids, 'refused'])]
    t.ok(a.size > 50, `namespace "${ns}" holds ${a.size} records`)
    const diff = [...new Set([...a.keys(), ...b.keys()])].filter(
      (id) => JSON.stringify(norm(a.get(id))) !== JSON.stringify(norm(b.get(id))),
    )
    t.same(diff, [], `namespace "${ns}": every record equal on both sides`)
    t.notOk(b.has('refused'), 'the write the source refused is not in the target')
  }
  t.same(await target.stats(), await source.stats(), 'same counts')

  // --follow keeps up with new writes until it is told to stop.
  const follower = run(config, ['--follow'])
  await index
    .namespace('live')
    .upsert({ records: Array.from({ length: 15 }, (_, i) => ({ id: `live-${i}`, values: values() })) })
  await index.namespace('live').update({ id: 'live-3', metadata: { followed: true } })
  let seen = 0
  await until(
    async () => {
      seen = (
        await target.fetch(
          'live',
          Array.from({ length: 15 }, (_, k) => `live-${k}`),
        )
      ).size
      return seen === 15
    },
    { timeoutMs: 10_000, intervalMs: 50, what: 'the 15 writes made while following to reach the target' },
  )
  t.equal(seen, 15, 'writes made while following reach the target')
  await until(async () => (await target.fetch('live', ['live-3'])).get('live-3')?.metadata?.followed === true, {
    timeoutMs: 5_000,
    intervalMs: 50,
    what: 'the update made while following to reach the target',
  })
  t.same((await target.fetch('live', ['live-3'])).get('live-3')?.metadata, { followed: true })
  follower.child.kill('SIGTERM')
  const [followCode] = await follower.exited
  t.equal(followCode, 130, 'SIGTERM stops a follower cleanly (exit 130)')
  const saved = JSON.parse(readFileSync(statusPath, 'utf8')) as { lagRecords: number; checkpoint: string; tail: string }
  t.equal(saved.checkpoint, saved.tail, 'its last status: caught up')

  const help = run(config, ['--help'])
  await help.exited
  t.match(help.out(), /--follow[\s\S]*--from[\s\S]*--until[\s\S]*--namespace[\s\S]*--dry-run/)
})

function norm(v: { values?: Float32Array; metadata?: object } | undefined): unknown {
  if (!v) return null
  const metadata = v.metadata
    ? Object.fromEntries(Object.entries(v.metadata).sort(([x], [y]) => (x < y ? -1 : 1)))
    : null
  return { values: Array.from(v.values ?? []), metadata }
}
