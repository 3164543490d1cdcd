import { createReadStream } from 'node:fs'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'

// The ids written since capture began (the dirty set), which the cutover compares on both
// sides and repairs from the source before it flips. One JSON line per id,
// `["namespace","id"]`, or per write that named no ids, `{"namespace":…,"filter":…}` /
// `{"namespace":…,"deleteAll":true}` (reconciliation must treat the whole namespace as
// touched); `"uncertain":true` marks one applied without a known outcome (the source may not
// have done it), whose namespace the cutover compares in full. Lines are made durable before
// the batch that wrote those ids is applied, so a crash can lose no entry. JSON keeps any
// character an id may hold.

export type DirtyEntry =
  | { readonly namespace: string; readonly id: string }
  | { readonly namespace: string; readonly filter: Record<string, unknown>; readonly uncertain?: true }
  | { readonly namespace: string; readonly deleteAll: true; readonly uncertain?: true }

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

/** Every entry of a dirty-set file (none if it does not exist) from byte `start`, each with
 *  the byte offset just past its line; torn lines are skipped. */
export async function* readDirtyFrom(path: string, start = 0): AsyncGenerator<{ entry: DirtyEntry; end: number }> {
  let offset = start
  for await (const line of lines(path, start)) {
    offset += Buffer.byteLength(line) + 1
    const entry = parse(line)
    if (entry) yield { entry, end: offset }
  }
}

/** Every entry of a dirty-set file (none if it does not exist); torn lines are skipped. */
export async function* readDirty(path: string): AsyncGenerator<DirtyEntry> {
  for await (const line of lines(path, 0)) {
    const entry = parse(line)
    if (entry) yield entry
  }
}

function parse(line: string): DirtyEntry | undefined {
  if (line === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (Array.isArray(value) && value.length === 2) return { namespace: String(value[0]), id: String(value[1]) }
  if (value !== null && typeof value === 'object') return value as DirtyEntry
  return undefined
}

/** Complete lines only: a last line without its newline (being written now) is left for
 *  the next reader, so byte offsets never run ahead of what was whole. */
async function* lines(path: string, start: number): AsyncGenerator<string> {
  let stream: ReturnType<typeof createReadStream> | undefined
  try {
    stream = createReadStream(path, { start })
    await new Promise<void>((resolve, reject) => stream?.once('open', () => resolve()).once('error', reject))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  let rest: Buffer = Buffer.alloc(0)
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let buf: Buffer = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
      yield buf.toString('utf8', 0, nl)
      buf = buf.subarray(nl + 1)
    }
    rest = buf
  }
}

/** How many writes by filter, delete-all or namespace deletion the dirty set holds, and in
 *  which namespaces (for the cutover's preconditions). */
export async function wholeWrites(path: string): Promise<{ count: number; namespaces: string[] }> {
  let count = 0
  const namespaces = new Set<string>()
  for await (const entry of readDirty(path)) {
    if ('id' in entry) continue
    count++
    namespaces.add(entry.namespace)
  }
  return { count, namespaces: [...namespaces].sort() }
}
