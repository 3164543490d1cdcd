// Starts librdkafka's mock Kafka cluster (Debian's kcat, three brokers) for one test. It
// speaks the real Kafka protocol and auto-creates topics with 4 partitions; it keeps data in
// memory only, so `kill()` loses everything (fault tests use it to take Kafka away).
import { spawn } from 'node:child_process'
import { once } from 'node:events'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestKafka {
  readonly brokers: string[]
  /** Kills the cluster (SIGKILL) at once; idempotent. */
  kill(): Promise<void>
}

let topicCounter = 0

/** A topic name no other test uses. */
export function uniqueTopic(label = 'log'): string {
  return `vx-${label}-${process.pid}-${++topicCounter}-${Date.now().toString(36)}`
}

export async function startTestKafka(t: Teardown): Promise<TestKafka> {
  const child = spawn(
    'kcat',
    ['-C', '-t', 'vecshift-boot', '-b', 'x:1', '-X', 'test.mock.num.brokers=3', '-d', 'mock', '-o', 'end', '-q'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  const brokers = await new Promise<string[]>((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(
      () => reject(new Error(`kcat printed no bootstrap.servers within 10 s: ${seen.slice(-2000)}`)),
      10_000,
    )
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`cannot start kcat (is it installed? scripts/test.sh installs it): ${err.message}`))
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`kcat exited with ${code}: ${seen.slice(-2000)}`))
    })
    // With `-d mock` kcat writes a debug line per request; keep draining stderr for the
    // cluster's lifetime or a full pipe would stall the brokers.
    child.stderr?.on('data', (d: Buffer) => {
      if (seen.length > 100_000) return
      seen += d.toString()
      const m = /bootstrap\.servers=(\S+)/.exec(seen)
      if (m) {
        clearTimeout(timer)
        resolve((m[1] as string).split(','))
      }
    })
  })
  child.removeAllListeners('exit')
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  t.teardown(kill)
  return { brokers, kill }
}
