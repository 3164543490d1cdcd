// Issue 19: a gateway replica started while the migration is in passthrough opens no write
// log. Another replica configured to capture must not move the migration into capture while
// that one lives: its writes would fail until it restarted. The move is refused, naming the
// replica; once that replica has gone, the move goes through.
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { FileControlStore } from '../../src/control/file-store.js'
import { cliDaemon, gatewayUrl, runCli } from '../helpers/cli.js'
import { migrationYaml } from '../helpers/config.js'
import { startTestEmulator } from '../helpers/emulator.js'
import { until } from '../helpers/until.js'

const KEY = 'replicas-follow-key'
const ENV = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }

t.test('the move into capture is refused while a replica without a write log lives', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 4, metric: 'cosine' },
      { name: 'dst', dimension: 4, metric: 'cosine' },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-replicas-follow-'))
  const write = (name: string, phase: string) => {
    const path = join(dir, name)
    writeFileSync(
      path,
      migrationYaml(
        dir,
        { id: 'follow', phase, source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
        // Each replica its own reverse log: a file log has one writer (a shared reverse log
        // on Kafka or S3 is another part of issue 19).
        { rollback: `{ logDir: "${join(dir, `reverse-${phase}`)}" }` },
      ),
    )
    return path
  }
  const passthrough = write('passthrough.yaml', 'passthrough')
  const capture = write('capture.yaml', 'capture')
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'follow' })
  t.teardown(() => control.close())

  const first = cliDaemon(t, ['gateway', '--config', passthrough, '--log-level', 'info'], ENV)
  await gatewayUrl(first)
  await until(async () => (await control.replicas()).some((l) => l.canCapture === false), {
    timeoutMs: 10_000,
    what: 'the passthrough replica to register without a write log',
  })

  const refused = await runCli(['gateway', '--config', capture], ENV, t)
  t.not(refused.code, 0, 'the capturing replica does not start')
  t.match(refused.err, /VECSHIFT_ERR_REPLICA_CANNOT_FOLLOW/, 'refused with the catalogue code')
  t.match(refused.err, new RegExp(`pid ${first.pid}`), 'naming the replica that could not follow')
  t.equal((await control.read()).phase, 'passthrough', 'the migration did not move')

  first.kill('SIGTERM')
  await once(first, 'exit')
  const second = cliDaemon(t, ['gateway', '--config', capture, '--log-level', 'info'], ENV)
  await gatewayUrl(second)
  t.equal((await control.read()).phase, 'capture', 'once it is gone, the move goes through')
})
