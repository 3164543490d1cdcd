import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
// The compiled CLI, as users run it (`npm test` builds first); tsx would cost a second of
// start-up per command.
const CLI = [new URL('../../dist/cli/main.js', import.meta.url).pathname]
const COMMANDS = [
  'emulator',
  'gateway',
  'copy',
  'replay',
  'verify',
  'cutover',
  'rollback',
  'status',
  'plan',
  'index',
  'log',
  'log stats',
  'log inspect',
  'log tail',
  'demo',
]

t.test('vecshift --help lists every subcommand', async (t) => {
  const { stdout } = await run(process.execPath, [...CLI, '--help'])
  for (const c of COMMANDS.filter((c) => !c.includes(' '))) t.match(stdout, new RegExp(`^  ${c}\\b`, 'm'), c)
})

t.test('every subcommand answers --help with usage and exit 0', async (t) => {
  await Promise.all(
    COMMANDS.map(async (c) => {
      const { stdout } = await run(process.execPath, [...CLI, ...c.split(' '), '--help'])
      t.match(stdout, new RegExp(`Usage: vecshift ${c}`), c)
    }),
  )
})

t.test('the cutover steps are described once: --help and the docs print the table in code', async (t) => {
  const { readFileSync } = await import('node:fs')
  const { stepsHelp } = await import('../../src/migrate/cutover/steps.js')
  const table = stepsHelp()
  const { stdout } = await run(process.execPath, [...CLI, 'cutover', '--help'])
  t.ok(stdout.includes(table), 'vecshift cutover --help prints the step table')
  const doc = readFileSync(new URL('../../docs/replay-and-cutover.md', import.meta.url), 'utf8')
  const copy = /<!-- steps:begin -->\n```\n([\s\S]*?)\n```\n<!-- steps:end -->/.exec(doc)?.[1]
  t.equal(copy, table, 'docs/replay-and-cutover.md has the same table (paste stepsHelp() output there)')
  for (const name of ['preconditions', 'pre-reconcile', 'catch-up', 'barrier', 'drain', 'reconcile', 'flip'])
    t.match(table, new RegExp(`^  ${name} `, 'm'), `step ${name} is in the table`)
})

t.test('a missing --config is a usage error that names the flag', async (t) => {
  const err = await run(process.execPath, [...CLI, 'gateway']).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  )
  t.ok(err, 'exits non-zero')
  t.match(err?.stderr, /--config/)
})

t.test('a bad config refuses to start, naming the key, exit 2', async (t) => {
  const err = await run(process.execPath, [...CLI, 'gateway', '--config', '/nonexistent.yaml']).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  )
  t.equal(err?.code, 2)
  t.match(err?.stderr, /VECSHIFT_ERR_CONFIG_FILE/)
})

t.test('the gateway refuses a source without host or of another type, naming the key', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-gw-config-'))
  const cases: Array<[string, RegExp]> = [
    [
      'source: { type: pinecone, index: products }',
      /source\.host: the gateway forwards to the source index's data-plane URL/,
    ],
    [
      'source: { type: pgvector, table: items, database: d, user: u }',
      /source\.type: the gateway needs a Pinecone source/,
    ],
  ]
  for (const [i, [source, message]] of cases.entries()) {
    const file = join(dir, `c${i}.yaml`)
    writeFileSync(
      file,
      `migration: { id: gw }\n${source}\ngateway: { listen: { port: 0 } }\nadmin: { enabled: false }\n` +
        `control: { dir: "${join(dir, 'control')}" }\n`,
    )
    const err = await run(process.execPath, [...CLI, 'gateway', '--config', file]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    )
    t.equal(err?.code, 2, source)
    t.match(err?.stderr, message)
  }
})

t.test('the compiled CLI (npm run build) runs', async (t) => {
  const main = new URL('../../dist/cli/main.js', import.meta.url).pathname
  const { stdout } = await run(process.execPath, [main, '--version'])
  const { version } = JSON.parse(
    await import('node:fs').then((fs) => fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')),
  ) as { version: string }
  t.equal(stdout.trim(), version)
})
