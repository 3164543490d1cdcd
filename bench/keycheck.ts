// npm run bench:keycheck
//
// What confirming client keys costs a request once the key is known (auth mode passthrough):
// ClientAuth.admit with a cached verdict, in a loop, beside the floor of the same loop with
// no check at all and the digest alone, in one run. The round trip of a key's first request
// is measured end to end by `npm run bench:proxy` (phase 3). Saves bench/results/keycheck.json.
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClientAuth } from '../src/proxy/auth.js'
import { KeyCheck } from '../src/proxy/key-check.js'
import type { Upstream } from '../src/proxy/upstream.js'
import { median, round } from './lib/stats.js'

const N = 1_000_000
const ROUNDS = 7
const KEY = `pcsk_${'a1b2c3'.repeat(12)}`

// An upstream that confirms every key at once: only the first call reaches it.
const upstream = {
  name: 'source',
  request: async () => ({ statusCode: 200, body: { dump: async () => undefined } }),
} as unknown as Upstream
const check = new KeyCheck({
  ttlMs: 3_600_000,
  refusedTtlMs: 10_000,
  maxEntries: 10_000,
  maxConcurrent: 64,
  authority: () => upstream,
})
const auth = new ClientAuth({ mode: 'passthrough', acceptedKeys: [], upstreamKey: undefined, keyCheck: check })
const headers = { 'api-key': KEY, 'content-type': 'application/json' }

function nsPerCall(fn: () => unknown): number {
  const started = process.hrtime.bigint()
  for (let i = 0; i < N; i++) fn()
  return Number(process.hrtime.bigint() - started) / N
}

await auth.admit(headers)
const rows = { floor: [] as number[], digest: [] as number[], admit: [] as number[] }
let sink = 0
for (let r = 0; r < ROUNDS; r++) {
  rows.floor.push(
    nsPerCall(() => {
      sink += headers['api-key'].length
    }),
  )
  rows.digest.push(nsPerCall(() => createHash('sha256').update(headers['api-key']).digest('base64')))
  rows.admit.push(nsPerCall(() => auth.admit(headers)))
}
const result = {
  benchmark: 'keycheck',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  method: `${ROUNDS} rounds of ${N} calls each, interleaved; median ns per call`,
  nsPerRequest: {
    floor: round(median(rows.floor), 1),
    digest: round(median(rows.digest), 1),
    admit: round(median(rows.admit), 1),
  },
  rounds: rows,
  sink,
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'keycheck.json')
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
process.stdout.write(
  `admit with a cached key: ${result.nsPerRequest.admit} ns per request ` +
    `(SHA-256 alone ${result.nsPerRequest.digest} ns, empty loop ${result.nsPerRequest.floor} ns); saved ${out}\n`,
)
