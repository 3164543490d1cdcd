// Starts a real S3 server (s3rver) on 127.0.0.1 for one test, in a child process, with a
// fresh bucket. `stop()` and `start()` let fault tests take the server away mid-test and
// bring it back on the same port with the same data.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestS3 {
  readonly endpoint: string
  readonly bucket: string
  readonly region: string
  /** A client for the test's own checks (path-style, dummy credentials). */
  readonly client: S3Client
  /** Creates another bucket with a name no other test uses. */
  newBucket(): Promise<string>
  /** Kills the server (SIGKILL): requests then fail with connection errors. */
  stop(): Promise<void>
  /** Starts it again on the same port and directory (objects survive). */
  start(): Promise<void>
  /** Where s3rver keeps objects, one file each (fault tests watch a write land). */
  readonly directory: string
}

const CHILD = new URL('./s3rver-child.mjs', import.meta.url).pathname
let bucketCounter = 0

/** s3rver accepts any credentials; the SDK's default chain reads these. */
export function useDummyAwsCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER'
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER'
}

async function launch(dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CHILD, dir, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
  })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const bound = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 10 s: ${stderr}`)), 10_000)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening (\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`s3rver exited with ${code}: ${stderr}`))
    })
  })
  return { child, port: bound }
}

export async function startTestS3(t: Teardown): Promise<TestS3> {
  useDummyAwsCredentials()
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-s3rver-'))
  let { child, port } = await launch(dir, 0)
  let running: ChildProcess | undefined = child
  const stop = async () => {
    const c = running
    running = undefined
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = once(c, 'exit')
    c.kill('SIGKILL')
    await exited
  }
  const endpoint = `http://127.0.0.1:${port}`
  const region = 'us-east-1'
  const client = new S3Client({ endpoint, region, forcePathStyle: true })
  const newBucket = async () => {
    const name = `vx-${process.pid}-${++bucketCounter}-${Date.now().toString(36)}`
    await client.send(new CreateBucketCommand({ Bucket: name }))
    return name
  }
  const bucket = await newBucket()
  t.teardown(async () => {
    client.destroy()
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    endpoint,
    bucket,
    region,
    client,
    stop,
    newBucket,
    directory: dir,
    async start() {
      if (running) return
      ;({ child, port } = await launch(dir, port))
      running = child
    },
  }
}
