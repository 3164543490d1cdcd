import { E, VecshiftError } from '../errors.js'
import type { LogEntry, LogStats, Position, ReadOptions, WriteLog } from './contract.js'
import type { LogRecord } from './record.js'

// What every write log does the same way, whatever holds its records: its lifecycle. Each
// backend (file, kafka, s3) implements the protected hooks and the contract's methods live
// here, so the contract's "calls after close reject" (with LOG_CLOSED) is one rule that holds
// for every backend alike, instead of a guard each backend must remember in every method.
//
//   open     calls are served
//   closing  close() was called: new calls are refused; appends already accepted are being
//            made durable (their callers may be about to acknowledge a client)
//   closed   those appends are settled and the backend's resources are being released

export type LogState = 'open' | 'closing' | 'closed'

export abstract class BaseWriteLog implements WriteLog {
  abstract readonly backend: WriteLog['backend']
  #state: LogState = 'open'
  #closing: Promise<void> | undefined

  protected get state(): LogState {
    return this.#state
  }

  abstract compare(a: Position, b: Position): number

  append(records: readonly LogRecord[]): Promise<Position[]> {
    // A rejected promise, never a throw: callers chain on it while a client waits.
    if (this.#state !== 'open') return Promise.reject(closed())
    return this.appendRecords(records)
  }

  read(options: ReadOptions = {}): AsyncIterable<LogEntry> {
    if (this.#state !== 'open') return failing(closed())
    return this.readEntries(options)
  }

  async head(): Promise<Position | undefined> {
    this.#assertOpen()
    return this.headPosition()
  }

  async tail(): Promise<Position | undefined> {
    this.#assertOpen()
    return this.tailPosition()
  }

  async commit(consumer: string, position: Position): Promise<void> {
    this.#assertOpen()
    await this.commitCheckpoint(consumer, position)
  }

  async checkpoint(consumer: string): Promise<Position | undefined> {
    this.#assertOpen()
    return this.readCheckpoint(consumer)
  }

  async retain(): Promise<{ removed: number }> {
    this.#assertOpen()
    return this.removePassed()
  }

  async stats(): Promise<LogStats> {
    this.#assertOpen()
    return this.collectStats()
  }

  /** Idempotent: a second call, during or after the first, waits for the same close. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#state = 'closing'
    try {
      await this.finishAppends()
    } finally {
      // Released even if finishing failed: a log that cannot close must not keep its lock,
      // connections or sockets.
      this.#state = 'closed'
      await this.release()
    }
  }

  #assertOpen(): void {
    if (this.#state !== 'open') throw closed()
  }

  /** Appends to an open log (contract: append). */
  protected abstract appendRecords(records: readonly LogRecord[]): Promise<Position[]>
  /** Reads an open log (contract: read). A reader following the log ends when it closes:
   *  `state` tells it when. */
  protected abstract readEntries(options: ReadOptions): AsyncIterable<LogEntry>
  protected abstract headPosition(): Promise<Position | undefined>
  protected abstract tailPosition(): Promise<Position | undefined>
  protected abstract commitCheckpoint(consumer: string, position: Position): Promise<void>
  protected abstract readCheckpoint(consumer: string): Promise<Position | undefined>
  protected abstract removePassed(): Promise<{ removed: number }>
  protected abstract collectStats(): Promise<LogStats>
  /** Closing: waits until every append accepted before close() is durable or has failed. */
  protected abstract finishAppends(): Promise<void>
  /** Closed: frees what the backend holds (files, lock, connections). Runs once. */
  protected abstract release(): Promise<void>
}

function closed(): VecshiftError {
  return new VecshiftError(E.LOG_CLOSED)
}

/** A reader that fails on its first step, as a reader of a closed log does. */
// biome-ignore lint/correctness/useYield: a reader must be an AsyncGenerator that throws on its first next(), not at the call
async function* failing(err: Error): AsyncGenerator<LogEntry> {
  throw err
}
