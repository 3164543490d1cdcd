import { execFile, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import t from 'tap'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { LogRecord } from '../../src/writelog/record.js'

const run = promisify(execFile)
const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname

let seq = 0
const header = (namespace: string) => ({
  instance: 'gw',
  seq: seq++,
  ts: 1,
  apiVersion: '2026-07',
  requestId: 'r',
  namespace,
})

async function seededLog() {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-logcli-'))
  const log = await openFileLog({ dir })
  const records: LogRecord[] = [
    { ...header(''), op: 'upsert', vectors: [{ id: 'a', values: new Float32Array([0.1, 0.4]), metadata: { g: 'x' } }] },
    { ...header(''), op: 'outcome', intentSeq: 0, outcome: 'ok', status: 200 },
    { ...header('ns'), op: 'delete', ids: ['a'] },
    { ...header('ns'), op: 'outcome', intentSeq: 2, outcome: 'failed', status: 429 },
    { ...header('ns'), op: 'update', id: 'b', setMetadata: { g: 'y' } },
  ]
  await log.append(records)
  return { dir, log }
}

t.test('log stats counts by operation, namespace and outcome, beside a live writer', async (t) => {
  const { dir, log } = await seededLog()
  t.teardown(() => log.close())
  const { stdout } = await run(process.execPath, [CLI, 'log', 'stats', '--dir', dir, '--json'])
  const s = JSON.parse(stdout)
  t.match(s, {
    backend: 'file',
    records: 5,
    first: '0000000000000000',
    last: '0000000000000004',
    byOp: { upsert: 1, outcome: 2, delete: 1, update: 1 },
    byNamespace: { __default__: 1, ns: 2 },
    outcomes: { ok: 1, failed: 1 },
    withoutOutcome: 1,
  })
  const table = await run(process.execPath, [CLI, 'log', 'stats', '--dir', dir])
  t.match(table.stdout, /records\s+5/)
})

t.test('log inspect prints decoded records as JSON lines with float32 values as sent', async (t) => {
  const { dir, log } = await seededLog()
  t.teardown(() => log.close())
  const { stdout } = await run(process.execPath, [CLI, 'log', 'inspect', '--dir', dir, '--op', 'upsert'])
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.equal(lines.length, 1)
  t.match(lines[0], {
    position: '0000000000000000',
    op: 'upsert',
    namespace: '',
    vectors: [{ id: 'a', values: [0.1, 0.4], metadata: { g: 'x' } }],
  })
  const limited = await run(process.execPath, [
    CLI,
    'log',
    'inspect',
    '--dir',
    dir,
    '--after',
    '0000000000000001',
    '--limit',
    '2',
  ])
  t.same(
    limited.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).position),
    ['0000000000000002', '0000000000000003'],
  )
  const ns = await run(process.execPath, [CLI, 'log', 'inspect', '--dir', dir, '--namespace', 'ns', '--op', 'update'])
  t.match(JSON.parse(ns.stdout), { op: 'update', id: 'b', setMetadata: { g: 'y' } })
})

t.test('log tail prints the last records and follows new ones', async (t) => {
  const { dir, log } = await seededLog()
  t.teardown(() => log.close())
  const child = spawn(process.execPath, [CLI, 'log', 'tail', '--dir', dir, '-n', '2', '--follow'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const lines: Array<{ position: string; op: string }> = []
  const third = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`log tail exited (${code}) after ${lines.length} lines: ${stderr}`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(JSON.parse(line))
      if (lines.length === 2) void log.append([{ ...header('live'), op: 'fence', fenceId: 'f1' }])
      if (lines.length === 3) resolve()
    })
  })
  await third
  t.same(
    lines.map((l) => l.position),
    ['0000000000000003', '0000000000000004', '0000000000000005'],
  )
  t.match(lines[2], { op: 'fence', fenceId: 'f1' })
})

t.test('log without --config or --dir says what to give', async (t) => {
  const err = await run(process.execPath, [CLI, 'log', 'stats']).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  )
  t.equal(err?.code, 2)
  t.match(err?.stderr, /--config <file>.*--dir <directory>/)
})
