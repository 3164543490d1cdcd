import { hostname } from 'node:os'
import { linkSync, openSync, readFileSync, unlinkSync, writeSync, closeSync, fsyncSync } from 'node:fs'
import { join } from 'node:path'
import { E, VecshiftError } from '../../errors.js'

// One writer per log directory. The lock is a file created atomically (link(2) fails when
// the name exists) holding the owner's pid and host. A lock whose owner on this host is
// gone (kill -9 leaves it behind) is taken over; a live owner's is refused.

export interface DirLock {
  readonly path: string
  release(): void
}

interface Owner { pid: number; host: string }

export function acquireDirLock(dir: string): DirLock {
  const path = join(dir, 'LOCK')
  const me: Owner = { pid: process.pid, host: hostname() }
  const tmp = join(dir, `.LOCK.${process.pid}.${Date.now()}`)
  const fd = openSync(tmp, 'wx', 0o600)
  writeSync(fd, JSON.stringify(me))
  fsyncSync(fd)
  closeSync(fd)
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path)
        return { path, release: () => releaseIfMine(path, me) }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const owner = readOwner(path)
      if (owner && owner.host === me.host && !alive(owner.pid)) {
        // The previous writer died without releasing; its lock protects nothing now.
        try { unlinkSync(path) } catch { /* another process took it over first */ }
        continue
      }
      throw new VecshiftError(E.LOG_LOCKED, [dir, owner ? `${owner.pid} on ${owner.host}` : 'unknown', path])
    }
    throw new VecshiftError(E.LOG_LOCKED, [dir, 'unknown', path])
  } finally {
    unlinkSync(tmp)
  }
}

function readOwner(path: string): Owner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>
    return typeof o.pid === 'number' && typeof o.host === 'string' ? { pid: o.pid, host: o.host } : undefined
  } catch {
    return undefined
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function releaseIfMine(path: string, me: Owner): void {
  const owner = readOwner(path)
  if (owner?.pid === me.pid && owner.host === me.host) unlinkSync(path)
}
