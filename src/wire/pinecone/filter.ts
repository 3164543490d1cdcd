// Pinecone's metadata filter language, compiled once per request into a predicate.
//
//   {"genre": "drama"}                       bare value = $eq
//   {"year": {"$gte": 2019, "$lt": 2021}}    several operators on one field are ANDed
//   {"genre": "drama", "year": 2020}         several fields are ANDed
//   {"$or": [{...}, {...}]}, {"$and": [...]} nest freely
//
// Operators and operand types: $eq/$ne take a string, number or boolean; $gt/$gte/$lt/$lte a
// number; $in/$nin an array of strings and/or numbers; $exists a boolean. Numbers compare as
// 64-bit floats and never equal strings or booleans.
//
// List-of-strings fields: $eq and $in match when any element matches. $ne and $nin match when no
// element matches. $ne and $nin also match records that lack the field: Pinecone's language is
// "based on MongoDB's query operators" and these are MongoDB's semantics. The filter corpus in
// test/fixtures/filters.json pins every one of these rules so other stores can be held to them.
import { invalidArgument } from './errors.js'
import type { Metadata, MetadataValue } from './types.js'

export type Predicate = (metadata: Metadata | null) => boolean

type Scalar = string | number | boolean

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

function bad(message: string): Error {
  return invalidArgument(`Invalid filter: ${message}`)
}

/** Nesting of $and/$or beyond this is refused: compiling recurses, and a filter nested
 *  thousands deep would otherwise overflow the stack (a 500 instead of a 400). Real
 *  filters are a few levels deep. */
export const MAX_FILTER_DEPTH = 64

/** A short rendering of a refused operand for the error message: bounded in depth and
 *  length, so a huge or deeply nested operand is neither echoed back nor a stack overflow. */
function preview(value: unknown, depth = 0): string {
  let out: string
  if (Array.isArray(value))
    out =
      depth >= 2
        ? '[…]'
        : `[${value
            .slice(0, 5)
            .map((v) => preview(v, depth + 1))
            .join(',')}${value.length > 5 ? ',…' : ''}]`
  else if (isPlainObject(value))
    out =
      depth >= 2
        ? '{…}'
        : `{${Object.keys(value)
            .slice(0, 5)
            .map((k) => `${JSON.stringify(k.slice(0, 40))}:${preview(value[k], depth + 1)}`)
            .join(',')}}`
  else out = value === undefined ? 'undefined' : JSON.stringify(value)
  return out.length > 120 ? `${out.slice(0, 120)}…` : out
}

/** Compile a filter; throws a Pinecone 400 for anything Pinecone would refuse. */
export function compileFilter(filter: unknown): Predicate {
  if (!isPlainObject(filter)) throw bad('the filter must be a JSON object')
  if (Object.keys(filter).length === 0) throw bad('the filter must not be empty')
  return compileObject(filter, 1)
}

function compileObject(obj: Record<string, unknown>, depth: number): Predicate {
  if (depth > MAX_FILTER_DEPTH) throw bad(`the filter is nested more than ${MAX_FILTER_DEPTH} levels deep`)
  const parts: Predicate[] = []
  for (const [key, value] of Object.entries(obj)) {
    if (key === '$and' || key === '$or') parts.push(compileLogical(key, value, depth))
    else if (key.startsWith('$')) throw bad(`unknown operator ${key} at the top level of a condition`)
    else parts.push(compileField(key, value))
  }
  return all(parts)
}

function compileLogical(op: '$and' | '$or', value: unknown, depth: number): Predicate {
  if (!Array.isArray(value) || value.length === 0) throw bad(`${op} must be a non-empty array of filters`)
  const parts = value.map((sub) => {
    if (!isPlainObject(sub) || Object.keys(sub).length === 0)
      throw bad(`each element of ${op} must be a non-empty object`)
    return compileObject(sub, depth + 1)
  })
  if (op === '$and') return all(parts)
  return parts.length === 1
    ? parts[0]!
    : (md) => {
        for (const p of parts) if (p(md)) return true
        return false
      }
}

