import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openFileLog } from '../../src/writelog/file/file-log.js'
import type { UpsertRecord } from '../../src/writelog/record.js'
const DIM = 1536
function record(i: number): UpsertRecord {
  const values = new Float32Array(DIM); for (let d = 0; d < DIM; d++) values[d] = Math.sin(i * 31 + d) * 0.5
  return { op: 'upsert', instance: 'bench', seq: i, ts: Date.now(), apiVersion: '2026-07', requestId: `r${i}`, namespace: 'bench', vectors: [{ id: `id-${i % 5000}`, values, metadata: { source: 'bench', n: i } }] }
}
const POOL = Array.from({ length: 512 }, (_, i) => record(i))
for (let round = 0; round < 2; round++) {
  const dir = mkdtempSync(join(tmpdir(), 'fl-'))
  const log = await openFileLog({ dir })
  let n = 0; const lat: number[] = []; const until = performance.now() + 3000
  ;(globalThis as any).T = []
  await Promise.all(Array.from({ length: 128 }, async () => { while (performance.now() < until) { const r = { ...POOL[n % 512]!, seq: n++ }; const s = performance.now(); await log.append([r]); lat.push(performance.now() - s) } }))
  lat.sort((a, b) => a - b)
  const T = ((globalThis as any).T as number[][]).slice(5)
  const tot = T.map((x) => x[0]! + x[1]! + x[2]!)
  const idx = tot.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 6)
  console.log(`p50 ${lat[lat.length >> 1]!.toFixed(2)} p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} batches ${T.length}`)
  const med = (k: number) => { const a = T.map((x) => x[k]!).sort((a, b) => a - b); return a[a.length >> 1]!.toFixed(2) }
  console.log(`median gap ${med(0)} write ${med(1)} sync ${med(2)}`)
  for (const [v, i] of idx) console.log(`  slow batch: total ${v.toFixed(1)} gap ${T[i]![0]!.toFixed(1)} write ${T[i]![1]!.toFixed(1)} sync ${T[i]![2]!.toFixed(1)} take ${T[i]![3]}`)
  await log.close(); rmSync(dir, { recursive: true })
}
