// Secrets never appear in any output: a whole migration, every piece its own process at
// debug level, with known secret values (the source's and the target's API keys, the keys
// clients present, the admin token), and a few failures on purpose (a wrong target key, a
// client with a wrong key, the admin API without its token). Afterwards every byte any
// process printed, every answer the admin API gave, and every file vecshift wrote (write
// log segments, control record, checkpoints, status files) is searched for each secret.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { ReplayStatusFile } from '../../src/replay/status.js'
import { PineconeStore } from '../../src/stores/pinecone/store.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { untilReplayFollowing } from '../helpers/replay-status.js'
import { until } from '../helpers/until.js'

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname
const SECRETS = {
  source: 'pcsk_SOURCE_4f9a1c7e2b',
  target: 'pcsk_TARGET_8d2e6b0a91',
  client: 'vsk_CLIENT_3b7c55e0d4',
  admin: 'adm_TOKEN_a61f09c3e8',
}
const ENV = {
  ...process.env,
  VECSHIFT_SOURCE_API_KEY: SECRETS.source,
  VECSHIFT_TARGET_API_KEY: SECRETS.target,
  VECSHIFT_GATEWAY_API_KEYS: `${SECRETS.client},vsk_OTHER_unused`,
  VECSHIFT_ADMIN_TOKEN: SECRETS.admin,
}

/** Everything printed or answered, by where it came from. */
const outputs: Array<{ from: string; text: string }> = []

function run(args: string[], env: NodeJS.ProcessEnv = ENV): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return once(child, 'exit').then(([code]) => {
    outputs.push({ from: `vecshift ${args.join(' ')}`, text: out + err })
    return { code: code as number | null, out, err }
  })
}

function daemon(t: { teardown(fn: () => unknown): void }, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV })
  const entry = { from: `vecshift ${args.join(' ')}`, text: '' }
  outputs.push(entry)
  child.stdout?.on('data', (d: Buffer) => {
    entry.text += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    entry.text += d.toString()
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  return child
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    return e.isDirectory() ? filesUnder(path) : [path]
  })
}

