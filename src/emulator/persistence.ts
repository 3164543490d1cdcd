// Optional persistence (--data-dir): indexes, collections and records survive a restart.
//
// The emulator keeps everything in memory and writes snapshots: a short while after the last
// change (debounced, but at least every `maxWaitMs` under constant writes) and on close. Each
// index's records go to their own binary file (snapshot-codec.ts), written only when that index
// changed; catalog.json lists indexes and collections and is written last, so it never names a
// file that is not complete. Every file is written to a temporary name, fsynced, and renamed
// over the old one, with mode 0600.
import { randomBytes } from 'node:crypto'
import { constants, promises as fs } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../logger.js'
import type { Catalog, Collection } from './catalog.js'
import type { IndexConfig } from './index-store.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot-codec.js'

const CATALOG_FILE = 'catalog.json'
const FORMAT = 1

interface CatalogFile {
  format: number
  indexes: Array<{ config: IndexConfig; file: string }>
  collections: Array<{ meta: Omit<Collection, 'data'>; file: string }>
}

const indexFile = (name: string) => `index-${name}.vsnap`
const collectionFile = (name: string) => `collection-${name}.vsnap`

export interface PersistenceOptions {
  readonly debounceMs?: number
  readonly maxWaitMs?: number
}

export class Persistence {
  // What each file holds: which index/collection object (a name can be deleted and reused) at
  // which generation.
  private readonly written = new Map<string, { owner: object; generation: number }>()
  private timer: NodeJS.Timeout | null = null
  private firstPending = 0
  private running: Promise<void> | null = null
  private again = false
  private closed = false
  private readonly debounceMs: number
  private readonly maxWaitMs: number

  constructor(
    private readonly dir: string,
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    opts: PersistenceOptions = {},
  ) {
    this.debounceMs = opts.debounceMs ?? 500
    this.maxWaitMs = opts.maxWaitMs ?? 5000
  }

  /** Read the data directory into the (empty) catalog. */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 })
    let text: string
    try {
      text = await fs.readFile(join(this.dir, CATALOG_FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    const file = JSON.parse(text) as CatalogFile
    if (file.format !== FORMAT) throw new Error(`${join(this.dir, CATALOG_FILE)}: unknown format ${file.format}`)
    for (const { config, file: f } of file.indexes) {
      const { data, explicit } = decodeSnapshot(await fs.readFile(join(this.dir, f)))
      const index = this.catalog.addIndex(config, data, explicit)
      this.written.set(f, { owner: index, generation: index.generation })
    }
    for (const { meta, file: f } of file.collections) {
      const collection = { ...meta, data: decodeSnapshot(await fs.readFile(join(this.dir, f))).data }
      this.catalog.addCollection(collection)
      this.written.set(f, { owner: collection, generation: 0 })
    }
    this.written.set(CATALOG_FILE, { owner: this.catalog, generation: this.catalog.generation })
    this.logger.info(
      { dataDir: this.dir, indexes: file.indexes.length, collections: file.collections.length },
      'emulator state loaded',
    )
  }

  /** Something changed: snapshot soon. */
  schedule(): void {
    if (this.closed) return
    const now = Date.now()
    if (this.timer === null) this.firstPending = now
    else clearTimeout(this.timer)
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstPending + this.maxWaitMs - now))
    this.timer = setTimeout(() => {
      this.timer = null
      this.flush().catch((err: unknown) => this.logger.error({ err }, 'emulator snapshot failed'))
    }, wait)
    this.timer.unref()
  }

  /** Write every changed file now; concurrent calls share (and if needed repeat) one write. */
  async flush(): Promise<void> {
    if (this.running !== null) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          this.again = false
          await this.writeChanged()
        } while (this.again)
      } finally {
        this.running = null
      }
    })()
    return this.running
  }

  /** Final snapshot; later changes are not scheduled. */
  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.flush()
    this.closed = true
  }

  private async writeChanged(): Promise<void> {
    const wanted = new Set<string>([CATALOG_FILE])
    let anyChange = this.written.get(CATALOG_FILE)?.generation !== this.catalog.generation
    const catalogGeneration = this.catalog.generation
    const manifest: CatalogFile = { format: FORMAT, indexes: [], collections: [] }
    for (const index of [...this.catalog.indexes.values()]) {
      const f = indexFile(index.config.name)
      wanted.add(f)
      manifest.indexes.push({ config: index.config, file: f })
      const generation = index.generation
      const prev = this.written.get(f)
      if (prev?.owner === index && prev.generation === generation) continue
      // Encoding is synchronous, so the snapshot is of one instant.
      await this.atomicWrite(f, encodeSnapshot(index.snapshot(), index.config.dimension, index.explicitNamespaces()))
      this.written.set(f, { owner: index, generation })
      anyChange = true
    }
    for (const c of [...this.catalog.collections.values()]) {
      const f = collectionFile(c.name)
      wanted.add(f)
      const { data, ...meta } = c
      manifest.collections.push({ meta, file: f })
      if (this.written.get(f)?.owner === c) continue // a collection never changes
      await this.atomicWrite(f, encodeSnapshot(data, c.dimension))
      this.written.set(f, { owner: c, generation: 0 })
      anyChange = true
    }
    if (!anyChange) return
    await this.atomicWrite(CATALOG_FILE, Buffer.from(JSON.stringify(manifest, null, 1)))
    this.written.set(CATALOG_FILE, { owner: this.catalog, generation: catalogGeneration })
    // Files of deleted indexes and collections go only after the catalog stopped naming them.
    for (const f of await fs.readdir(this.dir)) {
      if (f.endsWith('.vsnap') && !wanted.has(f)) {
        await fs.rm(join(this.dir, f), { force: true })
        this.written.delete(f)
      }
    }
  }

  private async atomicWrite(name: string, data: Buffer): Promise<void> {
    const path = join(this.dir, name)
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fs.rename(tmp, path)
    const dirHandle = await fs.open(this.dir, 'r')
    try {
      await dirHandle.sync()
    } finally {
      await dirHandle.close()
    }
  }
}
