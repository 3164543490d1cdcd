import { E, VecshiftError } from '../../errors.js'
import type { Position } from '../contract.js'
import type { S3Store } from './client.js'
import { comparePositions, logPrefix, parseLogKey, parsePosition, position } from './keys.js'
import { retentionKey, type Retention, type Settledness } from './reader.js'

// Checkpoints are one small JSON object per consumer, <prefix>checkpoints/<consumer>.json,
// so two consumers never overwrite each other's. Retention deletes the log objects whose
// last record every checkpoint has passed, oldest first, after first recording in
// <prefix>retention.json how far it goes, so a reader asked to start before that point
// fails (LOG_CORRUPT) instead of silently skipping deleted records.

const CONSUMER = /^[A-Za-z0-9._-]{1,100}$/

interface Checkpoint {
  readonly consumer: string
  readonly position: Position
  readonly updatedAt: string
}

export function checkpointKey(prefix: string, consumer: string): string {
  if (!CONSUMER.test(consumer))
    throw new VecshiftError(E.BAD_REQUEST, [`checkpoint consumer name "${consumer}" must match ${CONSUMER}`])
  return `${prefix}checkpoints/${consumer}.json`
}

export async function commitCheckpoint(store: S3Store, prefix: string, consumer: string, at: Position): Promise<void> {
  parsePosition(at)
  const body: Checkpoint = { consumer, position: at, updatedAt: new Date().toISOString() }
  await store.putJson(checkpointKey(prefix, consumer), body)
}

export async function readCheckpoint(store: S3Store, prefix: string, consumer: string): Promise<Position | undefined> {
  return (await store.getJson<Checkpoint>(checkpointKey(prefix, consumer)))?.position
}

export async function retain(store: S3Store, prefix: string, settledness: Settledness): Promise<{ removed: number }> {
  const positions: Position[] = []
  for await (const o of store.list(`${prefix}checkpoints/`)) {
    const c = await store.getJson<Checkpoint>(o.key)
    if (c?.position) positions.push(c.position)
  }
  if (positions.length === 0) return { removed: 0 }
  const passed = positions.reduce((min, p) => (comparePositions(p, min) < 0 ? p : min))
  const doomed: string[] = []
  let through: string | undefined
  for await (const o of store.list(logPrefix(prefix))) {
    const obj = parseLogKey(prefix, o.key)
    if (!obj) continue
    if (comparePositions(position(obj.name, obj.count - 1), passed) > 0 || !(await settledness.settled(obj))) break
    doomed.push(o.key)
    through = obj.name
  }
  if (!through) return { removed: 0 }
  const previous = await store.getJson<Retention>(retentionKey(prefix))
  if (!previous || previous.through < through)
    await store.putJson(retentionKey(prefix), { through } satisfies Retention)
  await store.deleteMany(doomed)
  return { removed: doomed.length }
}