t.test('a migration with known secrets: no secret in any log, answer, status or file', async (t) => {
  const src = await startTestEmulator(t, {
    apiKey: SECRETS.source,
    indexes: [{ name: 'src', dimension: 4, metric: 'cosine' }],
  })
  const dst = await startTestEmulator(t, {
    apiKey: SECRETS.target,
    indexes: [{ name: 'dst', dimension: 4, metric: 'cosine' }],
  })
  const source = new PineconeStore({
    role: 'test',
    index: 'src',
    host: src.indexHost('src'),
    controllerHost: src.url,
    apiKey: SECRETS.source,
  })
  t.teardown(() => source.close())
  await source.upsert(
    '',
    Array.from({ length: 100 }, (_, i) => ({ id: `old-${i}`, values: Float32Array.of(i, 1, 2, 3) })),
  )

  const dir = mkdtempSync(join(tmpdir(), 'vecshift-secrets-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    [
      'migration: { id: secret-move, phase: capture }',
      `source: { type: pinecone, index: src, host: "${src.indexHost('src')}", controllerHost: "${src.url}" }`,
      `target: { type: pinecone, index: dst, host: "${dst.indexHost('dst')}", controllerHost: "${dst.url}" }`,
      'gateway: { listen: { port: 0 }, auth: { mode: keys }, shadow: { percent: 50 } }',
      'admin: { listen: { port: 0 } }',
      `writelog: { backend: file, file: { dir: "${join(dir, 'log')}" } }`,
      `rollback: { logDir: "${join(dir, 'reverse')}" }`,
      `control: { dir: "${join(dir, 'control')}", leaseMs: 2000 }`,
      `replay: { dataDir: "${join(dir, 'replay')}" }`,
      `copy: { checkpointDir: "${join(dir, 'copy')}" }`,
      // The app rewrites the same 30 ids throughout, so a query filtered on a sampled record's
      // metadata can miss on either side between the two reads; this test is about secrets.
      `verify: { checkpointDir: "${join(dir, 'verify')}", sample: 50, queries: 10, ` +
        'thresholds: { maxMismatched: 10, maxCountDifference: 30, minRecall: 0.5 } }',
      'cutover: { maxPauseMs: 5000 }',
      'log: { level: debug }',
    ].join('\n'),
  )

  const gateway = daemon(t, ['gateway', '--config', config, '--log-level', 'debug'])
  const { url, adminUrl } = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    createInterface({ input: gateway.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string; adminUrl?: string }
      if (entry.msg === 'gateway listening') resolve({ url: entry.url as string, adminUrl: entry.adminUrl as string })
    })
    gateway.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)))
  })

  // The app holds a gateway key, never the real one; its writes carry secret-looking
  // metadata of their own, which is data, not a secret of vecshift's.
  const index = new Pinecone({ apiKey: SECRETS.client, controllerHostUrl: url }).index({ host: url })
  const errors: string[] = []
  let stop = false
  let writes = 0
  const load = (async () => {
    for (let n = 0; !stop; n++) {
      try {
        if (n % 4 === 3) await index.query({ vector: [1, 0, 0, 0], topK: 3 })
        else await index.upsert({ records: [{ id: `live-${n % 30}`, values: [n, 1, 1, 1], metadata: { n } }] })
        writes++
      } catch (err) {
        errors.push((err as Error).message)
      }
      // The pace of the app's traffic, not a wait.
      await sleep(10)
    }
  })()

  // Refusals on purpose: a client with a wrong key, the admin API without its token or with
  // a wrong one; a copy whose target key is wrong.
  const intruder = new Pinecone({ apiKey: 'vsk_WRONG', controllerHostUrl: url }).index({ host: url })
  await t.rejects(intruder.upsert({ records: [{ id: 'x', values: [1, 1, 1, 1] }] }), 'a wrong client key is refused')
  for (const auth of [undefined, 'Bearer nope', `Bearer ${SECRETS.admin}x`]) {
    const res = await fetch(`${adminUrl}/admin/status`, auth ? { headers: { authorization: auth } } : {})
    t.equal(res.status, 401, `admin status with ${auth ?? 'no token'}: 401`)
    outputs.push({ from: `GET /admin/status (${auth ?? 'none'})`, text: await res.text() })
  }
  const badCopy = await run(['copy', '--config', config, '--progress', 'none'], {
    ...ENV,
    VECSHIFT_TARGET_API_KEY: 'pcsk_WRONG_TARGET_KEY',
  })
  t.not(badCopy.code, 0, 'a copy with a wrong target key is refused')
  t.match(
    badCopy.err,
    /VECSHIFT_TARGET_API_KEY|401|unauthor/i,
    `and says which key to check: ${badCopy.err.slice(0, 300)}`,
  )
  t.notMatch(badCopy.out + badCopy.err, /pcsk_WRONG_TARGET_KEY/, 'without echoing the wrong key')

  // The migration itself.
  const copy = await run(['copy', '--config', config, '--json', '--progress', 'json'])
  t.equal(copy.code, 0, copy.err)
  daemon(t, ['replay', '--config', config, '--follow', '--log-level', 'debug'])
  const replayStatus = new ReplayStatusFile(join(dir, 'replay'), 'secret-move', 'replay')
  await untilReplayFollowing(() => replayStatus.load(), {
    maxLagRecords: 1_000,
    what: '`vecshift replay --follow` to follow',
  })
  const verify = await run(['verify', '--config', config, '--json', '--log-level', 'debug'])
  t.equal(verify.code, 0, `verify: ${verify.out.slice(0, 1500)}`)
  const cut = await run(['cutover', '--config', config, '--json', '--log-level', 'debug'])
  t.equal(cut.code, 0, `${cut.out}\n${cut.err}`)
  // Traffic through the gateway to the new primary, at debug level, before the outputs are read.
  const atCutover = writes
  await until(() => writes >= atCutover + 10, {
    timeoutMs: 30_000,
    what: 'calls through the gateway after the cutover',
  })
  for (const args of [
    ['status', '--config', config, '--json'],
    ['status', '--config', config],
    ['log', 'stats', '--config', config],
    ['log', 'inspect', '--config', config],
  ]) {
    const r = await run(args)
    t.equal(r.code, 0, `vecshift ${args.join(' ')}: ${r.err}`)
  }
  const adminHeaders = { authorization: `Bearer ${SECRETS.admin}` }
  for (const path of ['/admin/status', '/admin/migration', '/metrics', '/status', '/status/page.js']) {
    const res = await fetch(`${adminUrl}${path}`, { headers: adminHeaders })
    t.equal(res.status, 200, `GET ${path}`)
    outputs.push({ from: `GET ${path}`, text: await res.text() })
  }
  stop = true
  await load
  t.same(errors, [], `no client request failed (${writes} calls)`)
  gateway.kill('SIGTERM')
  t.equal((await once(gateway, 'exit'))[0], 0, 'the gateway stops cleanly')

  // Every output and every file, searched for every secret.
  const files = filesUnder(dir).filter((f) => f !== config)
  t.ok(
    files.some((f) => f.includes(`${join(dir, 'log')}`)) && files.some((f) => f.includes('control')),
    `${files.length} files written (log segments, control record, checkpoints)`,
  )
  const gatewayLines = (outputs.find((o) => o.from.startsWith('vecshift gateway'))?.text ?? '')
    .trim()
    .split('\n').length
  t.ok(gatewayLines >= 5, `the gateway's own log was searched (${gatewayLines} lines at level debug)`)
  for (const [name, secret] of Object.entries(SECRETS)) {
    const inOutputs = outputs.filter((o) => o.text.includes(secret)).map((o) => o.from)
    t.same(inOutputs, [], `the ${name} secret is in no output (${outputs.length} searched)`)
    const inFiles = files.filter((f) => statSync(f).isFile() && readFileSync(f).includes(secret))
    t.same(inFiles, [], `the ${name} secret is in no file (${files.length} searched)`)
  }
})
