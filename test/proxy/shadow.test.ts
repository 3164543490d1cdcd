// Shadow reads through a capturing gateway, with the official SDK: queries answered by the
// source are also asked of the target afterwards and compared; the client gets the source's
// answer; a target that disagrees shows in the comparison; a slow target never slows the
// client, and past the concurrency bound shadow work is dropped, not queued. The figures are
// in /metrics, /admin/status and (through the control store) `vecshift status`.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { FileControlStore } from '../../src/control/file-store.js'
import { gatherStatus } from '../../src/status/gather.js'
import type { StoredVector } from '../../src/stores/contract.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startHoldingUpstream } from '../helpers/holding-upstream.js'
import { prng } from '../helpers/prng.js'
import { until } from '../helpers/until.js'

const KEY = 'shadow-key'
const DIM = 6

t.test(
  'shadow reads: compared after the client has its answer; disagreement shown; a slow target dropped, never waited for',
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [
        { name: 'src', dimension: DIM, metric: 'cosine' },
        { name: 'dst', dimension: DIM, metric: 'cosine' },
      ],
    })
    const store = (name: string) =>
      new PineconeStore({ role: name, index: name, host: emu.indexHost(name), controllerHost: emu.url, apiKey: KEY })
    const source = store('src')
    const target = store('dst')
    t.teardown(() => Promise.all([source.close(), target.close()]))
    const r = prng(3)
    const data: StoredVector[] = Array.from({ length: 200 }, (_, i) => ({
      id: `v${i}`,
      values: Float32Array.from({ length: DIM }, () => r() - 0.5),
      metadata: { g: i % 4 },
    }))
    await source.upsert('', data)
    await target.upsert('', data)

    const dir = mkdtempSync(join(tmpdir(), 'vecshift-shadow-'))
    const log = await openFileLog({ dir: join(dir, 'log') })
    t.teardown(() => log.close())
    const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'sh', initialPhase: 'capture' })
    t.teardown(() => control.close())
    // The gateway reaches the target through an upstream that can hold its queries (step 3).
    const targetUpstream = await startHoldingUpstream(t, emu.url)
    const gw = await startTestGateway(t, {
      index: 'src',
      host: emu.indexHost('src'),
      controllerHost: emu.url,
      writeLog: log,
      control,
      config: {
        migration: { id: 'sh', phase: 'capture' },
        target: { type: 'pinecone', index: 'dst', host: `${targetUpstream.url}/data/dst`, controllerHost: emu.url },
        'gateway.shadow': { percent: 100, maxConcurrent: 3 },
        'control.dir': join(dir, 'control'),
        'log.level': 'warn',
      },
      env: { VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY },
    })
    const index = new Pinecone({ apiKey: KEY, controllerHostUrl: gw.url }).index({ host: gw.url })
    const summary = () =>
      gw.gateway.status().shadow as {
        compared: number
        dropped: number
        failed: number
        disagreed: number
        meanOverlap?: number
        inFlight: number
      }
    const settled = () =>
      until(() => summary().inFlight === 0, {
        timeoutMs: 10_000,
        intervalMs: 10,
        what: 'the shadow queries in flight to finish',
      })
    const queryVector = (i: number) => Array.from({ length: DIM }, (_, d) => Math.sin(i * 7 + d))

    // 1. Agreeing sides.
    for (let i = 0; i < 20; i++) {
      const viaGateway = await index.query({
        vector: queryVector(i),
        topK: 5,
        ...(i % 2 ? { filter: { g: { $eq: i % 4 } } } : {}),
      })
      const direct = await source.query('', {
        vector: Float32Array.from(queryVector(i)),
        topK: 5,
        ...(i % 2 ? { filter: { g: { $eq: i % 4 } } } : {}),
      })
      t.same(
        viaGateway.matches.map((m) => m.id),
        direct.map((m) => m.id),
        `query ${i}: the client gets the source's answer`,
      )
      await settled()
    }
    t.match(
      summary(),
      { compared: 20, dropped: 0, failed: 0, disagreed: 0, meanOverlap: 1 },
      'every query compared, all agreeing',
    )
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
    t.match(metrics, /vecshift_shadow_queries_total\{[^}]*result="compared"[^}]*\} 20/)
    t.match(metrics, /vecshift_shadow_latency_seconds_count\{[^}]*side="target"[^}]*\} 20/)
    t.match(await (await fetch(`${gw.adminUrl}/admin/status`)).json(), { shadow: { compared: 20 } })

    // 2. A target that holds other vectors disagrees, and the comparison says so.
    await target.upsert(
      '',
      data.map((v) => ({ ...v, values: Float32Array.from({ length: DIM }, () => r() - 0.5) })),
    )
    for (let i = 0; i < 10; i++) {
      await index.query({ vector: queryVector(100 + i), topK: 5 })
      await settled()
    }
    t.ok(summary().disagreed > 0, `disagreements counted (${summary().disagreed} of the last 10)`)
    t.ok((summary().meanOverlap as number) < 1, `mean overlap fell to ${summary().meanOverlap}`)

    // 3. A slow target: the clients' queries do not wait for it, and past 3 in flight the
    // shadow work is dropped. The target holds every query until released: a client query
    // that waited for its shadow would not be answered at all.
    targetUpstream.hold(/\/query$/)
    const before = summary()
    let answered = 0
    const clients = (async () => {
      for (let i = 0; i < 12; i++) {
        await index.query({ vector: queryVector(200 + i), topK: 5 })
        answered++
      }
    })()
    clients.catch(() => undefined) // awaited below; a failure is seen there
    await until(() => answered === 12, {
      timeoutMs: 30_000,
      what: 'the 12 client queries to be answered while the target holds its shadow queries',
      onTimeout: () => `${answered} answered, ${targetUpstream.holding} held at the target`,
    })
    await clients
    t.ok(
      targetUpstream.holding >= 1,
      `no client query waited for the target: all answered while it held ${targetUpstream.holding} shadow queries`,
    )
    t.ok(
      summary().dropped - before.dropped >= 8,
      `shadow work past the bound was dropped (${summary().dropped - before.dropped} of 12)`,
    )
    t.ok(summary().inFlight <= 3, 'never more than the bound in flight')
    targetUpstream.release()
    await settled()

    // 4. `vecshift status` shows each replica's figures, through the control store.
    const config = loadConfig({
      env: {},
      overrides: {
        migration: { id: 'sh' },
        source: { type: 'pinecone', index: 'src', host: emu.indexHost('src') },
        'control.dir': join(dir, 'control'),
        'replay.dataDir': join(dir, 'replay'),
        'copy.checkpointDir': join(dir, 'copy'),
      },
    })
    let status = await gatherStatus(config, control)
    await until(
      async () => {
        status = await gatherStatus(config, control)
        return status.shadow.length > 0
      },
      {
        timeoutMs: 10_000,
        intervalMs: 100,
        what: "the replica's shadow figures in the control store",
      },
    )
    t.match(
      status.shadow,
      [{ compared: Number, disagreed: Number, replica: String }],
      "the replica's shadow figures in vecshift status",
    )
  },
)
