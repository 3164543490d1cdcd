// The whole migration as an operator runs it, every piece its own process: `vecshift
// gateway` (capture), `vecshift copy`, `vecshift replay --follow`, `vecshift cutover`, then
// `vecshift replay --reverse --follow` and `vecshift rollback`, with `vecshift status` in
// between, while the official SDK writes through the gateway the whole time.
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { FileControlStore } from '../../../src/control/file-store.js'
import { ReplayStatusFile } from '../../../src/replay/status.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { cliDaemon, gatewayUrl, runCli } from '../../helpers/cli.js'
import { migrationYaml } from '../../helpers/config.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { untilReplayFollowing } from '../../helpers/replay-status.js'
import { startSdkLoad } from '../../helpers/sdk-load.js'
import { until } from '../../helpers/until.js'

const KEY = 'cutover-cli-key'
const ENV = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }
const run = (args: string[]) => runCli(args, ENV)
const daemon = (t: { teardown(fn: () => unknown): void }, args: string[]) => cliDaemon(t, args, ENV)

t.test(
  'gateway, copy, replay, cutover, reverse replay and rollback as separate processes under SDK load',
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [
        { name: 'src', dimension: 4, metric: 'cosine' },
        { name: 'dst', dimension: 4, metric: 'cosine' },
      ],
    })
    const source = new PineconeStore({
      role: 'test',
      index: 'src',
      host: emu.indexHost('src'),
      controllerHost: emu.url,
      apiKey: KEY,
    })
    t.teardown(() => source.close())
    await source.upsert(
      '',
      Array.from({ length: 200 }, (_, i) => ({ id: `old-${i}`, values: Float32Array.of(i, 1, 2, 3) })),
    )
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-cutover-cli-'))
    const config = join(dir, 'vecshift.yaml')
    writeFileSync(
      config,
      migrationYaml(
        dir,
        { id: 'cli-move', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
        {
          control: `{ dir: "${join(dir, 'control')}", leaseMs: 2000 }`,
          cutover: '{ maxPauseMs: 5000 }',
        },
      ),
    )

    const gateway = daemon(t, ['gateway', '--config', config, '--log-level', 'info'])
    const url = await gatewayUrl(gateway)

    const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
    const load = startSdkLoad(index, { seed: 8, perSecond: 200 })

    const copy = await run(['copy', '--config', config, '--json', '--progress', 'none'])
    t.equal(copy.code, 0, copy.err)
    daemon(t, ['replay', '--config', config, '--follow'])
    const forward = new ReplayStatusFile(join(dir, 'replay'), 'cli-move', 'replay')
    await untilReplayFollowing(() => forward.load(), {
      maxLagRecords: 1_000,
      what: '`vecshift replay --follow` to follow',
    })

    const cut = await run(['cutover', '--config', config, '--json'])
    t.equal(cut.code, 0, `${cut.out}\n${cut.err}`)
    t.match(JSON.parse(cut.out), { outcome: 'done', record: { phase: 'target-primary' } })
    daemon(t, ['replay', '--config', config, '--follow', '--reverse'])
    const reverse = new ReplayStatusFile(join(dir, 'replay'), 'cli-move', 'rollback')
    await untilReplayFollowing(() => reverse.load(), {
      maxLagRecords: 1_000,
      what: '`vecshift replay --follow --reverse` to follow the reverse log',
    })
    // The replayer reports to the control store every 500 ms (read below).
    const controlView = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'cli-move' })
    t.teardown(() => controlView.close())
    await until(async () => (await controlView.reports()).replay !== undefined, {
      timeoutMs: 10_000,
      what: "the replayer's report in the control store",
    })

    const status = JSON.parse((await run(['status', '--config', config, '--json'])).out) as Record<string, unknown>
    t.match(status, { record: { phase: 'target-primary', routing: { writes: 'target' } }, copy: { state: 'done' } })
    // The copy and the replayer reported their progress to the control store as well, for
    // commands on other hosts.
    const reports = await controlView.reports()
    t.match(
      reports,
      { copy: { value: { finishedAt: String } }, replay: { value: { consumer: 'replay', checkpoint: String } } },
      'copy and replay progress in the control store',
    )

    const back = await run(['rollback', '--config', config, '--json'])
    t.equal(back.code, 0, back.err)
    t.match(JSON.parse(back.out), { outcome: 'done', record: { phase: 'source-primary' } })
    const atRollback = load.writes()
    await until(() => load.writes() >= atRollback + 20, {
      timeoutMs: 30_000,
      what: 'writes through the gateway after the rollback',
    })
    await load.stop()
    t.same(load.errors, [], `no client request failed (${load.writes()} writes)`)

    const after = JSON.parse((await run(['status', '--config', config, '--json'])).out) as {
      record: { phase: string; cutovers: Array<{ kind: string; outcome: string }> }
    }
    t.equal(after.record.phase, 'source-primary')
    t.match(
      after.record.cutovers.map((c) => `${c.kind}:${c.outcome}`),
      ['cutover:done', 'rollback:done'],
    )

    t.same(
      await load.differences(source),
      [],
      `the source holds every one of ${load.ledger.size} ids as the ledger says`,
    )

    gateway.kill('SIGTERM')
    const [code] = await once(gateway, 'exit')
    t.equal(code, 0, 'the gateway drains and exits on SIGTERM')
  },
)
