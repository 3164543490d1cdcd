// Re-embedding: the target holds another model's embeddings (here 4-d against the source's
// 8-d), so the copy and the replayer write vectors embedded from each record's text by an
// OpenAI-compatible endpoint (a small server written for the tests, test/helpers). The copy
// refuses without --reembed and re-embeds with it; the replayer re-embeds logged upserts and
// updates that change the text; a record without text is refused by id; a throttling
// endpoint is retried; the CLI takes --reembed and the key from the environment.
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { CheckpointFile } from '../../../src/migrate/copy/checkpoint.js'
import { planCopy } from '../../../src/migrate/copy/plan.js'
import { runCopy } from '../../../src/migrate/copy/copier.js'
import { EmbeddingsClient } from '../../../src/migrate/reembed/client.js'
import { ReembeddingStore } from '../../../src/migrate/reembed/store.js'
import { replay } from '../../../src/replay/replayer.js'
import type { StoredVector } from '../../../src/stores/contract.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { openFileLog } from '../../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../../src/writelog/record.js'
import { startTestEmbeddings } from '../../helpers/embeddings-server.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { prng } from '../../helpers/prng.js'

const KEY = 'reembed-key'
const EMBED_KEY = 'embeddings-secret-key'
const MODEL = 'test-embed-4d'
const CLI = new URL('../../../dist/cli/main.js', import.meta.url).pathname

t.test("re-embedding: copy and replay write the endpoint's embeddings of each record's text", async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'old', dimension: 8, metric: 'cosine' },
      { name: 'new', dimension: 4, metric: 'cosine' },
    ],
  })
  const emb = await startTestEmbeddings(t, { dimension: 4, model: MODEL, apiKey: EMBED_KEY })
  const store = (name: string) =>
    new PineconeStore({ role: name, index: name, host: emu.indexHost(name), controllerHost: emu.url, apiKey: KEY })
  const source = store('old')
  const target = store('new')
  t.teardown(() => Promise.all([source.close(), target.close()]))
  const r = prng(1)
  const docs: StoredVector[] = Array.from({ length: 130 }, (_, i) => ({
    id: `doc-${i}`,
    values: Float32Array.from({ length: 8 }, () => r() - 0.5),
    metadata: { text: `document number ${i} about ${['cats', 'dogs', 'birds'][i % 3]}`, n: i },
  }))
  await source.upsert('', docs)
  await source.upsert('more', docs.slice(0, 20))

  // Without re-embedding the copy is refused: 8-d vectors cannot go into a 4-d index.
  await t.rejects(planCopy(source, target, { strategy: 'auto', createTarget: false }), {
    code: 'VECSHIFT_ERR_COPY_REFUSED',
    message: /must be re-embedded/,
  })
  const client = new EmbeddingsClient({
    url: emb.url,
    model: MODEL,
    apiKey: EMBED_KEY,
    batchSize: 16,
    concurrency: 2,
    maxRequestsPerSec: 0,
  })
  const reembedding = new ReembeddingStore(target, client, 'text')
  const plan = await planCopy(source, reembedding, {
    strategy: 'auto',
    createTarget: false,
    reembed: { model: MODEL, textField: 'text' },
  })
  t.match(plan.notes.join('\n'), /re-embedded with test-embed-4d from metadata.text/)
  emb.throttle(2)
  const summary = await runCopy(source, reembedding, plan, {
    migration: 'rem',
    concurrency: 2,
    batchSize: 50,
    maxRequestsPerSec: 0,
    maxVectorsPerSec: 0,
    checkpoint: new CheckpointFile(mkdtempSync(join(tmpdir(), 'vecshift-reembed-')), 'rem'),
  })
  t.equal(summary.copied, 150)
  t.ok(client.counters.retries >= 2, `the throttled requests were retried (${client.counters.retries})`)
  const got = await target.fetch(
    '',
    docs.map((d) => d.id),
  )
  t.equal(got.size, 130)
  const wrong = docs.filter(
    (d) =>
      JSON.stringify(Array.from(got.get(d.id)?.values ?? [])) !==
      JSON.stringify(Array.from(emb.embedding(d.metadata?.text as string))),
  )
  t.same(
    wrong.map((d) => d.id),
    [],
    'every copied record holds the embedding of its text',
  )
  t.same(got.get('doc-7')?.metadata, docs[7]?.metadata, 'metadata copied as it is')

  // The replayer re-embeds logged writes: an upsert, an update that changes the text, an
  // update of other metadata (the vector stays), and an update with the old model's values
  // (dropped: they mean nothing in the target's model).
  const log = await openFileLog({ dir: mkdtempSync(join(tmpdir(), 'vecshift-reembed-log-')) })
  t.teardown(() => log.close())
  const ts = Date.now() - 60_000
  let seq = 0
  const intent = (rec: { namespace: string; op: string } & Record<string, unknown>): LogRecord[] => {
    const s = seq
    seq += 2
    return [
      { instance: 'gw', seq: s, ts: ts + s, apiVersion: '2025-04', requestId: `r${s}`, ...rec } as LogRecord,
      {
        instance: 'gw',
        seq: s + 1,
        ts: ts + s,
        apiVersion: '2025-04',
        requestId: `r${s}`,
        namespace: rec.namespace,
        op: 'outcome',
        intentSeq: s,
        outcome: 'ok',
        status: 200,
      },
    ]
  }
  await log.append([
    ...intent({
      namespace: '',
      op: 'upsert',
      vectors: [
        {
          id: 'new-1',
          values: Float32Array.from({ length: 8 }, () => 0.1),
          metadata: { text: 'a brand new document' },
        },
      ],
    }),
    ...intent({ namespace: '', op: 'update', id: 'doc-1', setMetadata: { text: 'document one, rewritten' } }),
    ...intent({ namespace: '', op: 'update', id: 'doc-2', setMetadata: { n: 1002 } }),
    ...intent({ namespace: '', op: 'update', id: 'doc-3', values: Float32Array.from({ length: 8 }, () => 0.3) }),
  ])
  await replay({
    log,
    source,
    target: reembedding,
    consumer: 'replay',
    follow: false,
    dryRun: false,
    batchSize: 50,
    lingerMs: 5,
    outcomeWaitMs: 30_000,
    concurrency: 2,
  })
  const after = await target.fetch('', ['new-1', 'doc-1', 'doc-2', 'doc-3'])
  t.same(
    Array.from(after.get('new-1')?.values ?? []),
    Array.from(emb.embedding('a brand new document')),
    'a logged upsert is re-embedded',
  )
  t.same(
    Array.from(after.get('doc-1')?.values ?? []),
    Array.from(emb.embedding('document one, rewritten')),
    'an update that changes the text re-embeds it',
  )
  t.same(
    Array.from(after.get('doc-2')?.values ?? []),
    Array.from(emb.embedding(docs[2]?.metadata?.text as string)),
    'an update of other metadata keeps the vector',
  )
  t.equal(after.get('doc-2')?.metadata?.n, 1002)
  t.same(
    Array.from(after.get('doc-3')?.values ?? []),
    Array.from(emb.embedding(docs[3]?.metadata?.text as string)),
    "the old model's values in an update are dropped",
  )

  // A record without its text cannot be re-embedded: refused by id, nothing half-written.
  await t.rejects(
    reembedding.upsert('', [
      { id: 'no-text', values: Float32Array.from({ length: 8 }, () => 0.2), metadata: { n: 1 } },
    ]),
    {
      code: 'VECSHIFT_ERR_COPY_REFUSED',
      message: /record no-text has no text in metadata.text \(missing\)/,
    },
  )
  t.notOk((await target.fetch('', ['no-text'])).has('no-text'))
  // The wrong model for the target's dimension is refused with what to change.
  const wide = new ReembeddingStore(
    target,
    new EmbeddingsClient({
      url: emb.url,
      model: MODEL,
      apiKey: 'wrong-key',
      batchSize: 8,
      concurrency: 1,
      maxRequestsPerSec: 0,
    }),
    'text',
  )
  await t.rejects(wide.upsert('', [docs[0] as StoredVector]), {
    code: 'VECSHIFT_ERR_STORE_REFUSED',
    message: /401.*VECSHIFT_EMBEDDINGS_API_KEY/,
  })
})

