import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import {
  linkSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
  closeSync,
  fsyncSync,
  statSync,
  utimesSync,
} from 'node:fs'
import { join } from 'node:path'
import { E, VecshiftError } from '../../errors.js'
import { processAlive } from '../../process-alive.js'

// One writer per log directory. The lock is a file created atomically (link(2) fails when
// the name exists) holding the owner's pid, host and a token drawn once per process. The
// holder touches it every REFRESH_MS. A lock left by a writer that is gone is taken over:
// - on this host, when its pid is not running (kill -9), or when its pid is this very
//   process's but the token is not (a container restarted after a crash runs as pid 1
//   again, and the dead incarnation's lock names pid 1 too);
// - from another host (a Kubernetes pod replaced after a crash has a new host name, on the
//   same volume), when it has not been touched for STALE_MS, since liveness cannot be
//   asked across hosts. A live holder, however busy, touches it far more often.
// Anything else is refused: two writers on one log would interleave its records.

export interface DirLock {
  readonly path: string
  release(): void
}

interface Owner {
  pid: number
  host: string
  token?: string
}

export const LOCK_REFRESH_MS = 5_000
export const LOCK_STALE_MS = 30_000
const TOKEN = randomBytes(8).toString('hex')
/** Locks this process holds: a second open in the same process is refused too. */
const held = new Set<string>()

export function acquireDirLock(dir: string, options: { staleMs?: number } = {}): DirLock {
  const path = join(dir, 'LOCK')
  const staleMs = options.staleMs ?? LOCK_STALE_MS
  const me: Owner = { pid: process.pid, host: hostname(), token: TOKEN }
  const tmp = join(dir, `.LOCK.${process.pid}.${Date.now()}`)
  const fd = openSync(tmp, 'wx', 0o600)
  writeSync(fd, JSON.stringify(me))
  fsyncSync(fd)
  closeSync(fd)
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!held.has(path)) {
        try {
          linkSync(tmp, path)
          return holding(path, me)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        }
        const owner = readOwner(path)
        if (owner && stale(path, owner, me, staleMs)) {
          // The previous writer died without releasing; its lock protects nothing now.
          try {
            unlinkSync(path)
          } catch {
            /* another process took it over first */
          }
          continue
        }
        throw new VecshiftError(E.LOG_LOCKED, [dir, owner ? `${owner.pid} on ${owner.host}` : 'unknown', path])
      }
      throw new VecshiftError(E.LOG_LOCKED, [dir, `${me.pid} on ${me.host} (this process)`, path])
    }
    throw new VecshiftError(E.LOG_LOCKED, [dir, 'unknown', path])
  } finally {
    unlinkSync(tmp)
  }
}

function holding(path: string, me: Owner): DirLock {
  held.add(path)
  const timer = setInterval(() => {
    const now = new Date()
    try {
      utimesSync(path, now, now)
    } catch {
      /* released or removed; the next open will tell */
    }
  }, LOCK_REFRESH_MS)
  timer.unref()
  return {
    path,
    release: () => {
      clearInterval(timer)
      held.delete(path)
      releaseIfMine(path, me)
    },
  }
}

function stale(path: string, owner: Owner, me: Owner, staleMs: number): boolean {
  if (owner.host === me.host) {
    if (owner.pid === me.pid) return owner.token !== me.token
    return !processAlive(owner.pid)
  }
  try {
    return Date.now() - statSync(path).mtimeMs > staleMs
  } catch {
    return false
  }
}

function readOwner(path: string): Owner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>
    if (typeof o.pid !== 'number' || typeof o.host !== 'string') return undefined
    return { pid: o.pid, host: o.host, ...(typeof o.token === 'string' ? { token: o.token } : {}) }
  } catch {
    return undefined
  }
}

function releaseIfMine(path: string, me: Owner): void {
  const owner = readOwner(path)
  if (owner?.pid === me.pid && owner.host === me.host && owner.token === me.token) unlinkSync(path)
}
