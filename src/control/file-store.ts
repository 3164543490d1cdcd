import { hostname } from 'node:os'
import { link, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises'
import { watch as fsWatch, type FSWatcher } from 'node:fs'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { E, VecshiftError } from '../errors.js'
import { fsyncDir, readJson, writeJsonAtomic } from '../atomic-json.js'
import { BaseControlStore, type ControlStoreIdentity } from './base.js'
import type { ProgressReport, ReplicaLease } from './contract.js'
import type { MigrationRecord } from './record.js'

// The embedded control store: the record is one JSON file written atomically (temp file,
// fsync, rename, fsync of the directory), so a crash leaves the old or the new version.
// Changes take a short lock (a file created with link(2), which fails if it exists) around
// read-compare-write, so two processes on this host (a gateway and `vecshift cutover`) cannot
// both change the record from the same epoch. Replicas' leases are one small file each, so
// heartbeats never contend with changes. Watching is polling (a small file, read a few times
// a second, works on every platform and mount), sped up by fs.watch where the platform
// reports the record's rename.

const LOCK_WAIT_MS = 10_000

export interface FileControlOptions extends ControlStoreIdentity {
  readonly dir: string
}

export class FileControlStore extends BaseControlStore {
  readonly backend = 'file' as const
  readonly #path: string
  readonly #lockPath: string
  readonly #replicasDir: string
  readonly #reportsDir: string
  readonly #options: FileControlOptions
  readonly #watchers = new Set<NodeJS.Timeout>()
  readonly #notifiers = new Set<() => void>()

  private constructor(options: FileControlOptions) {
    super(options)
    this.#options = options
    this.#path = join(options.dir, `${options.migration}.control.json`)
    this.#lockPath = `${this.#path}.lock`
    this.#replicasDir = join(options.dir, `${options.migration}.replicas`)
    this.#reportsDir = join(options.dir, `${options.migration}.reports`)
  }

  static async open(options: FileControlOptions): Promise<FileControlStore> {
    const store = new FileControlStore(options)
    try {
      await mkdir(store.#replicasDir, { recursive: true, mode: 0o700 })
      await mkdir(store.#reportsDir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new VecshiftError(E.CONTROL_UNAVAILABLE, [`file ${options.dir}`, (err as Error).message], { cause: err })
    }
    return store
  }

  get path(): string {
    return this.#path
  }

  protected createIfAbsent(record: MigrationRecord): Promise<MigrationRecord> {
    return this.#locked(async () => {
      const existing = await this.load()
      if (existing) return existing
      await writeJsonAtomic(this.#path, record)
      return record
    })
  }

  protected swap(decide: (current: MigrationRecord) => MigrationRecord): Promise<MigrationRecord> {
    return this.#locked(async () => {
      const next = decide((await this.load()) as MigrationRecord)
      await writeJsonAtomic(this.#path, next)
      return next
    })
  }

  watch(onChange: (r: MigrationRecord) => void, intervalMs = 200): () => void {
    let epoch = -1
    let busy = false
    let again = false
    let stopped = false
    const look = () => {
      if (stopped) return
      if (busy) {
        again = true
        return
      }
      busy = true
      this.load()
        .then(
          (r) => {
            // A look that was under way when the watch stopped tells no one.
            if (r && r.epoch !== epoch && !stopped) {
              epoch = r.epoch
              onChange(r)
            }
          },
          () => undefined,
        )
        .finally(() => {
          busy = false
          if (again) {
            again = false
            look()
          }
        })
    }
    const timer = setInterval(look, intervalMs)
    timer.unref()
    this.#watchers.add(timer)
    // Where the platform tells (inotify), a change is seen as soon as its rename lands: a
    // cutover's barrier then starts at once rather than at each gateway's next poll. The
    // polling stays, for mounts and platforms that do not tell.
    const name = basename(this.#path)
    let notifier: FSWatcher | undefined
    try {
      notifier = fsWatch(this.#options.dir, { persistent: false }, (_event, file) => {
        if (file === null || file === name) look()
      })
      notifier.on('error', () => {
        notifier?.close()
        notifier = undefined
      })
    } catch {
      notifier = undefined
    }
    const stop = () => {
      stopped = true
      clearInterval(timer)
      notifier?.close()
      this.#watchers.delete(timer)
      this.#notifiers.delete(stop)
    }
    this.#notifiers.add(stop)
    return stop
  }

  protected async saveLease(lease: ReplicaLease): Promise<void> {
    await this.#write(join(this.#replicasDir, `${safeName(lease.replica)}.json`), lease)
  }

  async replicas(): Promise<ReplicaLease[]> {
    const out: ReplicaLease[] = []
    for (const name of await readdir(this.#replicasDir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue
      const lease = await readJson<ReplicaLease>(join(this.#replicasDir, name)).catch(() => undefined)
      if (lease) out.push(lease)
    }
    return out.sort((a, b) => (a.replica < b.replica ? -1 : 1))
  }

  async leave(replica: string): Promise<void> {
    await unlink(join(this.#replicasDir, `${safeName(replica)}.json`)).catch(() => undefined)
  }

  protected async saveReport(name: string, report: ProgressReport): Promise<void> {
    await this.#write(join(this.#reportsDir, `${safeName(name)}.json`), { name, ...report })
  }

  async #write(path: string, value: unknown): Promise<void> {
    try {
      await writeJsonAtomic(path, value)
    } catch (err) {
      throw new VecshiftError(E.CONTROL_UNAVAILABLE, [`file ${this.#options.dir}`, (err as Error).message], {
        cause: err,
      })
    }
  }

  async reports(): Promise<Record<string, ProgressReport>> {
    const out: Record<string, ProgressReport> = {}
    for (const file of await readdir(this.#reportsDir).catch(() => [] as string[])) {
      if (!file.endsWith('.json')) continue
      const r = await readJson<ProgressReport & { name: string }>(join(this.#reportsDir, file)).catch(() => undefined)
      if (r) out[r.name] = { value: r.value, updatedAt: r.updatedAt }
    }
    return out
  }

  async close(): Promise<void> {
    for (const stop of [...this.#notifiers]) stop()
    for (const t of this.#watchers) clearInterval(t)
    this.#watchers.clear()
  }

  protected async load(): Promise<MigrationRecord | undefined> {
    try {
      return await readJson<MigrationRecord>(this.#path)
    } catch (err) {
      throw new VecshiftError(E.CONTROL_UNAVAILABLE, [`file ${this.#path}`, (err as Error).message], { cause: err })
    }
  }

  /** Runs `fn` holding the record's lock; a lock left by a dead process on this host is taken over. */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const me = JSON.stringify({ pid: process.pid, host: hostname() })
    const tmp = `${this.#lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`
    const handle = await open(tmp, 'wx', 0o600)
    await handle.writeFile(me)
    await handle.close()
    const deadline = Date.now() + LOCK_WAIT_MS
    try {
      for (;;) {
        try {
          await link(tmp, this.#lockPath)
          break
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        }
        const owner = await readFile(this.#lockPath, 'utf8').then(
          (t) => JSON.parse(t) as { pid?: number; host?: string },
          () => undefined,
        )
        if (owner && owner.host === hostname() && typeof owner.pid === 'number' && !alive(owner.pid)) {
          await unlink(this.#lockPath).catch(() => undefined)
          continue
        }
        if (Date.now() > deadline) {
          const holder = owner ? `pid ${owner.pid} on ${owner.host}` : 'another process'
          throw new VecshiftError(E.CONTROL_UNAVAILABLE, [
            `file ${this.#path}`,
            `its lock ${this.#lockPath} has been held for over ${LOCK_WAIT_MS / 1000} s by ${holder}`,
          ])
        }
        await sleep(5 + Math.random() * 20)
      }
    } finally {
      await unlink(tmp).catch(() => undefined)
    }
    try {
      return await fn()
    } finally {
      await unlink(this.#lockPath).catch(() => undefined)
      await fsyncDir(this.#options.dir).catch(() => undefined)
    }
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

function safeName(replica: string): string {
  return replica.replace(/[^a-zA-Z0-9_.-]/g, '_')
}
