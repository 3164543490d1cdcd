import type { LogRecord } from './record.js'

// The write log's contract, the same for every backend (file, kafka, s3). A single contract
// test suite (test/writelog/contract.ts) runs against each of them.
//
// Positions are opaque strings chosen by the backend. Within one log they are totally
// ordered by `compare`; a reader started `after` a position sees exactly the records appended
// after it. Backends that are not totally ordered by nature (Kafka partitions) encode a
// vector of offsets and keep the order that matters: per (namespace, id).

export type Position = string

export interface LogEntry {
  readonly position: Position
  readonly record: LogRecord
}

export interface ReadOptions {
  /** Start after this position; undefined starts at the oldest retained record. */
  readonly after?: Position
  /** Keep waiting for new records instead of ending at the current tail. */
  readonly follow?: boolean
  /** Ends the iteration (a following reader otherwise never ends). */
  readonly signal?: AbortSignal
}

export interface LogStats {
  readonly records: number
  readonly bytes: number
  readonly head: Position | undefined
  readonly tail: Position | undefined
}

export interface WriteLog {
  readonly backend: 'file' | 'kafka' | 's3'

  /** Appends records in order. Resolves with their positions once every one of them is
   *  durable (the backend's definition, documented per backend); rejects if any is not,
   *  in which case none of them may be reported to a client as logged. Concurrent calls are
   *  grouped into shared commits. Rejects with a retriable VecshiftError when the log is
   *  unavailable or its queue is full. */
  append(records: readonly LogRecord[]): Promise<Position[]>

  /** Records in log order from `after` (exclusive). */
  read(options?: ReadOptions): AsyncIterable<LogEntry>

  /** Oldest retained and newest durable positions; undefined when the log is empty. */
  head(): Promise<Position | undefined>
  tail(): Promise<Position | undefined>

  /** Orders two positions of this log: negative, zero or positive. */
  compare(a: Position, b: Position): number

  /** How many records lie after `from` (undefined: from the oldest retained) up to and
   *  including `to`, for backends whose positions count records (file); lag in records. */
  distance?(from: Position | undefined, to: Position): number

  /** Named consumer checkpoints (the replayer's "applied up to here"), stored durably. */
  commit(consumer: string, position: Position): Promise<void>
  checkpoint(consumer: string): Promise<Position | undefined>

  /** Deletes what every consumer checkpoint has passed. Returns how many records or
   *  whole storage units (segments, objects) were removed, as the backend counts them. */
  retain(): Promise<{ removed: number }>

  stats(): Promise<LogStats>

  /** Flushes and releases resources. Idempotent; calls after close reject. */
  close(): Promise<void>
}
