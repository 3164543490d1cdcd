// Issue 19: a cutover always ends, even when its coordinator dies. `vecshift cutover` is
// SIGKILLed at each of its steps in turn, with a gateway (capture), `vecshift replay --follow`
// and SDK clients writing through the gateway all the while:
// - before the pause (preconditions, pre-reconcile, catch-up) nothing is held, nothing moves;
// - in the pause (barrier, drain, reconcile) the gateway sees the coordinator is gone and
//   ends the pause itself: phase capture again, the attempt aborted saying why, held writes
//   sent to the source;
// - at the flip the record is either flipped (kept) or not (the pause ends as above);
// - after the flip the migration stays target-primary and the gateway follows it.
// The clients hold writes at most maxPauseMs + 1 s (gateway.cutover.maxHoldMs): a pause
// that outlived that bound would fail a client write with 503. At the end no client saw an
// error, and the target, primary by then, holds every acknowledged write.
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Pinecone } from '@pinecone-database/pinecone'
import t from 'tap'
import { FileControlStore } from '../../../src/control/file-store.js'
import type { MigrationRecord } from '../../../src/control/record.js'
import { ReplayStatusFile } from '../../../src/replay/status.js'
import { PineconeStore } from '../../../src/stores/pinecone/store.js'
import { cliDaemon, gatewayUrl, runCli } from '../../helpers/cli.js'
import { migrationYaml } from '../../helpers/config.js'
import { startTestEmulator } from '../../helpers/emulator.js'
import { untilReplayFollowing } from '../../helpers/replay-status.js'
import { startSdkLoad } from '../../helpers/sdk-load.js'
import { until } from '../../helpers/until.js'

const KEY = 'coordinator-death-key'
const ENV = { ...process.env, VECSHIFT_SOURCE_API_KEY: KEY, VECSHIFT_TARGET_API_KEY: KEY }
const CLI = new URL('../../../dist/cli/main.js', import.meta.url).pathname
const MAX_PAUSE_MS = 3_000

interface KillAt {
  /** Once it reports this step done (its "✓ step" line). */
  readonly afterStep?: string
  /** Once the control record shows this phase (the barrier's record is written). */
  readonly atPhase?: { readonly control: FileControlStore; readonly phase: string }
  /** Told each line it prints, before the kill is decided. */
  readonly onLine?: (line: string) => void
}

/** A `vecshift cutover` (or rollback) process, SIGKILLed at `at` (at once when it names
 *  nothing). */
async function cutoverKilled(config: string, at: KillAt, command: 'cutover' | 'rollback' = 'cutover') {
  const child: ChildProcess = spawn(process.execPath, [CLI, command, '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: ENV,
  })
  const exited = once(child, 'exit')
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  if (!at.afterStep && !at.atPhase) kill()
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    at.onLine?.(line)
    if (at.afterStep && line.startsWith(`✓ ${at.afterStep} `)) kill()
  })
  const stopWatching = at.atPhase?.control.watch((r) => {
    if (r.phase === at.atPhase?.phase) kill()
  }, 2)
  child.stdout?.resume()
  const [code, signal] = await exited
  stopWatching?.()
  return { code: code as number | null, signal: signal as NodeJS.Signals | null }
}

