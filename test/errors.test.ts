import { readFileSync } from 'node:fs'
import t from 'tap'
import { E, VecshiftError } from '../src/errors.js'

t.test('every catalogue entry is documented with its status and retriability, and nothing else is', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
  const rows = new Map<string, { status: number; retriable: boolean }>()
  for (const m of doc.matchAll(/^\| (VECSHIFT_ERR_[A-Z_]+) \| (\d{3}) \| (yes|no) \|/gm)) {
    rows.set(m[1] as string, { status: Number(m[2]), retriable: m[3] === 'yes' })
  }
  const entries = Object.values(E)
  t.equal(rows.size, entries.length, 'as many documented rows as catalogue entries')
  for (const d of entries) {
    t.same(rows.get(d.code), { status: d.status, retriable: d.retriable }, d.code)
  }
})

t.test('codes are unique and stable in form', async (t) => {
  const codes = Object.values(E).map((d) => d.code)
  t.equal(new Set(codes).size, codes.length)
  for (const c of codes) t.match(c, /^VECSHIFT_ERR_[A-Z_]+$/)
})

t.test('errors render in Pinecone data-plane shape and keep their cause', async (t) => {
  const cause = new Error('ECONNREFUSED')
  const err = new VecshiftError(E.UPSTREAM_UNAVAILABLE, ['source', 'ECONNREFUSED'], { cause, retryAfter: 1 })
  t.equal(err.statusCode, 503)
  t.equal(err.retriable, true)
  t.equal(err.cause, cause)
  t.equal(err.retryAfter, 1)
  t.same(err.toPinecone(), {
    code: 14,
    message: 'upstream source is unavailable (ECONNREFUSED); retry later',
    details: [],
  })
})
