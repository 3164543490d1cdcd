import { open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

// Small JSON documents (checkpoints, and later the control record) written so that a crash
// leaves either the old or the new version: write a temp file, fsync it, rename it over the
// old one, fsync the directory so the rename itself is durable.

// Each write has a temp file of its own: two writes of one path at once (a heartbeat on a
// timer and one on a routing change) must not rename each other's file away. The later
// rename wins, and either version is whole.
let writes = 0

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${++writes}`
  const file = await open(tmp, 'w', 0o600)
  try {
    await file.writeFile(JSON.stringify(value))
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
