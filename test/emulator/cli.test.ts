import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { request } from 'undici'
import { parseIndexSpec } from '../../src/cli/emulator.js'
import type { TestContext } from '../helpers/tap.js'

// `vecshift emulator` as a user runs it: a real process that prints {"url":...} on stdout,
// reads its API key from the environment, and exits 0 on SIGTERM after persisting.

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname

function run(t: TestContext, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const firstLine = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.once('line', resolve)
    child.once('exit', () => reject(new Error(`exited before printing a line; stderr: ${stderr}`)))
  })
  firstLine.catch(() => {}) // only some tests wait for it
  return { child, exited, firstLine, stderr: () => stderr }
}

t.test('parseIndexSpec reads name:dim:metric[:pod|serverless][:sparse]', async (t) => {
  t.same(parseIndexSpec('docs:1536:cosine'), { name: 'docs', dimension: 1536, metric: 'cosine' })
  t.same(parseIndexSpec('old:768:dotproduct:pod'), { name: 'old', dimension: 768, metric: 'dotproduct', kind: 'pod' })
  t.same(parseIndexSpec('kw:0:dotproduct:serverless:sparse'), {
    name: 'kw',
    dimension: 0,
    metric: 'dotproduct',
    kind: 'serverless',
    vectorType: 'sparse',
  })
  t.throws(() => parseIndexSpec('docs:1536'), /name:dim:metric/)
  t.throws(() => parseIndexSpec('docs:x:cosine'), /dimension must be a positive integer/)
  t.throws(() => parseIndexSpec('docs:3:manhattan'), /metric must be/)
  t.throws(() => parseIndexSpec('docs:3:cosine:huge'), /unknown index option/)
})

t.test('runs, pre-creates indexes, checks the key from the environment, persists and stops on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vecshift-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const env = { MY_EMU_KEY: 'cli-secret' }
  const first = run(
    t,
    [
      'emulator',
      '--port',
      '0',
      '--data-dir',
      dir,
      '--api-key-env',
      'MY_EMU_KEY',
      '--log-level',
      'warn',
      '--create-index',
      'docs:3:cosine',
      '--create-index',
      'legacy:3:euclidean:pod',
    ],
    env,
  )
  const { url } = JSON.parse(await first.firstLine) as { url: string }
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const H = { 'api-key': 'cli-secret', 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04' }
  const list = await request(`${url}/indexes`, { headers: H })
  const body = (await list.body.json()) as { indexes: Array<{ name: string; spec: object }> }
  t.same(
    body.indexes.map((i) => [i.name, Object.keys(i.spec)[0]]),
    [
      ['docs', 'serverless'],
      ['legacy', 'pod'],
    ],
  )
  const denied = await request(`${url}/indexes`)
  t.equal(denied.statusCode, 401)
  await denied.body.dump()
  const up = await request(`${url}/data/docs/vectors/upsert`, {
    method: 'POST',
    headers: H,
    body: JSON.stringify({ vectors: [{ id: 'a', values: [0.5, 0.4, 0.3] }] }),
  })
  t.equal(up.statusCode, 200)
  await up.body.dump()
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'exit 0 on SIGTERM')

  const second = run(
    t,
    [
      'emulator',
      '--data-dir',
      dir,
      '--api-key-env',
      'MY_EMU_KEY',
      '--log-level',
      'silent',
      '--create-index',
      'docs:3:cosine',
    ],
    env,
  )
  const { url: url2 } = JSON.parse(await second.firstLine) as { url: string }
  const fetched = await request(`${url2}/data/docs/vectors/fetch?ids=a`, { headers: H })
  t.match(await fetched.body.json(), { vectors: { a: { values: [0.5, 0.4, 0.3] } } }, 'the record survived the restart')
  second.child.kill('SIGINT')
  t.equal(await second.exited, 0, 'exit 0 on SIGINT')
})

t.test('--help and a bad --create-index', async (t) => {
  const help = run(t, ['emulator', '--help'])
  const out: string[] = []
  help.child.stdout.on('data', (d: Buffer) => out.push(d.toString()))
  t.equal(await help.exited, 0)
  for (const flag of [
    '--port <port>',
    '--host <host>',
    '--data-dir <dir>',
    '--api-key-env <name>',
    '--create-index <spec>',
    '--log-level <level>',
  ]) {
    t.match(out.join(''), flag, `--help lists ${flag}`)
  }

  const bad = run(t, ['emulator', '--create-index', 'oops'])
  t.not(await bad.exited, 0)
  t.match(bad.stderr(), /expected name:dim:metric/)
})