function compileField(field: string, cond: unknown): Predicate {
  if (isScalar(cond)) return eq(field, cond)
  if (!isPlainObject(cond)) {
    throw bad(
      `the condition for field "${field}" must be a string, number, boolean or an object of operators, got ${preview(cond)}`,
    )
  }
  const ops = Object.entries(cond)
  if (ops.length === 0) throw bad(`the condition for field "${field}" must not be an empty object`)
  return all(ops.map(([op, operand]) => compileOperator(field, op, operand)))
}

function compileOperator(field: string, op: string, operand: unknown): Predicate {
  switch (op) {
    case '$eq':
      return eq(field, scalarOperand(field, op, operand))
    case '$ne': {
      const p = eq(field, scalarOperand(field, op, operand))
      return (md) => !p(md)
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      return range(field, op, numberOperand(field, op, operand))
    case '$in':
      return isIn(field, listOperand(field, op, operand))
    case '$nin': {
      const p = isIn(field, listOperand(field, op, operand))
      return (md) => !p(md)
    }
    case '$exists': {
      if (typeof operand !== 'boolean')
        throw bad(`$exists on field "${field}" takes true or false, got ${preview(operand)}`)
      return operand
        ? (md) => md !== null && Object.hasOwn(md, field)
        : (md) => md === null || !Object.hasOwn(md, field)
    }
    default:
      throw bad(`unknown operator ${op} on field "${field}"`)
  }
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
}

function scalarOperand(field: string, op: string, operand: unknown): Scalar {
  if (!isScalar(operand))
    throw bad(`${op} on field "${field}" takes a string, number or boolean, got ${preview(operand)}`)
  return operand
}

function numberOperand(field: string, op: string, operand: unknown): number {
  if (typeof operand !== 'number' || !Number.isFinite(operand)) {
    throw bad(`${op} on field "${field}" takes a number, got ${preview(operand)}`)
  }
  return operand
}

function listOperand(field: string, op: string, operand: unknown): ReadonlySet<string | number> {
  if (!Array.isArray(operand)) throw bad(`${op} on field "${field}" takes an array, got ${preview(operand)}`)
  for (const x of operand) {
    if (typeof x !== 'string' && !(typeof x === 'number' && Number.isFinite(x))) {
      throw bad(`${op} on field "${field}" takes an array of strings or numbers, got ${preview(x)}`)
    }
  }
  return new Set(operand as Array<string | number>)
}

function fieldValue(md: Metadata | null, field: string): MetadataValue | undefined {
  // Own fields only: a filter on "constructor" or "toString" must not see Object.prototype's.
  return md === null || !Object.hasOwn(md, field) ? undefined : md[field]
}

function eq(field: string, want: Scalar): Predicate {
  return (md) => {
    const v = fieldValue(md, field)
    if (Array.isArray(v)) return typeof want === 'string' && v.includes(want)
    return v === want
  }
}

function isIn(field: string, set: ReadonlySet<string | number>): Predicate {
  return (md) => {
    const v = fieldValue(md, field)
    if (Array.isArray(v)) {
      for (const x of v) if (set.has(x)) return true
      return false
    }
    return (typeof v === 'string' || typeof v === 'number') && set.has(v)
  }
}

function range(field: string, op: '$gt' | '$gte' | '$lt' | '$lte', bound: number): Predicate {
  switch (op) {
    case '$gt':
      return (md) => {
        const v = fieldValue(md, field)
        return typeof v === 'number' && v > bound
      }
    case '$gte':
      return (md) => {
        const v = fieldValue(md, field)
        return typeof v === 'number' && v >= bound
      }
    case '$lt':
      return (md) => {
        const v = fieldValue(md, field)
        return typeof v === 'number' && v < bound
      }
    case '$lte':
      return (md) => {
        const v = fieldValue(md, field)
        return typeof v === 'number' && v <= bound
      }
  }
}

function all(parts: Predicate[]): Predicate {
  if (parts.length === 1) return parts[0]!
  return (md) => {
    for (const p of parts) if (!p(md)) return false
    return true
  }
}
