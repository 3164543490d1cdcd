import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname

// The newcomer's path: `vecshift demo` runs SDK traffic through a gateway in front of an
// emulator and checks every answer against the index itself.
t.test('vecshift demo runs end to end with identical answers and no client errors', async (t) => {
  const { stdout } = await run(process.execPath, [CLI, 'demo', '--seconds', '2', '--vectors', '600', '--dimension', '32'], { timeout: 60_000 })
  t.match(stdout, /seeded\s+600 vectors in 3 namespaces/)
  const calls = Number(/traffic\s+(\d+) SDK calls/.exec(stdout)?.[1])
  // How many calls fit in the window depends on the machine's load (10 were seen while the
  // rest of the suite started up); that traffic went through and was checked is the point.
  t.ok(calls > 0, `${calls} SDK calls went through the gateway`)
  const answers = /answers\s+(\d+) of (\d+) compared answers identical/.exec(stdout)
  t.ok(answers, 'answers were compared')
  t.equal(answers?.[1], answers?.[2], 'every compared answer was identical')
  t.ok(Number(answers?.[2]) > 0)
  t.match(stdout, /errors\s+0 client errors/)
})
