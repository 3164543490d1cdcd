// Debian's PostgreSQL 15 server for one test (docs/architecture.md, "Modules": for tests
// that need several real connections, such as LISTEN/NOTIFY beside a pool, which PGlite's
// single session cannot give). A throw-away cluster in a temporary directory, on a loopback
// port, trust authentication, fsync off (nothing here must survive the machine; commits
// still reach the OS, so a killed server keeps them). As root the
// server runs as the `postgres` user, since PostgreSQL refuses to run as root.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PoolConfig } from 'pg'
import { until } from './until.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestPostgresServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
  poolConfig(): PoolConfig
  /** Stops the server at once (immediate shutdown): clients see the database vanish. */
  kill(): Promise<void>
  /** Starts it again on the same port and data. */
  restart(): Promise<void>
}

function binDir(): string {
  for (const v of ['15', '16', '17']) {
    const dir = `/usr/lib/postgresql/${v}/bin`
    if (existsSync(join(dir, 'postgres'))) return dir
  }
  throw new Error(
    'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; scripts/test.sh installs postgresql-15',
  )
}

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** As root: the uid and gid of the `postgres` user, for spawn(). */
function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {}
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim())
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim())
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error('running as root, but there is no `postgres` user (the postgresql-15 package creates it)')
  return { uid, gid }
}

export async function startTestPostgresServer(t: Teardown): Promise<TestPostgresServer> {
  const bin = binDir()
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-pg-'))
  const data = join(dir, 'data')
  const user = postgresUser()
  if ('uid' in user) chownSync(dir, user.uid, user.gid)
  chmodSync(dir, 0o700)
  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8'],
    { encoding: 'utf8', cwd: dir, ...user },
  )
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`)
  const port = await freePort()
  let child: ChildProcess | undefined

  const start = async () => {
    const proc = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=50',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...user },
    )
    child = proc
    let seen = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`postgres did not start within 20 s: ${seen.slice(-2000)}`)),
        20_000,
      )
      proc.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`postgres exited with ${code}: ${seen.slice(-2000)}`))
      })
      proc.stderr?.on('data', (d: Buffer) => {
        if (seen.length < 100_000) seen += d.toString()
        if (/ready to accept connections/.test(seen)) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    proc.removeAllListeners('exit')
  }

  const kill = async () => {
    const proc = child
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = once(proc, 'exit')
    // SIGQUIT is PostgreSQL's immediate shutdown: every session is cut at once, as in a
    // crash, but the backends exit with the postmaster (after SIGKILL they would linger and
    // hold the shared memory a restart needs).
    proc.kill('SIGQUIT')
    await exited
    // The server's children exit once the postmaster is gone; wait for the port to free.
    await until(() => spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]).status !== 0, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: `PostgreSQL to stop answering on port ${port} after its immediate shutdown`,
    })
  }

  await start()
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    poolConfig: () => ({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' }),
    kill,
    restart: start,
  }
}
