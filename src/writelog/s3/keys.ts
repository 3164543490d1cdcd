import { E, VecshiftError } from '../../errors.js'
import type { Position } from '../contract.js'

// Object keys and positions of the S3 write log.
//
//   <prefix>log/<ms:13>-<writer:8>-<first:12>-<count:6>.vlog
//
// ms is the writer's clock when it first tried to put the object, writer is a random id per
// opened log, first the writer's running record number, count the records in the object.
// Every field has a fixed width, so the plain lexicographic order S3 lists keys in is the
// log order: by time, then writer, then the writer's own order. A position is the object's
// name and the record's index in it, "<name>:<index:6>", and compares as a string too.
// The count in the key lets stats() count records from a listing alone.

export const MAX_OBJECT_RECORDS = 999_999
const NAME = /^(\d{13})-([0-9a-f]{8})-(\d{12})-(\d{6})$/
const POSITION = /^(\d{13}-[0-9a-f]{8}-\d{12}-\d{6}):(\d{6})$/

export interface ObjectName {
  readonly name: string
  readonly ms: number
  readonly writer: string
  readonly first: number
  readonly count: number
}

export function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, '')
  return p === '' ? '' : `${p}/`
}

export function objectName(ms: number, writer: string, first: number, count: number): ObjectName {
  const name = `${String(ms).padStart(13, '0')}-${writer}-${String(first).padStart(12, '0')}-${String(count).padStart(6, '0')}`
  return { name, ms, writer, first, count }
}

export function logKey(prefix: string, name: string): string {
  return `${prefix}log/${name}.vlog`
}

export function logPrefix(prefix: string): string {
  return `${prefix}log/`
}

/** The object behind a listed key, or undefined for keys that are not log objects. */
export function parseLogKey(prefix: string, key: string): ObjectName | undefined {
  const start = logPrefix(prefix)
  if (!key.startsWith(start) || !key.endsWith('.vlog')) return undefined
  const m = NAME.exec(key.slice(start.length, -'.vlog'.length))
  if (!m) return undefined
  return { name: m[0], ms: Number(m[1]), writer: m[2] as string, first: Number(m[3]), count: Number(m[4]) }
}

export function position(name: string, index: number): Position {
  return `${name}:${String(index).padStart(6, '0')}`
}

export function parsePosition(p: Position): { name: string; index: number } {
  const m = POSITION.exec(p)
  if (!m) throw new VecshiftError(E.LOG_CORRUPT, [p, 'not an s3 log position (<object name>:<index>)'])
  return { name: m[1] as string, index: Number(m[2]) }
}

export function comparePositions(a: Position, b: Position): number {
  parsePosition(a)
  parsePosition(b)
  return a < b ? -1 : a > b ? 1 : 0
}