t.test('SIGKILL of the coordinator at every step: the pause always ends, no write is lost', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 4, metric: 'cosine' },
      { name: 'dst', dimension: 4, metric: 'cosine' },
    ],
  })
  const store = (index: string) =>
    new PineconeStore({ role: 'test', index, host: emu.indexHost(index), controllerHost: emu.url, apiKey: KEY })
  const source = store('src')
  const target = store('dst')
  t.teardown(() => Promise.all([source.close(), target.close()]))
  await source.upsert(
    '',
    Array.from({ length: 200 }, (_, i) => ({ id: `old-${i}`, values: Float32Array.of(i, 1, 2, 3) })),
  )
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-coordinator-death-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    migrationYaml(
      dir,
      { id: 'death', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
      {
        control: `{ dir: "${join(dir, 'control')}", leaseMs: 2000 }`,
        cutover: `{ maxPauseMs: ${MAX_PAUSE_MS} }`,
        // A write held longer than the pause budget plus a second fails with 503.
        gateway: `{ listen: { port: 0 }, cutover: { maxHoldMs: ${MAX_PAUSE_MS + 1_000} } }`,
      },
    ),
  )
  const gateway = cliDaemon(t, ['gateway', '--config', config, '--log-level', 'info'], ENV)
  const url = await gatewayUrl(gateway)

  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
  const load = startSdkLoad(index, { seed: 19, perSecond: 100 })

  const copy = await runCli(['copy', '--config', config, '--json', '--progress', 'none'], ENV, t)
  t.equal(copy.code, 0, copy.err)
  cliDaemon(t, ['replay', '--config', config, '--follow'], ENV)
  const status = new ReplayStatusFile(join(dir, 'replay'), 'death', 'replay')
  const following = () =>
    untilReplayFollowing(() => status.load(), { maxLagRecords: 100, what: '`vecshift replay --follow` to follow' })
  await following()
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'death' })
  t.teardown(() => control.close())
  const untilWritesFlow = async (what: string) => {
    const from = load.writes()
    await until(() => load.writes() >= from + 10, { timeoutMs: 20_000, what: `writes through the gateway ${what}` })
  }

  // Before the pause: nothing is held, so nothing has to end. (A kill sent after the
  // pre-reconcile can land once the barrier has begun: then the gateway ends that pause.)
  for (const after of [undefined, 'preconditions', 'pre-reconcile']) {
    const before = (await control.read()).cutovers.length
    const killed = await cutoverKilled(config, after ? { afterStep: after } : {})
    t.equal(killed.signal, 'SIGKILL', `killed ${after ? `after ${after}` : 'at once'}`)
    let r = await control.read()
    await until(
      async () => {
        r = await control.read()
        return r.phase === 'capture' && !r.routing.holdWrites
      },
      { timeoutMs: MAX_PAUSE_MS + 5_000, what: `capture again after a kill ${after ? `after ${after}` : 'at once'}` },
    )
    t.ok(
      r.cutovers.length === before || r.cutovers.at(-1)?.outcome === 'aborted',
      'nothing moved: no attempt began, or the one that did ended aborted',
    )
    await untilWritesFlow(`after a kill ${after ? `after ${after}` : 'at start'}`)
  }

  // In the pause: the barrier (killed once the record shows phase cutover), the drain and
  // the reconcile. The target answers slowly from the barrier on, so the drain and the
  // reconcile last long enough to be killed in.
  for (const step of ['barrier', 'drain', 'reconcile']) {
    await following()
    const before = (await control.read()).cutovers.length
    const after = step === 'barrier' ? 'the barrier record' : step === 'drain' ? 'barrier' : 'drain'
    const killed = await cutoverKilled(config, {
      ...(step === 'barrier' ? { atPhase: { control, phase: 'cutover' } } : { afterStep: after }),
      onLine: (line) => {
        if (line.startsWith('✓ catch-up ')) emu.faults.add({ op: '*', index: 'dst', latencyMs: 400 })
      },
    })
    emu.faults.clear()
    t.equal(killed.signal, 'SIGKILL', `killed after ${after}`)
    let r: MigrationRecord | undefined
    await until(
      async () => {
        r = await control.read()
        return r.cutovers.length > before && r.phase === 'capture'
      },
      { timeoutMs: MAX_PAUSE_MS + 5_000, what: `the pause ended after a kill after ${after}` },
    )
    const attempt = r?.cutovers.at(-1)
    t.equal(attempt?.outcome, 'aborted', `the attempt killed after ${after} is recorded aborted`)
    t.match(attempt?.reason, /coordinator|deadline/, `and why: ${attempt?.reason}`)
    t.equal(r?.routing.holdWrites, false, 'writes are no longer held')
    t.match(r?.changedBy, /^gateway /, 'the gateway ended the pause')
    await untilWritesFlow(`after a kill after ${after}`)
  }

  // At the flip: the record is flipped or not; either way the pause ends.
  await following()
  await cutoverKilled(config, {
    afterStep: 'reconcile',
    onLine: (line) => {
      if (line.startsWith('✓ catch-up ')) emu.faults.add({ op: '*', index: 'dst', latencyMs: 100 })
    },
  })
  emu.faults.clear()
  let r: MigrationRecord | undefined
  await until(
    async () => {
      r = await control.read()
      return !r.routing.holdWrites
    },
    { timeoutMs: MAX_PAUSE_MS + 5_000, what: 'the pause ended after a kill at the flip' },
  )
  t.ok(r?.phase === 'capture' || r?.phase === 'target-primary', `at the flip: ${r?.phase}`)

  if (r?.phase === 'capture') {
    // A cutover after all those kills goes through; killed once it has flipped, it stays so.
    await following()
    const killed = await cutoverKilled(config, { afterStep: 'flip' })
    t.ok(killed.signal === 'SIGKILL' || killed.code === 0, 'killed after the flip (or ended first)')
    r = await control.read()
  }
  t.equal(r?.phase, 'target-primary', 'the flip, once written, stands')
  t.equal(r?.cutovers.at(-1)?.outcome, 'done', 'the last attempt is done')
  await untilWritesFlow('to the target after the flip')

  // The rollback's pause the same way: killed in it, the gateway ends it, the target stays
  // primary and its writes go on.
  cliDaemon(t, ['replay', '--config', config, '--follow', '--reverse'], ENV)
  const reverse = new ReplayStatusFile(join(dir, 'replay'), 'death', 'rollback')
  await untilReplayFollowing(() => reverse.load(), { maxLagRecords: 100, what: 'the reverse replayer to follow' })
  const rollbacks = (await control.read()).cutovers.length
  const killedRollback = await cutoverKilled(config, { afterStep: 'barrier' }, 'rollback')
  t.equal(killedRollback.signal, 'SIGKILL', 'the rollback killed in its pause')
  await until(
    async () => {
      r = await control.read()
      return r.cutovers.length > rollbacks && !r.routing.holdWrites
    },
    { timeoutMs: MAX_PAUSE_MS + 5_000, what: "the rollback's pause ended" },
  )
  t.equal(r?.phase, 'target-primary', 'the target is still primary')
  t.match(r?.cutovers.at(-1), { kind: 'rollback', outcome: 'aborted', reason: /coordinator/ }, 'the rollback aborted')
  await untilWritesFlow('to the target after the rollback died')

  await load.stop()
  t.same(load.errors, [], `no client request failed (${load.writes()} writes)`)
  t.same(await load.differences(target), [], `the target holds every one of ${load.ledger.size} ids as the ledger says`)
})

