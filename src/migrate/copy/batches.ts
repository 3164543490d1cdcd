import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { E, VecshiftError } from '../../errors.js'
import type { VectorStore } from '../../stores/contract.js'
import type { CopyCheckpoint, NamespaceProgress } from './checkpoint.js'

// Where the copy's batches of ids come from, in order, from where the checkpoint says the
// last copy stopped: pages of a listing (list-fetch), or lines of an ids file (ids-file).

export interface Batch {
  readonly seq: number
  /** Ids by namespace (an ids file may mix namespaces). */
  readonly ids: ReadonlyMap<string, string[]>
  /** What the checkpoint records once this batch and all before it are done. */
  readonly after: (cp: CopyCheckpoint) => void
}

/** Pages of ids, namespace after namespace, from each namespace's checkpointed cursor. */
export async function* listBatches(
  source: VectorStore,
  namespaces: readonly string[],
  batchSize: number,
  nsState: (ns: string) => NamespaceProgress,
): AsyncGenerator<Batch> {
  let seq = 0
  for (const ns of namespaces) {
    const state = nsState(ns)
    if (state.done) continue
    let cursor = state.cursor
    for (;;) {
      const page = await source.list(ns, { limit: batchSize, ...(cursor === undefined ? {} : { cursor }) })
      const next = page.next
      const last = next === undefined
      if (page.ids.length > 0 || last) {
        yield {
          seq: seq++,
          ids: new Map(page.ids.length > 0 ? [[ns, [...page.ids]]] : []),
          after: (cp) => {
            const s = cp.namespaces[ns] as NamespaceProgress
            if (last) {
              s.done = true
              delete s.cursor
            } else {
              s.cursor = next
            }
          },
        }
      }
      if (last) break
      cursor = next
    }
  }
}

/** Batches of lines of an ids file ("namespace<TAB>id" or "id"), from the checkpointed line. */
export async function* idsFileBatches(
  path: string,
  batchSize: number,
  namespace: string | undefined,
  checkpoint: CopyCheckpoint,
): AsyncGenerator<Batch> {
  const skip = checkpoint.linesDone ?? 0
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })
  let line = 0
  let seq = 0
  let ids = new Map<string, string[]>()
  let inBatch = 0
  const take = (): Batch => {
    const end = line
    const batch: Batch = {
      seq: seq++,
      ids,
      after: (cp) => {
        cp.linesDone = end
      },
    }
    ids = new Map()
    inBatch = 0
    return batch
  }
  for await (const raw of lines) {
    line++
    if (line <= skip) continue
    const text = raw.trim()
    if (text !== '' && !text.startsWith('#')) {
      const tab = raw.indexOf('\t')
      const ns = tab >= 0 ? raw.slice(0, tab) : (namespace ?? '')
      const id = (tab >= 0 ? raw.slice(tab + 1) : raw).trim()
      if (namespace === undefined || ns === namespace) {
        const list = ids.get(ns) ?? []
        list.push(id)
        ids.set(ns, list)
        checkpoint.namespaces[ns] ??= { done: false, copied: 0 }
        inBatch++
      }
    }
    if (inBatch >= batchSize) yield take()
  }
  yield take()
}

/** The ids an ids file holds (its lines that are not blank or comments), for progress. */
export async function countLines(path: string): Promise<number> {
  let n = 0
  try {
    for await (const raw of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
      const text = raw.trim()
      if (text !== '' && !text.startsWith('#')) n++
    }
  } catch (err) {
    throw new VecshiftError(E.COPY_REFUSED, [`cannot read the ids file ${path}: ${(err as Error).message}`])
  }
  return n
}
