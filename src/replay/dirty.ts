import { createReadStream } from 'node:fs'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'

// The ids written since capture began (the dirty set), which the cutover compares on both
// sides and repairs from the source before it flips. One JSON line per id,
// `["namespace","id"]`, or per write that named no ids, `{"namespace":…,"filter":…}` /
// `{"namespace":…,"deleteAll":true}` (reconciliation must treat the whole namespace as
// touched). Lines are made durable before the batch that wrote those ids is applied, so a
// crash can lose no entry. JSON keeps any character an id may hold.

export type DirtyEntry =
  | { readonly namespace: string; readonly id: string }
  | { readonly namespace: string; readonly filter: Record<string, unknown> }
  | { readonly namespace: string; readonly deleteAll: true }

export class DirtySet {
  readonly #seen = new Set<string>()
  #file: FileHandle | undefined
  #pending: string[] = []

  private constructor(readonly path: string) {}

  static async open(path: string): Promise<DirtySet> {
    const set = new DirtySet(path)
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    for await (const entry of readDirty(path)) if ('id' in entry) set.#seen.add(key(entry.namespace, entry.id))
    set.#file = await open(path, 'a+', 0o600)
    // A crash mid-write can leave a torn last line; end it, so the next line starts clean
    // (the torn one is skipped when read: its batch was never applied).
    const { size } = await set.#file.stat()
    if (size > 0) {
      const last = Buffer.alloc(1)
      await set.#file.read(last, 0, 1, size - 1)
      if (last[0] !== 0x0a) await set.#file.write('\n')
    }
    return set
  }

  /** Distinct ids recorded. */
  get size(): number {
    return this.#seen.size
  }

  addId(namespace: string, id: string): void {
    const k = key(namespace, id)
    if (this.#seen.has(k)) return
    this.#seen.add(k)
    this.#pending.push(JSON.stringify([namespace, id]))
  }

  addWhole(entry: Exclude<DirtyEntry, { id: string }>): void {
    this.#pending.push(JSON.stringify(entry))
  }

  /** Makes what was added durable (one write and one fdatasync). */
  async sync(): Promise<void> {
    if (this.#pending.length === 0 || !this.#file) return
    const text = `${this.#pending.join('\n')}\n`
    this.#pending = []
    await this.#file.write(text)
    await this.#file.datasync()
  }

  async close(): Promise<void> {
    await this.sync()
    await this.#file?.close()
    this.#file = undefined
  }
}

function key(namespace: string, id: string): string {
  return `${namespace}\u0000${id}`
}

/** Every entry of a dirty-set file (none if it does not exist); torn lines are skipped. */
export async function* readDirty(path: string): AsyncGenerator<DirtyEntry> {
  let stream: ReturnType<typeof createReadStream> | undefined
  try {
    stream = createReadStream(path, 'utf8')
    await new Promise<void>((resolve, reject) => stream?.once('open', () => resolve()).once('error', reject))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (line === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      continue
    }
    if (Array.isArray(value) && value.length === 2) yield { namespace: String(value[0]), id: String(value[1]) }
    else if (value !== null && typeof value === 'object') yield value as DirtyEntry
  }
}