t.test('a coordinator that stops answering: its lease ends the pause; --abort ends it at once', async (t) => {
  const emu = await startTestEmulator(t, {
    apiKey: KEY,
    indexes: [
      { name: 'src', dimension: 4, metric: 'cosine' },
      { name: 'dst', dimension: 4, metric: 'cosine' },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-coordinator-stuck-'))
  const config = join(dir, 'vecshift.yaml')
  writeFileSync(
    config,
    migrationYaml(
      dir,
      { id: 'stuck', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
      {
        // A long budget: here the lease (1 s) must end the pause well before the deadline.
        control: `{ dir: "${join(dir, 'control')}", leaseMs: 1000 }`,
        cutover: '{ maxPauseMs: 60000 }',
      },
    ),
  )
  // The same migration, for commands whose coordinator lease must outlast the test's steps.
  const longLease = join(dir, 'long-lease.yaml')
  writeFileSync(
    longLease,
    migrationYaml(
      dir,
      { id: 'stuck', phase: 'capture', source: { emu, index: 'src' }, target: { emu, index: 'dst' } },
      { control: `{ dir: "${join(dir, 'control')}", leaseMs: 60000 }`, cutover: '{ maxPauseMs: 60000 }' },
    ),
  )
  const gateway = cliDaemon(t, ['gateway', '--config', config, '--log-level', 'info'], ENV)
  const url = await gatewayUrl(gateway)
  const index = new Pinecone({ apiKey: KEY, controllerHostUrl: url }).index({ host: url })
  await index.upsert({ records: [{ id: 'a', values: [1, 2, 3, 4] }] })
  t.equal((await runCli(['copy', '--config', config, '--progress', 'none'], ENV, t)).code, 0, 'copied')
  cliDaemon(t, ['replay', '--config', config, '--follow'], ENV)
  const status = new ReplayStatusFile(join(dir, 'replay'), 'stuck', 'replay')
  const following = () =>
    untilReplayFollowing(() => status.load(), { maxLagRecords: 100, what: '`vecshift replay --follow` to follow' })
  await following()
  const control = await FileControlStore.open({ dir: join(dir, 'control'), migration: 'stuck' })
  t.teardown(() => control.close())

  /** A cutover frozen (SIGSTOP) once its barrier holds: alive, but silent. (Frozen after the
   *  barrier's record is written, not during it: a process frozen while it holds the file
   *  store's lock would stop every writer of the record, which is another test.) */
  const frozenInPause = async (file = config) => {
    const child = spawn(process.execPath, [CLI, 'cutover', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: ENV,
    })
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    let frozen = false
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.startsWith('✓ barrier ')) {
        child.kill('SIGSTOP')
        frozen = true
      }
    })
    const exited = once(child, 'exit')
    await until(() => frozen, { timeoutMs: 30_000, what: 'the cutover to pass its barrier' })
    return { child, exited, output: () => out }
  }

  // The lease: the frozen coordinator renews nothing; the gateway ends the pause, and a write
  // sent while writes were held goes to the source without an error.
  await following()
  const first = await frozenInPause()
  const held = index.upsert({ records: [{ id: 'held', values: [4, 3, 2, 1] }] })
  let r = await control.read()
  await until(
    async () => {
      r = await control.read()
      return r.phase === 'capture'
    },
    { timeoutMs: 20_000, what: "the pause ended by the coordinator's lease" },
  )
  t.match(r.cutovers.at(-1), { outcome: 'aborted', reason: /lease .* ran out/ }, 'ended by the lease, saying so')
  await held
  t.pass('the write held in the pause was answered')
  // Woken, the coordinator finds its pause ended: its flip is refused, it reports the abort.
  first.child.kill('SIGCONT')
  const [code] = await first.exited
  t.equal(code, 3, 'the woken coordinator exits "aborted"')
  t.match(first.output(), /cutover aborted: .*lease .* ran out/, 'and says why')

  // --abort: a frozen coordinator's pause ends at once, and asking again is answered the same.
  // The coordinator runs with a long lease here, so that only --abort can end its pause.
  await following()
  const second = await frozenInPause(longLease)
  const abort = await runCli(['cutover', '--config', longLease, '--abort', '--json'], ENV, t)
  t.equal(abort.code, 0, abort.err)
  t.match(JSON.parse(abort.out), { outcome: 'aborted' }, 'the pause ended by the operator')
  r = await control.read()
  t.equal(r.phase, 'capture', 'back to capture at once')
  t.match(r.cutovers.at(-1)?.reason, /aborted by the operator/, 'recorded as the operator abort')
  const again = await runCli(['cutover', '--config', longLease, '--abort', '--json'], ENV, t)
  t.equal(again.code, 0, again.err)
  t.match(JSON.parse(again.out), { outcome: 'already' }, 'a second --abort: already done')
  second.child.kill('SIGKILL')
  await second.exited

  // Nothing running: refused, saying so; a rollback has nothing to abort either.
  const none = await runCli(['rollback', '--config', config, '--abort'], ENV, t)
  t.equal(none.code, 2, 'refused with exit 2')
  t.match(none.err, /no rollback is running/)

  // --abort before the pause: the running coordinator is asked, and refuses, changing nothing.
  await following()
  emu.faults.add({ op: '*', index: 'dst', latencyMs: 3_000 })
  const slow = spawn(process.execPath, [CLI, 'cutover', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: ENV,
  })
  t.teardown(() => {
    if (slow.exitCode === null && slow.signalCode === null) slow.kill('SIGKILL')
  })
  let slowOut = ''
  slow.stdout.on('data', (d: Buffer) => {
    slowOut += d.toString()
  })
  const slowExit = once(slow, 'exit')
  let prepared = false
  createInterface({ input: slow.stderr }).on('line', (line) => {
    if (line.startsWith('✓ preconditions ')) prepared = true
  })
  await until(() => prepared, { timeoutMs: 30_000, what: 'the cutover to start its pre-reconcile' })
  const ask = await runCli(['cutover', '--config', config, '--abort', '--json'], ENV, t)
  t.equal(ask.code, 0, ask.err)
  t.match(JSON.parse(ask.out), { outcome: 'asked' }, 'the running coordinator is asked to stop')
  const [slowCode] = await slowExit
  emu.faults.clear()
  t.equal(slowCode, 2, 'it refuses (exit 2)')
  t.match(slowOut, /cutover refused: .*aborted by the operator/, 'saying the operator aborted it')
  t.equal((await control.read()).phase, 'capture', 'nothing changed')

  // A cutover still works after all that.
  await following()
  const done = await runCli(['cutover', '--config', config, '--json'], ENV, t)
  t.equal(done.code, 0, done.err)
  t.match(JSON.parse(done.out), { outcome: 'done', record: { phase: 'target-primary' } })
})
