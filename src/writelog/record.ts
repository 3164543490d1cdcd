// The records of the write log: what a write did, in its parsed form, and what became of
// it. docs/writelog-format.md describes the binary encoding (codec.ts) for other tools.
//
// A client write is logged as an *intent* (upsert, update or delete) before it is forwarded
// to the source, and its *outcome* is logged afterwards, referring to the intent by
// (instance, seq). The replayer applies intents whose outcome is `ok`, skips `failed`
// ones, and repairs from the source the ids of intents whose outcome is `unknown` or
// missing (the gateway died between the two).

export type Op = 'upsert' | 'update' | 'delete' | 'create_namespace' | 'outcome' | 'fence' | 'abandon'
/** ok: the source accepted it. failed: the source refused it (4xx). unknown: it was sent and
 *  no usable answer came. unsent: the gateway failed before sending anything upstream. */
export type OutcomeKind = 'ok' | 'failed' | 'unknown' | 'unsent'

export type Metadata = Record<string, string | number | boolean | string[]>

export interface SparseValues {
  readonly indices: Uint32Array
  readonly values: Float32Array
}

export interface VectorRecord {
  readonly id: string
  /** Dense values as Pinecone keeps them (float32); absent for sparse-only records. */
  readonly values?: Float32Array
  readonly sparseValues?: SparseValues
  readonly metadata?: Metadata
}

/** Fields every record carries. */
export interface RecordHeader {
  /** The gateway process that wrote it; with `seq`, the record's identity. */
  readonly instance: string
  /** Per-instance sequence, increasing by one per record, from 0 at process start. */
  readonly seq: number
  /** Milliseconds since the epoch when the gateway received the write. */
  readonly ts: number
  /** X-Pinecone-Api-Version of the client's request ("" if none). */
  readonly apiVersion: string
  /** The client's request id (x-request-id or the gateway's own). */
  readonly requestId: string
  /** Canonical namespace: "" for the default namespace (also sent as "__default__"). */
  readonly namespace: string
}

export interface UpsertRecord extends RecordHeader {
  readonly op: 'upsert'
  readonly vectors: readonly VectorRecord[]
}

export interface UpdateRecord extends RecordHeader {
  readonly op: 'update'
  readonly id?: string
  readonly values?: Float32Array
  readonly sparseValues?: SparseValues
  readonly setMetadata?: Metadata
  /** Update by filter (setMetadata only); mutually exclusive with `id`. */
  readonly filter?: Record<string, unknown>
}

export interface DeleteRecord extends RecordHeader {
  readonly op: 'delete'
  readonly ids?: readonly string[]
  readonly filter?: Record<string, unknown>
  readonly deleteAll?: boolean
  /** With deleteAll: the namespace itself goes too (DELETE /namespaces/{ns}). */
  readonly deleteNamespace?: boolean
}

/** Creating a namespace (API 2025-10+): `namespace` of the header, with its metadata schema. */
export interface CreateNamespaceRecord extends RecordHeader {
  readonly op: 'create_namespace'
  readonly schema?: Record<string, unknown>
}

export interface OutcomeRecord extends RecordHeader {
  readonly op: 'outcome'
  /** The intent this outcome belongs to: same instance, this seq. */
  readonly intentSeq: number
  readonly outcome: OutcomeKind
  /** HTTP status the source answered; 0 when there was no answer. */
  readonly status: number
}

/** A marker the cutover appends; the replayer reports when it has applied up to it. */
export interface FenceRecord extends RecordHeader {
  readonly op: 'fence'
  readonly fenceId: string
}

/** Appended by a gateway that found another one dead (its lease expired, or its pid is
 *  gone on this host): that instance's intents without an outcome will never get one, so
 *  the replayer treats them as `unknown` at once instead of waiting outcomeWaitMs. */
export interface AbandonRecord extends RecordHeader {
  readonly op: 'abandon'
  readonly abandoned: string
}

export type IntentRecord = UpsertRecord | UpdateRecord | DeleteRecord | CreateNamespaceRecord
export type LogRecord = IntentRecord | OutcomeRecord | FenceRecord | AbandonRecord

export function isIntent(record: LogRecord): record is IntentRecord {
  return record.op === 'upsert' || record.op === 'update' || record.op === 'delete' || record.op === 'create_namespace'
}

/** The ids an intent touches, when it names them (filter and deleteAll intents do not). */
export function touchedIds(record: IntentRecord): readonly string[] | undefined {
  switch (record.op) {
    case 'upsert':
      return record.vectors.map((v) => v.id)
    case 'update':
      return record.id === undefined ? undefined : [record.id]
    case 'delete':
      return record.ids
    case 'create_namespace':
      return undefined
  }
}
