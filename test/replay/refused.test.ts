// Issue 17: a write the target refuses for good never stops replay silently. Pinecone takes
// sparse indices up to 2^32-1; pgvector's sparsevec holds them below 10^9, so such a record
// is refused by a pgvector target whatever the retries. The replayer stops before it with an
// error naming the record (namespace, id) and the log positions around it; its status shows
// it, `vecshift status` says replay stopped and why, the cutover refuses while it stands,
// and the checkpoint stays before it (nothing is skipped), also for a restarted replayer.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ReplayStatusFile } from '../../src/replay/status.js'
import { PgvectorStore } from '../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../src/writelog/record.js'
import { runCli } from '../helpers/cli.js'
import { migrationYaml } from '../helpers/config.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestPostgres } from '../helpers/pglite.js'

const KEY = 'refused-key'
const ENV = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }

t.test(
  'a write the pgvector target refuses for good: replay stops before it, names it, status and the cutover say so',
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [{ name: 'src', dimension: 2, metric: 'dotproduct' }],
    })
    const source = new PineconeStore({
      role: 'source',
      index: 'src',
      host: emu.indexHost('src'),
      controllerHost: emu.url,
      apiKey: KEY,
    })
    t.teardown(() => source.close())
    await source.upsert('a', [{ id: 'seed', values: Float32Array.of(1, 1) }])
    const pg = await startTestPostgres(t)
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-refused-'))
    const config = join(dir, 'vecshift.yaml')
    writeFileSync(
      config,
      migrationYaml(
        dir,
        { id: 'refused', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'src' } },
        {
          target:
            `{ type: pgvector, table: refused_t, host: 127.0.0.1, port: ${pg.port}, database: postgres, ` +
            `user: postgres, poolSize: 1 }`,
          copy: `{ checkpointDir: "${join(dir, 'copy')}", createTarget: true }`,
        },
      ),
    )
    const copy = await runCli(['copy', '--config', config, '--json', '--progress', 'none'], ENV, t)
    t.equal(copy.code, 0, copy.err)

    // The log as the gateway writes it: good writes, the one pgvector cannot hold, more after.
    const log = await openFileLog({ dir: join(dir, 'log') })
    let seq = 0
    const h = (namespace: string) => ({
      instance: 'gw-1',
      seq: seq++,
      ts: Date.now(),
      apiVersion: '2025-04',
      requestId: `r${seq}`,
      namespace,
    })
    const ok = (r: LogRecord): LogRecord[] => [
      r,
      { ...h(''), op: 'outcome', intentSeq: r.seq, outcome: 'ok', status: 200 },
    ]
    await log.append([
      ...ok({
        ...h('a'),
        op: 'upsert',
        vectors: [1, 2, 3].map((i) => ({ id: `good-${i}`, values: Float32Array.of(i, 1) })),
      }),
      ...ok({
        ...h('a'),
        op: 'upsert',
        vectors: [
          {
            id: 'huge-index',
            values: Float32Array.of(1, 2),
            sparseValues: { indices: Uint32Array.of(4_000_000_000), values: Float32Array.of(0.5) },
          },
        ],
      }),
      ...ok({ ...h('b'), op: 'upsert', vectors: [{ id: 'after', values: Float32Array.of(2, 2) }] }),
    ])
    await log.close()

    const run = await runCli(['replay', '--config', config], ENV, t)
    t.equal(run.code, 2, 'replay exits with an error')
    t.match(run.err, /VECSHIFT_ERR_REPLAY_REFUSED/)
    t.match(
      run.err,
      /refused a logged write for good \(apply a batch: namespace "a", id "huge-index"; log records after .* through .*\)/,
      'the error names the record and where it is in the log',
    )
    t.match(run.err, /indices must be below 1,000,000,000|1000000000|sparse/i, "and gives the target's reason")

    const status = await new ReplayStatusFile(join(dir, 'replay'), 'refused', 'replay').load()
    t.match(
      status?.failed,
      { what: 'apply a batch', namespace: 'a', id: 'huge-index' },
      'the status records the refusal',
    )
    const target = new PgvectorStore({ role: 'target', table: 'refused_t', pool: pg.poolConfig() })
    t.teardown(() => target.close())
    t.equal((await target.fetch('a', ['good-1', 'good-2', 'good-3'])).size, 3, 'the writes before it are applied')
    const checkpointed = await openFileLog({ dir: join(dir, 'log'), readOnly: true })
    t.equal(
      await checkpointed.checkpoint('replay'),
      undefined,
      'the checkpoint stays before the refused write: nothing is skipped',
    )
    await checkpointed.close()

    const shown = await runCli(['status', '--config', config], ENV, t)
    t.match(
      shown.out,
      /STOPPED {2}the target refused a logged write for good: apply a batch, namespace "a", id "huge-index"/,
      'vecshift status says replay stopped and why',
    )
    const cut = await runCli(['cutover', '--config', config, '--json'], ENV, t)
    t.equal(cut.code, 2, cut.out + cut.err)
    t.match(
      (JSON.parse(cut.out) as { reason: string }).reason,
      /the target refused a logged write for good \(apply a batch, namespace "a", id "huge-index"/,
      'the cutover refuses while it stands, naming it',
    )

    const again = await runCli(['replay', '--config', config], ENV, t)
    t.equal(again.code, 2, 'a restarted replayer stops at the same write: it is never skipped')
    t.match(again.err, /namespace "a", id "huge-index"/)
  },
)
