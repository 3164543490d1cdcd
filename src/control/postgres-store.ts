import pg from 'pg'
import { E, VecshiftError, isVecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import { BaseControlStore, type ControlStoreIdentity } from './base.js'
import type { ProgressReport, ReplicaLease } from './contract.js'
import type { MigrationRecord } from './record.js'

// The control store for several gateway replicas on several hosts: the record is one row in
// a PostgreSQL database they all reach, and leases one row per replica.
//
// A change is a transaction that locks the row (SELECT ... FOR UPDATE), checks the epoch,
// writes the new record and announces it with NOTIFY, so the compare-and-set holds between
// any number of processes, and watchers hear of it as soon as it commits. Notifications are
// not a queue (one sent while a listener reconnects is gone), so watchers also poll; the
// notification only makes them prompt. A cutover's barrier starts at each replica's next
// look, which with LISTEN is a round trip instead of a polling interval.
//
// The tables are created at open if missing (idempotent, under an advisory lock, as two
// replicas starting together would otherwise race on CREATE TABLE IF NOT EXISTS).
//
// Lease times are the renewing host's clock, as with the file store: the hosts' clocks must
// agree to well within control.leaseMs (NTP does).

export interface PostgresControlOptions extends ControlStoreIdentity {
  /** Connection settings (password included); a pool of a few connections and one listener. */
  readonly connection: pg.ClientConfig
  readonly schema: string
  /** Shown in errors and logs instead of the connection settings: "postgres db.example:5432/vecshift". */
  readonly label: string
  readonly logger?: Logger
}

const CHANNEL = 'vecshift_control'
const RECONNECT_MS = { min: 250, max: 5_000 }

interface Watcher {
  readonly onChange: (r: MigrationRecord) => void
  epoch: number
}

export class PostgresControlStore extends BaseControlStore {
  readonly backend = 'postgres' as const
  readonly #options: PostgresControlOptions
  readonly #pool: pg.Pool
  readonly #records: string
  readonly #leases: string
  readonly #reports: string
  readonly #watchers = new Set<Watcher>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #listener: pg.Client | undefined
  #listening = false
  #reconnect: NodeJS.Timeout | undefined
  #reconnectMs = RECONNECT_MS.min
  #checking: Promise<void> | undefined
  #checkAgain = false
  #closed = false

  private constructor(options: PostgresControlOptions) {
    super(options)
    this.#options = options
    this.#pool = new pg.Pool({ ...options.connection, max: 4, idleTimeoutMillis: 30_000 })
    // An idle connection the server drops must not crash the process: the next query gets
    // a fresh one, or reports the store unavailable.
    this.#pool.on('error', (err) =>
      options.logger?.warn({ err: err.message, store: options.label }, 'control store: an idle connection failed'),
    )
    const schema = `"${options.schema}"`
    this.#records = `${schema}.vecshift_control`
    this.#leases = `${schema}.vecshift_replicas`
    this.#reports = `${schema}.vecshift_reports`
  }

  /** True while the LISTEN connection is up (watchers then hear changes at once). */
  get listening(): boolean {
    return this.#listening
  }

  static async open(options: PostgresControlOptions): Promise<PostgresControlStore> {
    const store = new PostgresControlStore(options)
    try {
      await store.#transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['vecshift control schema'])
        await c.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`)
        await c.query(`CREATE TABLE IF NOT EXISTS ${store.#records} (
          migration text PRIMARY KEY, epoch bigint NOT NULL, record jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`)
        await c.query(`CREATE TABLE IF NOT EXISTS ${store.#leases} (
          migration text NOT NULL, replica text NOT NULL, lease jsonb NOT NULL, expires_at timestamptz NOT NULL,
          PRIMARY KEY (migration, replica))`)
        await c.query(`CREATE TABLE IF NOT EXISTS ${store.#reports} (
          migration text NOT NULL, name text NOT NULL, value jsonb NOT NULL, updated_at timestamptz NOT NULL,
          PRIMARY KEY (migration, name))`)
      })
    } catch (err) {
      await store.#pool.end().catch(() => undefined)
      throw err
    }
    return store
  }

  protected async createIfAbsent(record: MigrationRecord): Promise<MigrationRecord> {
    await this.#query(
      `INSERT INTO ${this.#records} (migration, epoch, record) VALUES ($1, $2, $3) ON CONFLICT (migration) DO NOTHING`,
      [record.migration, record.epoch, JSON.stringify(record)],
    )
    // Another process may have created it first: theirs stands.
    return (await this.load()) as MigrationRecord
  }

  protected swap(decide: (current: MigrationRecord) => MigrationRecord): Promise<MigrationRecord> {
    return this.#transaction(async (c) => {
      // The row stays locked until the transaction ends: the compare-and-set of every process.
      const res = await c.query<{ record: MigrationRecord }>(
        `SELECT record FROM ${this.#records} WHERE migration = $1 FOR UPDATE`,
        [this.#options.migration],
      )
      const next = decide(res.rows[0]?.record as MigrationRecord)
      await c.query(`UPDATE ${this.#records} SET epoch = $2, record = $3, updated_at = now() WHERE migration = $1`, [
        this.#options.migration,
        next.epoch,
        JSON.stringify(next),
      ])
      // Delivered when the transaction commits, to every listening replica.
      await c.query('SELECT pg_notify($1, $2)', [CHANNEL, `${this.#options.migration}:${next.epoch}`])
      return next
    })
  }

  watch(onChange: (r: MigrationRecord) => void, intervalMs = 200): () => void {
    const watcher: Watcher = { onChange, epoch: -1 }
    this.#watchers.add(watcher)
    const timer = setInterval(() => this.#check(), intervalMs)
    timer.unref()
    this.#timers.add(timer)
    this.#listen()
    this.#check()
    return () => {
      clearInterval(timer)
      this.#timers.delete(timer)
      this.#watchers.delete(watcher)
      if (this.#watchers.size === 0) this.#unlisten()
    }
  }

  protected async saveLease(lease: ReplicaLease): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#leases} (migration, replica, lease, expires_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (migration, replica) DO UPDATE SET lease = EXCLUDED.lease, expires_at = EXCLUDED.expires_at`,
      [this.#options.migration, lease.replica, JSON.stringify(lease), lease.expiresAt],
    )
  }

  async replicas(): Promise<ReplicaLease[]> {
    const res = await this.#query<{ lease: ReplicaLease }>(
      `SELECT lease FROM ${this.#leases} WHERE migration = $1 ORDER BY replica`,
      [this.#options.migration],
    )
    return res.rows.map((r) => r.lease)
  }

  async leave(replica: string): Promise<void> {
    await this.#query(`DELETE FROM ${this.#leases} WHERE migration = $1 AND replica = $2`, [
      this.#options.migration,
      replica,
    ])
  }

  protected async saveReport(name: string, report: ProgressReport): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#reports} (migration, name, value, updated_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (migration, name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
      [this.#options.migration, name, JSON.stringify(report.value), report.updatedAt],
    )
  }

  async reports(): Promise<Record<string, ProgressReport>> {
    const res = await this.#query<{ name: string; value: unknown; updated_at: Date }>(
      `SELECT name, value, updated_at FROM ${this.#reports} WHERE migration = $1`,
      [this.#options.migration],
    )
    return Object.fromEntries(res.rows.map((r) => [r.name, { value: r.value, updatedAt: r.updated_at.toISOString() }]))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) clearInterval(t)
    this.#timers.clear()
    this.#watchers.clear()
    this.#unlisten()
    await this.#checking?.catch(() => undefined)
    await this.#pool.end().catch(() => undefined)
  }

  protected async load(): Promise<MigrationRecord | undefined> {
    const res = await this.#query<{ record: MigrationRecord }>(
      `SELECT record FROM ${this.#records} WHERE migration = $1`,
      [this.#options.migration],
    )
    return res.rows[0]?.record
  }

  /** Tells every watcher whose epoch the record has moved past; calls arriving while one
   *  runs are folded into one more run after it. */
  #check(): void {
    if (this.#closed || this.#watchers.size === 0) return
    if (this.#checking) {
      this.#checkAgain = true
      return
    }
    this.#checking = this.load()
      .then(
        (r) => {
          if (!r) return
          for (const w of this.#watchers) {
            if (w.epoch === r.epoch) continue
            w.epoch = r.epoch
            w.onChange(r)
          }
        },
        () => undefined,
      )
      .finally(() => {
        this.#checking = undefined
        if (this.#checkAgain) {
          this.#checkAgain = false
          this.#check()
        }
      })
  }

  #listen(): void {
    if (this.#listener || this.#reconnect || this.#closed) return
    const client = new pg.Client(this.#options.connection)
    this.#listener = client
    const lost = (err: Error | undefined) => {
      if (this.#listener !== client) return
      this.#listener = undefined
      this.#listening = false
      client.removeAllListeners('notification')
      client.end().catch(() => undefined)
      if (this.#closed || this.#watchers.size === 0) return
      this.#options.logger?.warn(
        { err: err?.message, store: this.#options.label, retryMs: this.#reconnectMs },
        'control store: lost the LISTEN connection; polling until it is back',
      )
      this.#reconnect = setTimeout(() => {
        this.#reconnect = undefined
        this.#listen()
      }, this.#reconnectMs)
      this.#reconnect.unref()
      this.#reconnectMs = Math.min(RECONNECT_MS.max, this.#reconnectMs * 2)
    }
    client.on('error', (err) => lost(err))
    client.on('end', () => lost(undefined))
    client.on('notification', (msg) => {
      if (msg.channel === CHANNEL && msg.payload?.startsWith(`${this.#options.migration}:`)) this.#check()
    })
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANNEL}`))
      .then(
        () => {
          if (this.#listener !== client) return
          this.#listening = true
          this.#reconnectMs = RECONNECT_MS.min
          // Changes made while not listening were not announced to us.
          this.#check()
        },
        (err: Error) => lost(err),
      )
  }

  #unlisten(): void {
    if (this.#reconnect) clearTimeout(this.#reconnect)
    this.#reconnect = undefined
    const client = this.#listener
    this.#listener = undefined
    this.#listening = false
    if (client) {
      client.removeAllListeners()
      client.on('error', () => undefined)
      client.end().catch(() => undefined)
    }
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#closed) throw new VecshiftError(E.CONTROL_UNAVAILABLE, [this.#options.label, 'the store is closed'])
    try {
      return await this.#pool.query<R>(text, values)
    } catch (err) {
      throw this.#unavailable(err)
    }
  }

  async #transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new VecshiftError(E.CONTROL_UNAVAILABLE, [this.#options.label, 'the store is closed'])
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      throw this.#unavailable(err)
    }
    let broken = false
    try {
      await client.query('BEGIN')
      const out = await fn(client)
      await client.query('COMMIT')
      return out
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true
      })
      throw isVecshiftError(err) ? err : this.#unavailable(err)
    } finally {
      client.release(broken)
    }
  }

  #unavailable(err: unknown): VecshiftError {
    if (isVecshiftError(err)) return err
    const e = err as { message?: string; code?: string }
    const why =
      e.code === '28P01' || e.code === '28000'
        ? `authentication failed (${e.code}): check control.postgres.user and VECSHIFT_CONTROL_PG_PASSWORD`
        : (e.message ?? String(err))
    return new VecshiftError(E.CONTROL_UNAVAILABLE, [this.#options.label, why], { cause: err })
  }
}
