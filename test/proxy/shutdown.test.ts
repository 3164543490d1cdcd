import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import { request } from 'undici'
import { startTestEmulator } from '../helpers/emulator.js'
import { until } from '../helpers/until.js'

// SIGTERM on a real `vecshift gateway` process under load: requests already in flight
// finish with their real answers, the process exits 0, and nothing is cut off.

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname
const KEY = 'k'
const HEADERS = { 'content-type': 'application/json', 'x-pinecone-api-version': '2025-04', 'api-key': KEY }

t.test('SIGTERM drains in-flight requests and exits 0', async (t) => {
  const emu = await startTestEmulator(t, { apiKey: KEY, indexes: [{ name: 'drain', dimension: 2, metric: 'cosine' }] })

  const dir = mkdtempSync(join(tmpdir(), 'vecshift-shutdown-'))
  const configPath = join(dir, 'vecshift.yaml')
  writeFileSync(
    configPath,
    [
      'migration: { id: drain-test }',
      `source: { type: pinecone, index: drain, host: "${emu.indexHost('drain')}", controllerHost: "${emu.url}" }`,
      'gateway: { listen: { port: 0 }, shutdownTimeoutMs: 10000 }',
      'admin: { listen: { port: 0 } }',
      `control: { dir: "${join(dir, 'control')}" }`,
    ].join('\n'),
  )

  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'gateway', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const logs: Array<Record<string, unknown>> = []
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>
      logs.push(entry)
      if (entry.msg === 'gateway listening') resolve(entry.url as string)
    })
    child.once('exit', (code) => reject(new Error(`gateway exited early with ${code}`)))
  })

  const upsert = await request(`${url}/vectors/upsert`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ vectors: [{ id: 'a', values: [1, 0] }] }),
  })
  t.equal(upsert.statusCode, 200)
  await upsert.body.dump()

  // Five slow queries are in flight when SIGTERM arrives.
  emu.faults.add({ op: 'query', latencyMs: 1200, times: 5 })
  const inFlight = Array.from({ length: 5 }, async () => {
    const res = await request(`${url}/query`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ vector: [1, 0], topK: 1 }),
    })
    return { status: res.statusCode, body: (await res.body.json()) as { matches: Array<{ id: string }> } }
  })
  // All five have reached the source, which holds them.
  await until(() => emu.stats().faulted.query === 5, {
    timeoutMs: 10_000,
    what: 'the five queries to be held at the source',
  })
  child.kill('SIGTERM')

  const results = await Promise.all(inFlight)
  for (const r of results) {
    t.equal(r.status, 200, 'in-flight request completed')
    t.equal(r.body.matches[0]?.id, 'a', 'with its real answer')
  }
  t.equal(await exited, 0, 'exit code 0')
  // Regression: connections that went idle after close() began used to hold the drain
  // open until shutdownTimeoutMs (10 s here).
  t.notOk(
    logs.some((l) => l.msg === 'drain deadline passed; closing remaining connections'),
    'exited once the work was done, not at the drain deadline',
  )
  t.ok(
    logs.some((l) => l.msg === 'gateway draining'),
    'drain was logged',
  )
  t.ok(
    logs.some((l) => l.msg === 'gateway closed'),
    'close was logged',
  )
  const after = await request(`${url}/healthz`).then(
    () => 'answered',
    (err: { code?: string }) => err.code,
  )
  t.equal(after, 'ECONNREFUSED', 'the port is closed afterwards')
})
