import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname

// The newcomer's path: `vecshift demo` runs a real migration on embedded defaults while the
// official SDK writes and queries through the gateway, and says how it went. The demo checks
// the new index against the app's ledger itself; here its summary is read back.

function figures(stdout: string) {
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1])
  return {
    copied: num(/records copied\s+(\d+)/),
    captured: num(/writes captured\s+(\d+) before the cutover/),
    replayed: num(/writes replayed\s+(\d+)/),
    recall: num(/recall@10\s+([\d.]+)/),
    pause: num(/longest write pause\s+(\d+) ms/),
    errors: num(/client errors\s+(\d+)/),
  }
}

for (const target of ['pinecone', 'pgvector'] as const) {
  t.test(`vecshift demo --target ${target}: copy, replay, verify and cutover under SDK traffic`, async (t) => {
    const { stdout, stderr } = await run(
      process.execPath,
      [CLI, 'demo', '--target', target, '--vectors', '900', '--dimension', '16', '--after-seconds', '1'],
      { timeout: 120_000 },
    )
    t.comment(stdout)
    const f = figures(stdout)
    // Seeded records plus whatever the app wrote before the copy's snapshot.
    t.ok(f.copied >= 900, `copied ${f.copied} records`)
    t.ok(f.captured > 0, 'writes were captured while the copy ran')
    t.equal(f.replayed, f.captured, 'every captured write was replayed')
    t.ok(f.recall >= 0.95, `recall@10 ${f.recall}`)
    // Within the budget: a cutover whose pause outlasts it aborts by itself, and this one is
    // done (matched below); the pause is reported.
    t.ok(Number.isInteger(f.pause), `longest write pause reported (${f.pause} ms)`)
    t.equal(f.errors, 0, 'no client errors')
    t.match(stdout, /cutover\s+done: preconditions \d+ ms, .*flip \d+ ms/)
    t.match(stdout, /new index vs app ledger\s+all \d+ ids the app wrote are as it was told/)
    t.match(stdout, /phase\s+target-primary/)
    // Progress on stderr (JSON lines: stderr is not a terminal here) ends at 100 %.
    const last = stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{"progress":"copy"'))
      .at(-1)
    t.match(JSON.parse(last ?? '{}'), { progress: 'copy', final: true, percent: 100 })
  })
}
