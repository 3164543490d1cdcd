// `vecshift status` gathers the control record, the copy checkpoint, the replayer's status
// and the replicas' leases, as JSON and for a terminal.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { FileControlStore } from '../../src/control/file-store.js'
import { transitioned } from '../../src/control/record.js'
import { CheckpointFile } from '../../src/migrate/copy/checkpoint.js'
import { ReplayStatusFile } from '../../src/replay/status.js'

const run = promisify(execFile)
const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname

t.test('status shows phase, routing, copy progress, replay lag and replicas', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-status-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: st }',
      'source: { type: pinecone, index: src, host: "http://127.0.0.1:1/data/src" }',
      `copy: { checkpointDir: "${join(dir, 'copy')}" }`,
      `replay: { dataDir: "${join(dir, 'replay')}" }`,
      `control: { dir: "${join(dir, 'control')}" }`,
    ].join('\n'),
  )

  const fresh = JSON.parse(
    (await run(process.execPath, [CLI, 'status', '--config', config, '--json'])).stdout,
  ) as Record<string, unknown>
  t.match(fresh, { record: { phase: 'passthrough', epoch: 1 }, copy: { state: 'not started' }, replicas: [] })
  t.notOk(fresh.replay, 'no replayer has run')

  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'st' })
  const r = await control.read()
  await control.update(r.epoch, (x) => transitioned(x, 'capture', 'test', 'copy starting'))
  await control.heartbeat(
    { replica: 'gw-a', host: hostname(), pid: 4242, epoch: 2, heldWrites: 0, inFlightWrites: 1 },
    60_000,
  )
  await control.close()
  const cp = new CheckpointFile(join(dir, 'copy'), 'st')
  const now = new Date().toISOString()
  await cp.save({
    version: 1,
    migration: 'st',
    strategy: 'list-fetch',
    source: 's',
    target: 't',
    startedAt: now,
    updatedAt: now,
    namespaces: { '': { done: false, copied: 300 }, b: { done: true, copied: 50 } },
    total: 1000,
  })
  await new ReplayStatusFile(join(dir, 'replay'), 'st', 'replay').save({
    consumer: 'replay',
    checkpoint: '00000000000000000041',
    tail: '00000000000000000050',
    lagRecords: 9,
    lagSeconds: 1.5,
    awaitingOutcome: 1,
    counts: {
      applied: 30,
      skippedFailed: 2,
      repaired: 1,
      uncertainFilterWrites: 0,
      otherNamespaces: 0,
      batches: 4,
      upserted: 20,
      deleted: 5,
      updated: 5,
      filterWrites: 0,
    },
    dirtyIds: 25,
    lastFence: undefined,
    retrying: undefined,
    updatedAt: now,
  })

  const json = JSON.parse(
    (await run(process.execPath, [CLI, 'status', '--config', config, '--json'])).stdout,
  ) as Record<string, unknown>
  t.match(json, {
    record: { phase: 'capture', epoch: 2, reason: 'copy starting' },
    copy: {
      state: 'running or interrupted',
      strategy: 'list-fetch',
      copied: 350,
      total: 1000,
      namespaces: { '': 300, b: 50 },
    },
    replay: { lagRecords: 9, lagSeconds: 1.5, awaitingOutcome: 1, stale: false, dirtyIds: 25 },
    replicas: [{ replica: 'gw-a', expired: false, inFlightWrites: 1 }],
  })
  const text = (await run(process.execPath, [CLI, 'status', '--config', config])).stdout
  t.match(text, /migration st: phase capture \(epoch 2/)
  t.match(text, /reads → source, writes → source/)
  t.match(text, /copy\s+running or interrupted \(list-fetch\): 350 of 1,000 records/)
  t.match(text, /replay\s+running; lag 9 records, 1.5 s/)
  t.match(text, /gw-a pid 4242 .* lease valid/)
})
