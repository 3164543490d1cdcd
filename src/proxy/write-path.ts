import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ParsedWrite } from '../wire/pinecone/write-requests.js'
import type { WriteLog } from '../writelog/contract.js'
import { intentOf } from '../writelog/intent.js'
import type { IntentRecord, OutcomeKind, RecordHeader } from '../writelog/record.js'
import type { CaptureMetrics } from './metrics.js'

// The capture path, with no transport in it: a listener (the Fastify routes, a gRPC service)
// parses and checks the request with its wire module, then hands the parsed write here with
// a function that sends it on. Here:
//   append the intent and wait until it is durable (if the log cannot, a retriable refusal
//   and the write is NOT sent: fail closed) -> send -> append the outcome (ok / failed /
//   unsent / unknown) -> hand back what the send produced, for the listener to answer with.
// So a client never sees success for a write that is not in the log, and the log says, for
// every write it holds, whether the store it went to accepted it (docs/architecture.md,
// "The write path").

/** What identifies a request in the log, whatever carried it. */
export interface RequestMeta {
  readonly apiVersion: string
  readonly requestId: string
}

/** Stamps records with this gateway process's identity and sequence. */
export class RecordFactory {
  readonly instance: string
  #seq = 0

  constructor(instance = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`) {
    this.instance = instance
  }

  nextSeq(): number {
    return this.#seq++
  }

  header(meta: RequestMeta, namespace: string): RecordHeader {
    return {
      instance: this.instance,
      seq: this.nextSeq(),
      ts: Date.now(),
      apiVersion: meta.apiVersion,
      requestId: meta.requestId,
      namespace,
    }
  }
}

export interface WritePath {
  readonly log: WriteLog
  readonly records: RecordFactory
  readonly metrics: CaptureMetrics
  readonly logger: Logger
}

/** What sending a write produced: the listener's answer, and what the log records of it. */
export interface Sent<T> {
  readonly value: T
  readonly outcome: OutcomeKind
  /** The store's status (HTTP, or the HTTP equivalent), 0 when there was no answer. */
  readonly status: number
}

/**
 * Captures one parsed write: logged, sent by `send`, its outcome logged. When `send` throws,
 * `failure` says what the log records (nothing sent at all, or no usable answer), and the
 * error goes on to the listener.
 */
export async function captureWrite<T>(
  path: WritePath,
  parsed: ParsedWrite,
  meta: RequestMeta,
  send: () => Promise<Sent<T>>,
  failure: (err: unknown) => { readonly outcome: OutcomeKind; readonly status: number },
): Promise<T> {
  // A dry run changes nothing: it is sent like a read, and not logged.
  if (parsed.op === 'update' && parsed.dryRun) return (await send()).value
  const intent = intentOf(parsed, path.records.header(meta, parsed.namespace))
  await appendOrRefuse(path, intent)
  let sent: Sent<T>
  try {
    sent = await send()
  } catch (err) {
    const f = failure(err)
    await recordOutcome(path, intent, f.outcome, f.status)
    throw err
  }
  await recordOutcome(path, intent, sent.outcome, sent.status)
  return sent.value
}

/** The outcome an HTTP status means for the log. */
export function outcomeOfStatus(status: number): OutcomeKind {
  return status < 300 ? 'ok' : status < 500 ? 'failed' : 'unknown'
}

async function appendOrRefuse(path: WritePath, intent: IntentRecord): Promise<void> {
  const end = path.metrics.appendSeconds.labels('intent').startTimer()
  try {
    await path.log.append([intent])
  } catch (err) {
    path.metrics.refused.labels(err instanceof VecshiftError ? err.code : 'log_error').inc()
    // Fail closed: a write the log cannot hold is not sent.
    if (err instanceof VecshiftError && err.retriable) {
      err.retryAfter ??= 1
      throw err
    }
    throw new VecshiftError(E.LOG_UNAVAILABLE, [path.log.backend, (err as Error).message], {
      cause: err,
      retryAfter: 1,
    })
  } finally {
    end()
  }
}

async function recordOutcome(path: WritePath, intent: IntentRecord, outcome: OutcomeKind, status: number) {
  path.metrics.writes.labels(intent.op, outcome).inc()
  const end = path.metrics.appendSeconds.labels('outcome').startTimer()
  try {
    await path.log.append([
      {
        instance: intent.instance,
        seq: path.records.nextSeq(),
        ts: Date.now(),
        apiVersion: intent.apiVersion,
        requestId: intent.requestId,
        namespace: intent.namespace,
        op: 'outcome',
        intentSeq: intent.seq,
        outcome,
        status,
      },
    ])
  } catch (err) {
    // The intent is durable; without its outcome the replayer treats it as unknown and
    // repairs the touched ids from the store. The store already answered, so the client
    // gets that answer rather than an error for a write that did happen.
    path.logger.warn(
      { err, intentSeq: intent.seq, outcome },
      'could not log a write outcome; replay will repair from the source',
    )
  } finally {
    end()
  }
}
