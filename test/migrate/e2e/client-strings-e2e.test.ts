// Issue 17, end to end: bodies a client may send, with namespaces, metadata keys and
// strings that are hard to carry (lone surrogates, NUL, U+FDD0, __proto__, constructor),
// sent byte for byte through a capturing gateway to the source (the emulator), logged,
// replayed by `vecshift replay` into a Pinecone target and into a pgvector target, then
// compared with the source record by record (ids, values, metadata serialised with sorted
// keys, so every string is compared exactly). Before issue 17 the surrogate namespaces were
// replayed into "...\uFFFD", the NUL metadata stopped replay into pgvector for good (22P05),
// and "__proto__" went missing from describe_index_stats. Also: `vecshift copy` of a
// namespace named "__proto__", and `vecshift log stats` naming it.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import type { QueryMatch, VectorStore } from '../../../src/stores/contract.js'
import { PgvectorStore } from '../../../src/stores/pgvector/store.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { cliDaemon, gatewayUrl, runCli } from '../../helpers/cli.js'
import { migrationYaml } from '../../helpers/config.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { startTestPostgres } from '../../helpers/pglite.js'

const KEY = 'strings-key'
const ENV = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }
/** JSON text (escapes as a client sends them), not JS strings: the bodies go byte for byte. */
const NAMESPACES = [
  '"c370-\\ud800"',
  '"\\udfff"',
  '"\\ude00\\ud83d"',
  '"\\uD800\\u0041"',
  '"a\\u0000b"',
  '"__proto__"',
  '"constructor"',
  '"\\ufdd0x"',
  '"plain"',
]
const STRINGS = ['"s\\u0000t"', '"\\ud800"', '"\\ufdd0"', '"__proto__"', '"é😀"', '""']

