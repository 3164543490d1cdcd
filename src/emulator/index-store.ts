// One index: its configuration (what the control plane describes) and its namespaces of
// records (what the data plane reads and writes). The data-plane rules (validation, limits,
// response shapes) live in data-ops.ts; this file only holds state and the primitive changes
// to it, each of which bumps `generation` so persistence knows what to write.
import type { Predicate } from '../wire/pinecone/filter.js'
import { Namespace, type Metric, type StoredRecord, type VectorType } from './records.js'

export type Deployment =
  | { readonly kind: 'serverless'; readonly cloud: string; readonly region: string }
  | {
      readonly kind: 'pod'
      readonly environment: string
      podType: string
      replicas: number
      readonly shards: number
      /** Selective metadata indexing (pod indexes only): the fields indexed for filtering. */
      readonly metadataIndexed?: readonly string[]
    }

export interface IndexConfig {
  readonly name: string
  readonly vectorType: VectorType
  /** null for sparse indexes. */
  readonly dimension: number | null
  readonly metric: Metric
  readonly deployment: Deployment
  deletionProtection: 'enabled' | 'disabled'
  tags: Record<string, string> | null
  readonly sourceCollection: string | null
  readonly createdAt: number
  /** Until this time (ms since epoch) the index reports Initializing. */
  readonly readyAt: number
}

/** The namespace key used internally for the default namespace ("", missing, "__default__"). */
export const DEFAULT_NS = ''

export function namespaceKey(raw: string | undefined | null): string {
  return raw === undefined || raw === null || raw === '__default__' ? DEFAULT_NS : raw
}

export type RecordSet = ReadonlyMap<string, ReadonlyMap<string, StoredRecord>>

export class VectorIndex {
  readonly namespaces = new Map<string, Namespace>()
  /** Bumped by every change to the records; persistence writes an index when it moved. */
  generation = 0

  constructor(
    readonly config: IndexConfig,
    private readonly onChange: () => void = () => {},
  ) {}

  get isPod(): boolean {
    return this.config.deployment.kind === 'pod'
  }

  namespace(key: string): Namespace | undefined {
    return this.namespaces.get(key)
  }

  /** The namespace, created implicitly (as an upsert does) when missing. */
  ensureNamespace(key: string): Namespace {
    let ns = this.namespaces.get(key)
    if (ns === undefined) {
      ns = new Namespace()
      this.namespaces.set(key, ns)
    }
    return ns
  }

  put(key: string, records: readonly StoredRecord[]): void {
    const ns = this.ensureNamespace(key)
    for (const r of records) ns.set(r)
    this.changed()
  }

  remove(key: string, ids: Iterable<string>): void {
    const ns = this.namespaces.get(key)
    if (ns === undefined) return
    for (const id of ids) ns.delete(id)
    this.dropIfGone(key, ns)
    this.changed()
  }

  removeMatching(key: string, pred: Predicate): number {
    const ns = this.namespaces.get(key)
    if (ns === undefined) return 0
    const doomed: string[] = []
    for (const r of ns.records.values()) if (pred(r.metadata)) doomed.push(r.id)
    for (const id of doomed) ns.delete(id)
    this.dropIfGone(key, ns)
    this.changed()
    return doomed.length
  }

  clearNamespace(key: string): void {
    const ns = this.namespaces.get(key)
    if (ns === undefined) return
    ns.clear()
    this.dropIfGone(key, ns)
    this.changed()
  }

  createNamespace(key: string, schema: unknown): Namespace {
    const ns = this.ensureNamespace(key)
    ns.explicit = true
    ns.schema = schema
    this.changed()
    return ns
  }

  deleteNamespace(key: string): boolean {
    const had = this.namespaces.delete(key)
    if (had) this.changed()
    return had
  }

  totalCount(): number {
    let n = 0
    for (const ns of this.namespaces.values()) n += ns.size
    return n
  }

  /** A point-in-time copy of every namespace (records are immutable, so maps of references). */
  snapshot(): RecordSet {
    const out = new Map<string, ReadonlyMap<string, StoredRecord>>()
    for (const [key, ns] of this.namespaces) if (ns.size > 0) out.set(key, new Map(ns.records))
    return out
  }

  /** Namespaces created explicitly, with their schema (persisted even while empty). */
  explicitNamespaces(): Array<[string, unknown]> {
    return [...this.namespaces].filter(([, ns]) => ns.explicit).map(([key, ns]) => [key, ns.schema ?? null])
  }

  /** Load records (from a collection or a persisted snapshot) without counting as a change. */
  load(data: RecordSet, explicit: ReadonlyArray<readonly [string, unknown]> = []): void {
    for (const [key, records] of data) {
      const ns = this.ensureNamespace(key)
      for (const r of records.values()) ns.set(r)
    }
    for (const [key, schema] of explicit) {
      const ns = this.ensureNamespace(key)
      ns.explicit = true
      ns.schema = schema ?? undefined
    }
  }

  private changed(): void {
    this.generation++
    this.onChange()
  }

  // A namespace made implicitly by upserts disappears with its last record, as on serverless.
  private dropIfGone(key: string, ns: Namespace): void {
    if (ns.size === 0 && !ns.explicit) this.namespaces.delete(key)
  }
}
