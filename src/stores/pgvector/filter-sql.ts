import { compileFilter } from '../../wire/pinecone/filter.js'
import { encodeText } from './escape.js'

// Pinecone's metadata filter language as a SQL condition over a jsonb column, with the same
// semantics as the emulator's predicate (src/wire/pinecone/filter.ts; the corpus in
// test/fixtures/filters.json holds both to it): list-of-strings fields match $eq/$in when any
// element does, $ne/$nin also match records without the field, numbers never equal strings.
//
// Nothing from the filter is spliced into the SQL: field names and values are bind
// parameters, appended to `params`; the SQL text is built only from fixed fragments. Field
// names and strings are encoded as the adapter stores them (escape.ts).

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

export class FilterSql {
  constructor(
    /** The metadata expression, e.g. `COALESCE(metadata, '{}'::jsonb)`. */
    private readonly column: string,
    private readonly params: unknown[],
  ) {}

  /** Validates (Pinecone's 400 for a bad filter) and translates. */
  translate(filter: unknown): string {
    compileFilter(filter)
    return this.#object(filter as Record<string, unknown>)
  }

  #param(value: unknown, cast: string): string {
    this.params.push(value)
    return `CAST($${this.params.length} AS ${cast})`
  }

  #object(obj: Record<string, unknown>): string {
    const parts: string[] = []
    for (const [key, value] of Object.entries(obj)) {
      if (key === '$and' || key === '$or') {
        const subs = (value as Record<string, unknown>[]).map((sub) => this.#object(sub))
        parts.push(`(${subs.join(key === '$and' ? ' AND ' : ' OR ')})`)
      } else {
        parts.push(this.#field(key, value))
      }
    }
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`
  }

  #field(field: string, cond: unknown): string {
    if (!isPlainObject(cond)) return this.#eq(field, cond as string | number | boolean)
    const parts = Object.entries(cond).map(([op, operand]) => this.#operator(field, op, operand))
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`
  }

  #operator(field: string, op: string, operand: unknown): string {
    switch (op) {
      case '$eq':
        return this.#eq(field, operand as string | number | boolean)
      case '$ne':
        return `(NOT ${this.#eq(field, operand as string | number | boolean)})`
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        const sqlOp = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[op]
        const value = this.#value(field)
        // CASE, not AND: SQL does not promise to test the type before the cast.
        return (
          `(CASE WHEN jsonb_typeof(${value}) = 'number' ` +
          `THEN CAST(${value} #>> '{}' AS numeric) ${sqlOp} ${this.#param(String(operand), 'numeric')} ELSE false END)`
        )
      }
      case '$in':
        return this.#in(field, operand as Array<string | number>)
      case '$nin':
        return `(NOT ${this.#in(field, operand as Array<string | number>)})`
      case '$exists': {
        const has = `COALESCE(${this.column} ? ${this.#param(encodeText(field), 'text')}, false)`
        return operand === true ? has : `(NOT ${has})`
      }
      default:
        // compileFilter refused unknown operators already.
        throw new Error(`unreachable: operator ${op}`)
    }
  }

  #value(field: string): string {
    return `(${this.column} -> ${this.#param(encodeText(field), 'text')})`
  }

  /** Never NULL: a missing field is simply not equal. */
  #eq(field: string, want: string | number | boolean): string {
    const value = this.#value(field)
    // jsonb `?` with a string matches a string value or a string element of an array, which
    // is exactly $eq on a field that may hold a list of strings.
    if (typeof want === 'string') return `COALESCE(${value} ? ${this.#param(encodeText(want), 'text')}, false)`
    if (typeof want === 'number') return `COALESCE(${value} = to_jsonb(${this.#param(String(want), 'numeric')}), false)`
    return `COALESCE(${value} = to_jsonb(${this.#param(want, 'boolean')}), false)`
  }

  #in(field: string, list: Array<string | number>): string {
    const strings = list.filter((x): x is string => typeof x === 'string').map(encodeText)
    const numbers = list.filter((x): x is number => typeof x === 'number').map((n) => String(n))
    const parts: string[] = []
    if (strings.length > 0) parts.push(`COALESCE(${this.#value(field)} ?| ${this.#param(strings, 'text[]')}, false)`)
    if (numbers.length > 0)
      parts.push(`COALESCE(${this.#value(field)} = ANY(CAST(${this.#param(numbers, 'text[]')} AS jsonb[])), false)`)
    if (parts.length === 0) return 'false'
    return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`
  }
}