t.test('vecshift copy --reembed: the endpoint from the config, its key from the environment only', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'old', dimension: 8, metric: 'cosine' },
      { name: 'new', dimension: 4, metric: 'cosine' },
    ],
  })
  const emb = await startTestEmbeddings(t, { dimension: 4, model: MODEL, apiKey: EMBED_KEY })
  const source = new PineconeStore({
    role: 'source',
    index: 'old',
    host: emu.indexHost('old'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => source.close())
  await source.upsert(
    '',
    Array.from({ length: 40 }, (_, i) => ({
      id: `d${i}`,
      values: Float32Array.from({ length: 8 }, (_, k) => Math.sin(i + k)),
      metadata: { body: `text ${i}` },
    })),
  )
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-reembed-cli-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: remcli }',
      `source: { type: pinecone, index: old, host: "${emu.indexHost('old')}", controllerHost: "${emu.url}" }`,
      `target: { type: pinecone, index: new, host: "${emu.indexHost('new')}", controllerHost: "${emu.url}" }`,
      `copy: { checkpointDir: "${join(dir, 'copy')}" }`,
      `control: { dir: "${join(dir, 'control')}" }`,
      `reembed: { url: "${emb.url}", model: ${MODEL}, textField: body, batchSize: 10 }`,
    ].join('\n'),
  )
  const run = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, [CLI, 'copy', '--config', config, '--progress', 'none', ...args], {
      env: { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY, ...env },
    }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
    )
  const refused = await run([], { VECSHIFT_EMBEDDINGS_API_KEY: EMBED_KEY })
  t.equal(refused.code, 2)
  t.match(refused.err, /must be re-embedded.*--reembed/s, 'without --reembed: refused, and told how')
  const done = await run(['--reembed'], { VECSHIFT_EMBEDDINGS_API_KEY: EMBED_KEY })
  t.equal(done.code, 0, done.err)
  t.equal(emb.texts, 40)
  const target = new PineconeStore({
    role: 'target',
    index: 'new',
    host: emu.indexHost('new'),
    controllerHost: emu.url,
    apiKey: KEY,
  })
  t.teardown(() => target.close())
  t.same(Array.from((await target.fetch('', ['d5'])).get('d5')?.values ?? []), Array.from(emb.embedding('text 5')))
  t.notOk(`${done.out}${done.err}`.includes(EMBED_KEY), 'the key appears in no output')
})