/** Records in a namespace, by JSON-body calls only (a lone surrogate cannot go in a URL). */
async function records(store: VectorStore, namespace: string): Promise<string[]> {
  const matches: QueryMatch[] = await store.query(namespace, {
    topK: 100,
    vector: Float32Array.of(1, 1, 1, 1),
    includeValues: true,
    includeMetadata: true,
  })
  const sorted = (md: Record<string, unknown> | undefined) =>
    JSON.stringify(Object.entries(md ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return matches.map((m) => `${m.id} ${JSON.stringify(Array.from(m.values ?? []))} ${sorted(m.metadata)}`).sort()
}

for (const kind of ['pinecone', 'pgvector'] as const) {
  t.test(
    `hard strings through capture and replay into a ${kind} target arrive exactly as the source stored them`,
    async (t) => {
      const emu = await startTestEmulator(t, {
        apiKey: KEY,
        indexes: [
          { name: 'src', dimension: 4, metric: 'dotproduct' },
          { name: 'dst', dimension: 4, metric: 'dotproduct' },
        ],
      })
      const source = new PineconeStore({
        role: 'source',
        index: 'src',
        host: emu.indexHost('src'),
        controllerHost: emu.url,
        apiKey: KEY,
      })
      t.teardown(() => source.close())
      const dir = mkdtempSync(join(tmpdir(), 'vecshift-strings-'))
      let target: VectorStore
      let targetYaml: string | undefined
      if (kind === 'pinecone') {
        target = new PineconeStore({
          role: 'target',
          index: 'dst',
          host: emu.indexHost('dst'),
          controllerHost: emu.url,
          apiKey: KEY,
        })
      } else {
        const pg = await startTestPostgres(t)
        const table = new PgvectorStore({ role: 'target', table: 'strings', pool: pg.poolConfig(), search: 'exact' })
        await table.createSchema({ dimension: 4, metric: 'dotproduct' })
        target = table
        targetYaml =
          `{ type: pgvector, table: strings, host: 127.0.0.1, port: ${pg.port}, ` +
          'database: postgres, user: postgres, poolSize: 1 }'
      }
      t.teardown(() => target.close())
      const config = join(dir, 'vecshift.yaml')
      writeFileSync(
        config,
        migrationYaml(
          dir,
          { id: 'strings', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
          targetYaml === undefined ? {} : { target: targetYaml },
        ),
      )
      const gateway = cliDaemon(t, ['gateway', '--config', config, '--log-level', 'info'], ENV)
      const url = await gatewayUrl(gateway)
      const post = async (path: string, body: string) => {
        const res = await request(`${url}${path}`, {
          method: 'POST',
          headers: { 'api-key': KEY, 'content-type': 'application/json', 'x-pinecone-api-version': '2025-10' },
          body,
        })
        const text = await res.body.text()
        t.equal(res.statusCode, 200, `${path} ${body.slice(0, 120)}: ${text.slice(0, 200)}`)
      }

      for (const [i, ns] of NAMESPACES.entries()) {
        const vectors = STRINGS.map(
          (s, j) =>
            `{"id":"v${j}","values":[${i + 1},${j + 1},0.5,-1],` +
            `"metadata":{${s}:${s},"list":[${s},"x"],"k":${s === '""' ? '"e"' : s},"n":${j}}}`,
        )
        await post(
          '/vectors/upsert',
          `{"namespace":${ns},"vectors":[${vectors.join(',')},{"id":"gone","values":[1,1,1,1],"metadata":{"drop":${STRINGS[0]}}}]}`,
        )
        // By id, by filter on a hard string, and a delete by such a filter.
        await post('/vectors/update', `{"namespace":${ns},"id":"v1","setMetadata":{${STRINGS[1]}:${STRINGS[0]}}}`)
        await post(
          '/vectors/update',
          `{"namespace":${ns},"filter":{"k":{"$eq":${STRINGS[2]}}},"setMetadata":{"touched":${STRINGS[3]}}}`,
        )
        await post('/vectors/delete', `{"namespace":${ns},"filter":{"drop":{"$eq":${STRINGS[0]}}}}`)
      }
      const names = NAMESPACES.map((ns) => JSON.parse(ns) as string)

      const replayed = await runCli(['replay', '--config', config, '--json'], ENV, t)
      t.equal(replayed.code, 0, replayed.err)
      const stats = async (s: VectorStore) => new Map((await s.stats()).map((n) => [n.namespace, n.vectorCount]))
      const [sourceStats, targetStats] = await Promise.all([stats(source), stats(target)])
      for (const ns of names) {
        t.equal(
          sourceStats.get(ns),
          STRINGS.length,
          `${JSON.stringify(ns)}: the source holds it under its own name (describe_index_stats)`,
        )
        t.equal(targetStats.get(ns), STRINGS.length, `${JSON.stringify(ns)}: so does the target`)
        const [a, b] = await Promise.all([records(source, ns), records(target, ns)])
        t.equal(a.length, STRINGS.length)
        t.same(b, a, `${JSON.stringify(ns)}: every record equal, every string exact`)
      }
      t.notOk(targetStats.has('c370-\ufffd'), 'no record landed under a replaced name')
      t.same([...targetStats.keys()].sort(), [...sourceStats.keys()].sort(), 'the same namespaces on both sides')

      // verify --full: every namespace a URL can carry compared id by id, the others by count.
      const verified = await runCli(['verify', '--config', config, '--full', '--json', '--progress', 'none'], ENV, t)
      t.equal(verified.code, 0, verified.out + verified.err)
      const report = JSON.parse(verified.out) as {
        passed: boolean
        notes: string[]
        full?: { compared: number; equal: number }
      }
      t.match(
        report.notes.join('\n'),
        /"c370-\\ud800", "\\ud800A", "\\ude00\\ud83d", "\\udfff" hold a lone surrogate, which a URL cannot carry/,
        'verify says which namespaces it compared by count only',
      )
      t.equal(report.full?.compared, report.full?.equal, 'every record compared in full is equal')
      t.equal(report.full?.compared, 5 * STRINGS.length, 'the five namespaces a URL can carry, every record')

      const logStats = await runCli(['log', 'stats', '--config', config, '--json'], ENV, t)
      t.equal(logStats.code, 0, logStats.err)
      const byNamespace = (JSON.parse(logStats.out) as { byNamespace: Record<string, number> }).byNamespace
      t.ok(
        Object.hasOwn(byNamespace, '__proto__') && Object.hasOwn(byNamespace, 'constructor'),
        'log stats counts the namespaces "__proto__" and "constructor"',
      )
      t.equal(byNamespace['c370-\ud800'], 4, 'and the surrogate namespace under its own name')
    },
  )
}

t.test(
  'vecshift copy of a namespace named "__proto__" (and "constructor") copies it, and nothing lands on Object.prototype',
  async (t) => {
    const emu = await startTestEmulator(t, {
      apiKey: KEY,
      indexes: [
        { name: 'src', dimension: 2, metric: 'cosine' },
        { name: 'dst', dimension: 2, metric: 'cosine' },
      ],
    })
    const source = new PineconeStore({
      role: 'source',
      index: 'src',
      host: emu.indexHost('src'),
      controllerHost: emu.url,
      apiKey: KEY,
    })
    const target = new PineconeStore({
      role: 'target',
      index: 'dst',
      host: emu.indexHost('dst'),
      controllerHost: emu.url,
      apiKey: KEY,
    })
    t.teardown(async () => {
      await source.close()
      await target.close()
    })
    for (const ns of ['__proto__', 'constructor', 'toString', '']) {
      await source.upsert(
        ns,
        Array.from({ length: 30 }, (_, i) => ({
          id: `r${i}`,
          values: Float32Array.of(1, i + 1),
          metadata: { [ns || 'd']: i },
        })),
      )
    }
    t.same(
      (await source.stats()).map((s) => s.namespace),
      ['', '__proto__', 'constructor', 'toString'],
      'describe_index_stats names every namespace',
    )
    const dir = mkdtempSync(join(tmpdir(), 'vecshift-proto-copy-'))
    const configFor = (checkpoints: string) => {
      const file = join(dir, `${checkpoints}.yaml`)
      writeFileSync(
        file,
        migrationYaml(
          dir,
          { id: 'proto', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
          { copy: `{ checkpointDir: "${join(dir, checkpoints)}", batchSize: 7 }` },
        ),
      )
      return file
    }
    // One namespace first (before issue 17: exit 0, "copied": 0, nothing on the target).
    const one = await runCli(
      ['copy', '--config', configFor('one'), '--json', '--progress', 'none', '--namespace', '__proto__'],
      ENV,
      t,
    )
    t.equal(one.code, 0, one.err)
    t.match(
      JSON.parse(one.out),
      { copied: 30, namespaces: [{ namespace: '__proto__', copied: 30 }] },
      'copy --namespace __proto__ copies its 30 records',
    )
    t.equal((await target.stats()).find((s) => s.namespace === '__proto__')?.vectorCount, 30)
    const copy = await runCli(['copy', '--config', configFor('all'), '--json', '--progress', 'none'], ENV, t)
    t.equal(copy.code, 0, copy.err)
    const summary = JSON.parse(copy.out) as { copied: number; namespaces: Array<{ namespace: string; copied: number }> }
    t.same(
      summary.namespaces,
      [
        { namespace: '', copied: 30 },
        { namespace: '__proto__', copied: 30 },
        { namespace: 'constructor', copied: 30 },
        { namespace: 'toString', copied: 30 },
      ],
      'the summary names each with its count',
    )
    for (const ns of ['__proto__', 'constructor', 'toString']) {
      const ids = Array.from({ length: 30 }, (_, i) => `r${i}`)
      const [a, b] = await Promise.all([source.fetch(ns, ids), target.fetch(ns, ids)])
      t.equal(b.size, 30, `${ns}: every record copied`)
      t.same(
        [...b.values()].map((v) => v.metadata),
        [...a.values()].map((v) => v.metadata),
      )
    }
  },
)
