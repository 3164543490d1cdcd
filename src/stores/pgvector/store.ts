import pg from 'pg'
import { E, VecshiftError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { Metadata, Metric, VectorType } from '../../wire/pinecone/types.js'
import { withRetries, type RetryPolicy } from '../../retry.js'
import type { CallOptions, DeleteRequest, ListOptions, ListPage, NamespaceStats, QueryMatch } from '../contract.js'
import type { QueryRequest, StoreCounters, StoreDescription, StoredVector, UpdateRequest } from '../contract.js'
import type { VectorStore } from '../contract.js'
import { FilterSql } from './filter-sql.js'
import { denseText, withDenseText } from '../dense-text.js'
import { decodeMetadata, decodeText, encodeJson, encodeMetadata, encodeText } from './escape.js'
import { chooseLayout, LAYOUT_DEFAULTS, type IndexLayout, type LayoutChoice, type LayoutSettings } from './layout.js'
import { parseSparse, sparseText, vectorText } from './text.js'

// The pgvector adapter: one table per index.
//
//   namespace text COLLATE "C", id text COLLATE "C"   primary key (namespace, id); "C" makes
//                                                     the key's order bytewise, as Pinecone lists
//   embedding vector(d)       dense values (NULL for sparse-only records)
//   sparse    sparsevec       sparse values
//   metadata  jsonb           flat metadata, NULL when none
//
// plus HNSW indexes whose operator class follows the metric (cosine -> vector_cosine_ops,
// dotproduct -> vector_ip_ops, euclidean -> vector_l2_ops): one over the table, or one per
// large namespace (layout.ts). The table's comment records the shape and the layout
// ({"vecshift":1,"metric":...,"layout":...}) so describe() needs nothing else.
//
// Scores are converted to Pinecone's: cosine similarity = 1 - cosine distance (<=>), dot
// product = -(negative inner product) (<#>), squared euclidean = (L2 distance (<->))^2.
//
// No session state outlives a request (no SET, no temp tables): safe behind transaction
// poolers, and on PGlite, whose connections share one session. The settings a query or an
// index build needs are SET LOCAL inside its own transaction.

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/

const OPS: Record<Metric, { opclass: string; op: string; score: (d: string) => string }> = {
  cosine: { opclass: 'vector_cosine_ops', op: '<=>', score: (d) => `1 - (${d})` },
  dotproduct: { opclass: 'vector_ip_ops', op: '<#>', score: (d) => `-(${d})` },
  euclidean: { opclass: 'vector_l2_ops', op: '<->', score: (d) => `(${d}) * (${d})` },
}

/** SQL for a namespace's partial index name (stored, encoded namespace): at most 63
 *  characters, unique per table and namespace. buildIndexes and searchLayout both use it. */
const partialIndexName = (table: string, namespace: string) =>
  `left(${table}, 40) || '_hnsw_' || left(md5(${table} || '/' || ${namespace}), 16)`

export const PG_LIMITS = Object.freeze({ upsertRows: 500, fetchIds: 1000, deleteIds: 1000, listPage: 1000 })
export const DEFAULT_EF_SEARCH = 100
export const DEFAULT_EXACT_FILTER_ROWS = 2_000
export const DEFAULT_PG_RETRY: RetryPolicy = Object.freeze({ baseMs: 100, maxMs: 5_000, deadlineMs: 120_000 })

export interface PgvectorStoreOptions {
  /** For messages: "source", "target". */
  readonly role: string
  readonly table: string
  readonly schema?: string
  /** node-postgres pool settings (host, port, database, user, password, ssl, max...). */
  readonly pool: pg.PoolConfig
  /** hnsw (default): ORDER BY the distance, which the planner answers from the HNSW index,
   *  approximately, as the database would in production (its hnsw.ef_search setting
   *  applies); exact: a full scan of the namespace (for verification and tests). */
  readonly search?: 'hnsw' | 'exact'
  /** maintenance_work_mem for building the HNSW index (e.g. "1GB"); unset: the server's. */
  readonly maintenanceWorkMem?: string
  /** The layout of a table this store creates (layout.ts); auto (default) chooses it from
   *  the namespaces createSchema is given, single when it is given none. */
  readonly layout?: 'auto' | IndexLayout
  readonly layoutSettings?: Partial<LayoutSettings>
  /** hnsw.ef_search for a query asking for fewer results (a larger topK raises it to topK,
   *  up to pgvector's 1000): the candidates the graph search keeps, recall against latency.
   *  Default 100 (pgvector's own default, 40, gave recall@10 0.8 on the tests' table);
   *  `npm run bench:pgvector-serve` measures both. */
  readonly efSearch?: number
  /** A filtered query matching at most this many rows is answered exactly (default 2,000):
   *  below it exact search is about as fast as the graph and never misses a neighbour. */
  readonly exactFilterRows?: number
  /** Called with the layout createSchema chose and why. */
  readonly onLayout?: (choice: LayoutChoice) => void
  readonly retry?: RetryPolicy
  readonly logger?: Logger
}

export interface SchemaSpec {
  readonly dimension: number | null
  readonly metric: Metric
  readonly vectorType?: VectorType
  /** Leave out the HNSW index until buildIndexes(): pgvector loads much faster into a table
   *  without it, then builds the graph once (its README's advice for bulk loading). */
  readonly deferIndex?: boolean
  /** The namespaces the table will hold (the source's), from which an auto layout is
   *  chosen (layout.ts). The layout is recorded in the table's comment, so every later
   *  process builds and serves the same. */
  readonly namespaces?: readonly NamespaceStats[]
}

interface Shape {
  metric: Metric
  dimension: number | null
  vectorType: VectorType
  layout: IndexLayout
  minIndexedRows: number
}

/** Connection failures and server states worth trying again; anything else is a refusal. */
function retriable(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? ''
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) ||
    code.startsWith('08') || // connection exceptions
    ['40001', '40P01', '53300', '57P01', '57P02', '57P03'].includes(code) || // serialization, deadlock, too many connections, shutdown
    // statement timeout or cancel, lock timeout, a read-only server (a pooler still on a
    // demoted primary), disk full, out of memory, I/O errors: the server's state, not the request
    ['57014', '55P03', '25006', '53100', '53200'].includes(code) ||
    code.startsWith('58') ||
    /Connection terminated|timeout exceeded when trying to connect/i.test((err as Error).message ?? '')
  )
}

export class PgvectorStore implements VectorStore {
  readonly label: string
  readonly counters: StoreCounters = { requests: 0, retries: 0 }
  readonly #options: PgvectorStoreOptions
  readonly #pool: pg.Pool
  readonly #table: string
  /** Namespaces created explicitly (Pinecone's POST /namespaces), which exist before they
   *  hold a record: one table per schema for every vecshift table, keyed by table name (a
   *  name derived from each table's could pass Postgres's 63-character limit). */
  readonly #namespacesTable: string
  #shape: Shape | undefined

  constructor(options: PgvectorStoreOptions) {
    const schema = options.schema ?? 'public'
    for (const [what, name] of [
      ['table', options.table],
      ['schema', schema],
    ] as const) {
      if (!IDENT.test(name))
        throw new VecshiftError(E.CONFIG_INVALID, [
          `pgvector ${what} "${name}": use lower-case letters, digits and _ (at most 63)`,
        ])
    }
    this.#options = options
    this.#table = `"${schema}"."${options.table}"`
    this.#namespacesTable = `"${schema}"."vecshift_namespaces"`
    this.label = `${options.role} pgvector table ${schema}.${options.table}`
    this.#pool = new pg.Pool(options.pool)
    // An idle client's connection can drop; the pool must not crash the process for it.
    this.#pool.on('error', (err) => options.logger?.warn({ err, store: this.label }, 'idle database connection failed'))
  }

  /** Creates the extension, table, HNSW index (unless deferred) and shape comment if
   *  missing. Refuses (does not alter) a table that exists with another shape. */
  async createSchema(spec: SchemaSpec): Promise<void> {
    const vectorType = spec.vectorType ?? 'dense'
    if (vectorType === 'dense' && (spec.dimension === null || !(spec.dimension >= 1 && spec.dimension <= 16_000))) {
      throw new VecshiftError(E.STORE_UNSUPPORTED, [
        this.label,
        `dimension ${spec.dimension} (pgvector's vector type holds 1 to 16000 dimensions)`,
      ])
    }
    const existing = await this.#readShape()
    if (existing) {
      if (
        existing.metric !== spec.metric ||
        existing.dimension !== spec.dimension ||
        existing.vectorType !== vectorType
      ) {
        throw new VecshiftError(E.STORE_REFUSED, [
          this.label,
          'createSchema',
          'an existing table',
          `it holds ${existing.vectorType} ${existing.dimension ?? ''}-d ${existing.metric} vectors, ` +
            `not ${vectorType} ${spec.dimension ?? ''}-d ${spec.metric}; drop it or choose another table`,
        ])
      }
      return
    }
    const settings = { ...LAYOUT_DEFAULTS, ...this.#options.layoutSettings }
    const choice: LayoutChoice =
      this.#options.layout === undefined || this.#options.layout === 'auto'
        ? spec.namespaces
          ? chooseLayout(spec.namespaces, settings)
          : { layout: 'single', reason: 'no namespaces were known when the table was made', indexed: [] }
        : { layout: this.#options.layout, reason: 'as configured (target.indexLayout)', indexed: [] }
    const { layout } = choice
    const { minIndexedRows } = settings
    this.#options.onLayout?.(choice)
    const comment = JSON.stringify({
      vecshift: 1,
      metric: spec.metric,
      dimension: spec.dimension,
      vectorType,
      layout,
      minIndexedRows,
    })
    const dense = vectorType === 'dense' ? `vector(${spec.dimension})` : 'vector'
    await this.#sql('createSchema', 'CREATE EXTENSION IF NOT EXISTS vector')
    await this.#sql(
      'createSchema',
      `CREATE TABLE IF NOT EXISTS ${this.#table} (
      namespace text COLLATE "C" NOT NULL,
      id text COLLATE "C" NOT NULL,
      embedding ${dense},
      sparse sparsevec,
      metadata jsonb,
      PRIMARY KEY (namespace, id))`,
    )
    // COMMENT takes no bind parameters; the text is our own JSON, quoted for SQL.
    await this.#sql('createSchema', `COMMENT ON TABLE ${this.#table} IS '${comment.replace(/'/g, "''")}'`)
    this.#shape = { metric: spec.metric, dimension: spec.dimension, vectorType, layout, minIndexedRows }
    if (!spec.deferIndex) await this.buildIndexes()
  }

  /** Creates the search indexes the layout calls for that are missing (layout.ts): the one
   *  HNSW index, or one partial HNSW index per namespace of at least minIndexedRows rows;
   *  then ANALYZE, every time, built or not. Answers whether it built any. Idempotent, and an
   *  interrupted build leaves nothing (CREATE INDEX is transactional). maintenance_work_mem,
   *  when configured, is raised for each build only: a graph that fits in it builds many
   *  times faster. Run again after namespaces grow (`vecshift index`). */
  async buildIndexes(onStart?: () => void): Promise<boolean> {
    const shape = await this.#requireShape()
    let built = false
    if (shape.vectorType === 'dense') {
      const { opclass } = OPS[shape.metric]
      const wanted: Array<{ name: string; where: string }> = []
      if (shape.layout === 'single') {
        wanted.push({ name: `${this.#options.table}_embedding_hnsw`, where: '' })
      } else {
        const counts = await this.#sql<{ namespace: string; n: string; name: string; q: string }>(
          'buildIndexes',
          `SELECT namespace, count(*) AS n, ${partialIndexName('$1', 'namespace')} AS name, quote_literal(namespace) AS q
           FROM ${this.#table} GROUP BY namespace HAVING count(*) >= $2 ORDER BY namespace`,
          [this.#options.table, shape.minIndexedRows],
        )
        for (const row of counts.rows) wanted.push({ name: row.name, where: ` WHERE namespace = ${row.q}` })
      }
      for (const { name, where } of wanted) {
        const qualified = `"${this.#options.schema ?? 'public'}"."${name}"`
        const create = `CREATE INDEX CONCURRENTLY IF NOT EXISTS "${name}" ON ${this.#table} USING hnsw (embedding ${opclass})${where}`
        if (
          await this.#createIndex(qualified, create, () => {
            if (!built) onStart?.()
          })
        )
          built = true
      }
    }
    // Statistics for the planner once the table is loaded and indexed: without them it
    // guesses (an empty table's) and may scan where the index answers, or the reverse. After
    // a copy into a table whose indexes exist, too: the rows are new to it either way.
    await this.#sql('buildIndexes', `ANALYZE ${this.#table}`)
    return built
  }

  /** Builds the index unless a valid one is there (calling onBuild first); answers whether it
   *  built. CONCURRENTLY: the replayer (during a copy) or the gateway (after the flip) goes on
   *  writing the table while a graph is built, for minutes on a large table; a plain CREATE
   *  INDEX would hold every write for that long. It cannot run in a transaction, so a
   *  configured maintenance_work_mem is SET on the build's own connection and RESET after. */
  async #createIndex(qualified: string, create: string, onBuild: () => void): Promise<boolean> {
    const memory = this.#options.maintenanceWorkMem
    return this.#withRetries('buildIndexes', async () => {
      const client = await this.#pool.connect()
      try {
        // A concurrent build killed or failed half way (this attempt's previous try, or a
        // process that died) leaves an invalid index that serves nothing: drop, build again.
        const left = await client.query<{ valid: boolean }>(
          'SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)',
          [qualified],
        )
        if (left.rows[0]?.valid === true) return false
        onBuild()
        if (left.rows[0]) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`)
        // SET takes no bind parameters; the value was validated by the config schema.
        if (memory !== undefined) await client.query(`SET maintenance_work_mem = '${memory}'`)
        await client.query(create)
        return true
      } finally {
        if (memory !== undefined) await client.query('RESET maintenance_work_mem').catch(() => undefined)
        client.release()
      }
    })
  }

  /** The table's index layout and the namespaces that have a graph of their own. */
  async searchLayout(): Promise<{ layout: IndexLayout; minIndexedRows: number; indexed: string[] }> {
    const shape = await this.#requireShape()
    if (shape.layout === 'single') return { layout: 'single', minIndexedRows: shape.minIndexedRows, indexed: [] }
    // Each namespace's index name is derived as buildIndexes derives it; a build killed half
    // way leaves an invalid index, which serves nothing and does not count.
    const r = await this.#sql<{ namespace: string }>(
      'searchLayout',
      `SELECT n.namespace FROM (SELECT DISTINCT namespace FROM ${this.#table}) n
       WHERE EXISTS (SELECT 1 FROM pg_index i WHERE i.indisvalid
         AND i.indexrelid = to_regclass(quote_ident($1) || '.' || quote_ident(${partialIndexName('$2', 'n.namespace')})))
       ORDER BY 1`,
      [this.#options.schema ?? 'public', this.#options.table],
    )
    return {
      layout: 'per-namespace',
      minIndexedRows: shape.minIndexedRows,
      indexed: r.rows.map((x) => decodeText(x.namespace)),
    }
  }

  async describe(): Promise<StoreDescription> {
    const shape = await this.#requireShape()
    return {
      name: this.#options.table,
      dimension: shape.dimension,
      metric: shape.metric,
      vectorType: shape.vectorType,
      kind: 'pgvector',
      canList: true,
      supportsSparse: true,
    }
  }

  async stats(call: CallOptions = {}): Promise<NamespaceStats[]> {
    const r = await this.#sql<{ namespace: string; n: string }>(
      'stats',
      `SELECT namespace, count(*) AS n FROM ${this.#table} GROUP BY namespace ORDER BY namespace`,
      [],
      call.signal,
    )
    const out = r.rows.map((row) => ({ namespace: decodeText(row.namespace), vectorCount: Number(row.n) }))
    // Created namespaces with no record yet count too, as Pinecone lists them.
    const created = await this.#sql<{ namespace: string }>(
      'stats',
      `SELECT namespace FROM ${this.#namespacesTable} WHERE tbl = $1`,
      [this.#options.table],
    ).catch((err: unknown) => {
      if ((err as { cause?: { code?: string } }).cause?.code === '42P01' || (err as { code?: string }).code === '42P01')
        return { rows: [] }
      throw err
    })
    const seen = new Set(out.map((n) => n.namespace))
    for (const row of created.rows) {
      const namespace = decodeText(row.namespace)
      if (!seen.has(namespace)) out.push({ namespace, vectorCount: 0 })
    }
    return out.sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0))
  }

  async list(namespace: string, options: ListOptions = {}): Promise<ListPage> {
    const params: unknown[] = [encodeText(namespace)]
    let where = 'namespace = $1'
    if (options.prefix) {
      params.push(options.prefix)
      where += ` AND starts_with(id, $${params.length})`
    }
    return this.#idPage('list', where, params, options)
  }

  async matching(
    namespace: string,
    filter: Record<string, unknown>,
    options: Omit<ListOptions, 'prefix'> = {},
  ): Promise<ListPage> {
    const params: unknown[] = [encodeText(namespace)]
    const where = `namespace = $1 AND ${new FilterSql("COALESCE(metadata, '{}'::jsonb)", params).translate(filter)}`
    return this.#idPage('matching', where, params, options)
  }

  /** A page of ids under `where`, in id order ("C" collation: bytewise), from a cursor. */
  async #idPage(
    what: string,
    where: string,
    params: unknown[],
    options: Omit<ListOptions, 'prefix'>,
  ): Promise<ListPage> {
    const limit = Math.max(1, Math.min(options.limit ?? 100, PG_LIMITS.listPage))
    if (options.cursor) {
      params.push(decodeCursor(options.cursor))
      where += ` AND id > $${params.length}`
    }
    params.push(limit + 1)
    const r = await this.#sql<{ id: string }>(
      what,
      `SELECT id FROM ${this.#table} WHERE ${where} ORDER BY id LIMIT $${params.length}`,
      params,
      options.signal,
    )
    const ids = r.rows.slice(0, limit).map((row) => row.id)
    return r.rows.length > limit ? { ids, next: encodeCursor(ids[ids.length - 1] as string) } : { ids }
  }

  async fetch(namespace: string, ids: readonly string[], call: CallOptions = {}): Promise<Map<string, StoredVector>> {
    const out = new Map<string, StoredVector>()
    const ns = encodeText(namespace)
    for (let i = 0; i < ids.length; i += PG_LIMITS.fetchIds) {
      const r = await this.#sql<Row>(
        'fetch',
        `SELECT id, embedding::text AS embedding, sparse::text AS sparse, metadata FROM ${this.#table} ` +
          'WHERE namespace = $1 AND id = ANY($2::text[])',
        [ns, ids.slice(i, i + PG_LIMITS.fetchIds)],
        call.signal,
      )
      for (const row of r.rows) out.set(row.id, fromRow(row))
    }
    return out
  }

  query(namespace: string, request: QueryRequest): Promise<QueryMatch[]> {
    return this.#query(namespace, request, this.#options.search === 'exact')
  }

  exactQuery(namespace: string, request: QueryRequest): Promise<QueryMatch[]> {
    return this.#query(namespace, request, true)
  }

  async #query(namespace: string, request: QueryRequest, exhaustive: boolean): Promise<QueryMatch[]> {
    const shape = await this.#requireShape()
    let vector = request.vector
    let sparse = request.sparseVector
    if (request.id !== undefined) {
      const stored = (await this.fetch(namespace, [request.id])).get(request.id)
      if (!stored) return []
      vector = stored.values
      sparse = stored.sparseValues
    }
    const params: unknown[] = [encodeText(namespace)]
    const distances: string[] = []
    if (vector) {
      if (shape.dimension !== null && vector.length !== shape.dimension) {
        throw new VecshiftError(E.STORE_REFUSED, [
          this.label,
          'query',
          400,
          `Vector dimension ${vector.length} does not match the dimension of the index ${shape.dimension}`,
        ])
      }
      params.push(vectorText(vector))
      distances.push(`(embedding ${OPS[shape.metric].op} CAST($${params.length} AS vector))`)
    }
    if (sparse) {
      params.push(sparseText(sparse, request.id ?? 'query'))
      // Sparse scores are dot products in Pinecone, whatever the index metric.
      distances.push(`COALESCE(sparse <#> CAST($${params.length} AS sparsevec), 0)`)
    }
    if (distances.length === 0)
      throw new VecshiftError(E.STORE_REFUSED, [
        this.label,
        'query',
        400,
        'a query needs a vector, an id or a sparse vector',
      ])
    const distance = distances.join(' + ')
    const score = vector
      ? OPS[shape.metric].score(distances[0] as string) + (sparse ? ` - (${distances[1]})` : '')
      : `-(${distance})`
    let where = 'namespace = $1'
    if (vector) where += ' AND embedding IS NOT NULL'
    if (request.filter)
      where += ` AND ${new FilterSql("COALESCE(metadata, '{}'::jsonb)", params).translate(request.filter)}`
    params.push(request.topK)
    const columns =
      `id, ${score} AS score` +
      (request.includeValues ? ', embedding::text AS embedding, sparse::text AS sparse' : '') +
      (request.includeMetadata ? ', metadata' : '')
    // exact: the MATERIALIZED CTE keeps the planner from answering from the HNSW index.
    const exact =
      `WITH c AS MATERIALIZED (SELECT * FROM ${this.#table} WHERE ${where}) ` +
      `SELECT ${columns} FROM c ORDER BY ${distance}, id LIMIT $${params.length}`
    const toMatches = (rows: Array<Row & { score: number }>) =>
      rows.map((row) => ({ ...fromRow(row), score: Number(row.score) }))
    if (exhaustive) return toMatches((await this.#sql<Row & { score: number }>('query', exact, params)).rows)
    const k = params.length
    let efSearch = Math.max(this.#options.efSearch ?? DEFAULT_EF_SEARCH, request.topK)
    if (request.filter) {
      // A filtered query that matches few rows is answered exactly, in one statement: an
      // index scan under a selective filter keeps few of the candidates it walks and misses
      // neighbours (recall@10 0.83 for a filter matching 1 % of a 20,000-row namespace, with
      // ef_search 100), while exact search costs about as much at that size (bench:
      // pgvector-serve). More matching rows: the graph, with a wider search (4 x ef_search).
      const bound = this.#options.exactFilterRows ?? DEFAULT_EXACT_FILTER_ROWS
      params.push(bound)
      // MATERIALIZED both times: the candidates are read by id, never from a graph (which
      // would answer this with pgvector's defaults: short), and ordered exactly.
      const few = await this.#sql<Row & { score: number; matched: string }>(
        'query',
        `WITH m AS MATERIALIZED (SELECT id FROM ${this.#table} WHERE ${where} LIMIT $${params.length} + 1),
              n AS (SELECT count(*) AS matched FROM m),
              c AS MATERIALIZED (SELECT t.* FROM ${this.#table} t JOIN m USING (id) ` +
          `WHERE t.namespace = $1 AND (SELECT matched FROM n) <= $${params.length})
         SELECT r.*, n.matched FROM n LEFT JOIN LATERAL (
           SELECT ${columns}, ${distance} AS vecshift_d FROM c ORDER BY ${distance}, id LIMIT $${k}) r ON true
         ORDER BY r.vecshift_d, r.id`,
        params,
      )
      params.pop()
      const matched = Number(few.rows[0]?.matched ?? 0)
      if (matched <= bound) return toMatches(few.rows.filter((row) => row.id !== null))
      efSearch *= 4
    }
    const approximate = `SELECT ${columns} FROM ${this.#table} WHERE ${where} ORDER BY ${distance} LIMIT $${k}`
    const rows = await this.#hnswQuery<Row & { score: number }>(approximate, params, request.topK, efSearch)
    if (rows.length < request.topK) {
      // The index ran out of candidates (a selective namespace or filter, past
      // hnsw.max_scan_tuples): when more rows match than it returned, answer exactly.
      // (The distance is selected only so that every bind parameter has a use and a type.)
      const matching = await this.#sql<{ n: string }>(
        'query',
        `SELECT count(*) AS n FROM (SELECT ${distance} AS d FROM ${this.#table} WHERE ${where} LIMIT $${params.length}) m`,
        params,
      )
      if (Number(matching.rows[0]?.n ?? 0) > rows.length)
        return toMatches((await this.#sql<Row & { score: number }>('query', exact, params)).rows)
    }
    return toMatches(rows)
  }

  /**
   * A query answered from the HNSW index, in a transaction whose settings make it return
   * the full topK in score order (docs/copy.md, "pgvector"): an iterative index scan
   * (pgvector 0.8) that goes on past the first ef_search candidates until the namespace and
   * filter conditions have let topK rows through, strictly ordered; ef_search at least topK
   * (at most 1000, pgvector's bound); and enough tuples scanned for the largest topK.
   */
  async #hnswQuery<R extends pg.QueryResultRow>(
    text: string,
    params: unknown[],
    topK: number,
    ef: number,
  ): Promise<R[]> {
    const efSearch = Math.min(1000, ef)
    const maxScanTuples = Math.max(20_000, topK * 20)
    return this.#withRetries('query', async () => {
      const client = await this.#pool.connect()
      try {
        // One round trip for the transaction and its settings (a simple-protocol batch);
        // SET LOCAL takes no bind parameters, and both values are integers computed here.
        await client.query(
          `BEGIN; SET LOCAL hnsw.iterative_scan = strict_order; SET LOCAL hnsw.ef_search = ${efSearch}; ` +
            `SET LOCAL hnsw.max_scan_tuples = ${maxScanTuples}`,
        )
        const r = await client.query<R>(text, params)
        await client.query('COMMIT')
        return r.rows
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    })
  }

  async upsert(namespace: string, vectors: readonly StoredVector[], call: CallOptions = {}): Promise<void> {
    const shape = await this.#requireShape()
    // One statement per batch; within it an id may appear once (ON CONFLICT cannot touch a
    // row twice), and the last write of an id wins, as it would on Pinecone.
    for (let i = 0; i < vectors.length; i += PG_LIMITS.upsertRows) {
      const latest = new Map<string, StoredVector>()
      for (const v of vectors.slice(i, i + PG_LIMITS.upsertRows)) latest.set(v.id, v)
      // A multi-row VALUES list: 1.12x the rows/s of unnest()ing four text arrays, measured
      // by `npm run bench:copy` (COPY into a staging table cannot be measured on PGlite).
      const params: Array<string | null> = [encodeText(namespace)]
      const rows: string[] = []
      for (const v of latest.values()) {
        // Values read as text from a store go as that text (dense-text.ts); a wrong dimension
        // there is refused by the vector(d) column itself.
        const text = denseText(v)
        if (text === undefined && v.values && shape.dimension !== null && v.values.length !== shape.dimension) {
          throw new VecshiftError(E.STORE_REFUSED, [
            this.label,
            'upsert',
            400,
            `Vector dimension ${v.values.length} does not match the dimension of the index ${shape.dimension}`,
          ])
        }
        const p = params.length
        rows.push(`($1, $${p + 1}, CAST($${p + 2} AS vector), CAST($${p + 3} AS sparsevec), CAST($${p + 4} AS jsonb))`)
        params.push(
          v.id,
          text ?? (v.values && v.values.length > 0 ? vectorText(v.values) : null),
          v.sparseValues && v.sparseValues.indices.length > 0 ? sparseText(v.sparseValues, v.id) : null,
          v.metadata && Object.keys(v.metadata).length > 0 ? JSON.stringify(encodeMetadata(v.metadata)) : null,
        )
      }
      await this.#sql(
        'upsert',
        `INSERT INTO ${this.#table} (namespace, id, embedding, sparse, metadata) VALUES ${rows.join(',')}
        ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, sparse = EXCLUDED.sparse, metadata = EXCLUDED.metadata`,
        params,
        call.signal,
      )
    }
  }

  async update(namespace: string, request: UpdateRequest, call: CallOptions = {}): Promise<{ matched?: number }> {
    const params: unknown[] = [encodeText(namespace)]
    const sets: string[] = []
    const merge = (md: Metadata) => {
      params.push(JSON.stringify(encodeMetadata(md)))
      sets.push(`metadata = COALESCE(metadata, '{}'::jsonb) || CAST($${params.length} AS jsonb)`)
    }
    let where: string
    if ('id' in request) {
      params.push(request.id)
      where = `namespace = $1 AND id = $${params.length}`
      if (request.values) {
        params.push(vectorText(request.values))
        sets.push(`embedding = CAST($${params.length} AS vector)`)
      }
      if (request.sparseValues) {
        params.push(sparseText(request.sparseValues, request.id))
        sets.push(`sparse = CAST($${params.length} AS sparsevec)`)
      }
      if (request.setMetadata) merge(request.setMetadata)
    } else {
      merge(request.setMetadata)
      where = `namespace = $1 AND ${new FilterSql("COALESCE(metadata, '{}'::jsonb)", params).translate(request.filter)}`
    }
    if (sets.length === 0) return { matched: 0 }
    const r = await this.#sql(
      'update',
      `UPDATE ${this.#table} SET ${sets.join(', ')} WHERE ${where}`,
      params,
      call.signal,
    )
    return { matched: r.rowCount ?? 0 }
  }

  async delete(namespace: string, request: DeleteRequest, call: CallOptions = {}): Promise<void> {
    if ('ids' in request) {
      for (let i = 0; i < request.ids.length; i += PG_LIMITS.deleteIds) {
        await this.#sql(
          'delete',
          `DELETE FROM ${this.#table} WHERE namespace = $1 AND id = ANY($2::text[])`,
          [encodeText(namespace), request.ids.slice(i, i + PG_LIMITS.deleteIds)],
          call.signal,
        )
      }
    } else if ('filter' in request) {
      const params: unknown[] = [encodeText(namespace)]
      const where = new FilterSql("COALESCE(metadata, '{}'::jsonb)", params).translate(request.filter)
      await this.#sql('delete', `DELETE FROM ${this.#table} WHERE namespace = $1 AND ${where}`, params, call.signal)
    } else {
      await this.#sql('delete', `DELETE FROM ${this.#table} WHERE namespace = $1`, [encodeText(namespace)], call.signal)
    }
  }

  async deleteNamespace(namespace: string): Promise<void> {
    await this.#sql('deleteNamespace', `DELETE FROM ${this.#table} WHERE namespace = $1`, [encodeText(namespace)])
    await this.#sql('deleteNamespace', `DELETE FROM ${this.#namespacesTable} WHERE tbl = $1 AND namespace = $2`, [
      this.#options.table,
      encodeText(namespace),
    ]).catch((err: unknown) => {
      // No namespace was ever created explicitly: there is nothing more to delete.
      if ((err as { cause?: { code?: string } }).cause?.code !== '42P01') throw err
    })
  }

  async ping(): Promise<void> {
    // The table itself, not just the server: a dropped table is not ready either.
    await this.#pool.query(`SELECT 1 FROM ${this.#table} LIMIT 1`)
  }

  async createNamespace(namespace: string, schema?: Record<string, unknown>): Promise<void> {
    await this.#sql(
      'createNamespace',
      `CREATE TABLE IF NOT EXISTS ${this.#namespacesTable} (
      tbl text COLLATE "C" NOT NULL, namespace text COLLATE "C" NOT NULL, schema jsonb, PRIMARY KEY (tbl, namespace))`,
    )
    await this.#sql(
      'createNamespace',
      `INSERT INTO ${this.#namespacesTable} (tbl, namespace, schema) VALUES ($1, $2, $3)
      ON CONFLICT (tbl, namespace) DO NOTHING`,
      [this.#options.table, encodeText(namespace), schema === undefined ? null : JSON.stringify(encodeJson(schema))],
    )
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }

  async #readShape(): Promise<Shape | undefined> {
    const [schema, table] = [this.#options.schema ?? 'public', this.#options.table]
    const r = await this.#sql<{ comment: string | null }>(
      'describe',
      "SELECT obj_description(c.oid, 'pg_class') AS comment " +
        'FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2',
      [schema, table],
    )
    const row = r.rows[0]
    if (!row) return undefined
    let parsed: {
      vecshift?: number
      metric?: Metric
      dimension?: number | null
      vectorType?: VectorType
      layout?: IndexLayout
      minIndexedRows?: number
    } = {}
    try {
      parsed = JSON.parse(row.comment ?? '{}') as typeof parsed
    } catch {
      /* not ours */
    }
    if (parsed.vecshift !== 1 || parsed.metric === undefined) {
      throw new VecshiftError(E.STORE_UNSUPPORTED, [
        this.label,
        'a table vecshift did not create (its comment does not record the metric); let vecshift create the table, or set the comment',
      ])
    }
    // Tables made before layouts existed have one graph.
    return {
      metric: parsed.metric,
      dimension: parsed.dimension ?? null,
      vectorType: parsed.vectorType ?? 'dense',
      layout: parsed.layout === 'per-namespace' ? 'per-namespace' : 'single',
      minIndexedRows: parsed.minIndexedRows ?? LAYOUT_DEFAULTS.minIndexedRows,
    }
  }

  async #requireShape(): Promise<Shape> {
    if (this.#shape) return this.#shape
    const shape = await this.#readShape()
    if (!shape)
      throw new VecshiftError(E.STORE_NOT_FOUND, [
        this.label,
        `${this.#options.pool.host ?? 'localhost'}:${this.#options.pool.port ?? 5432}/${this.#options.pool.database ?? ''}`,
      ])
    this.#shape = shape
    return shape
  }

  #sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
    op: string,
    text: string,
    params: unknown[] = [],
    signal?: AbortSignal,
  ): Promise<pg.QueryResult<R>> {
    return this.#withRetries(op, () => this.#pool.query<R>(text, params), signal)
  }

  /** Runs `fn` with the retry rules and turns what fails into catalogue errors. */
  async #withRetries<T>(op: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const started = Date.now()
    try {
      return await withRetries(
        async () => {
          this.counters.requests++
          return fn()
        },
        {
          policy: this.#options.retry ?? DEFAULT_PG_RETRY,
          isRetriable: retriable,
          ...(signal ? { signal } : {}),
          onRetry: (err, attempt, delayMs) => {
            this.counters.retries++
            this.#options.logger?.warn(
              { err, store: this.label, op, attempt, delayMs },
              'database request failed; retrying',
            )
          },
        },
      )
    } catch (err) {
      // An aborted caller gets its own reason back (a statement already sent has finished).
      if (err instanceof VecshiftError || (signal?.aborted && err === signal.reason)) throw err
      const e = err as { code?: string; message?: string }
      if (retriable(err)) {
        throw new VecshiftError(
          E.STORE_UNAVAILABLE,
          [this.label, e.code ?? e.message, this.counters.retries + 1, Math.round((Date.now() - started) / 1000)],
          { cause: err },
        )
      }
      if (e.code === '28P01' || e.code === '28000')
        throw new VecshiftError(E.STORE_AUTH, [this.label, e.code, 'the database user and password'], { cause: err })
      if (e.code === '42P01')
        throw new VecshiftError(E.STORE_NOT_FOUND, [this.label, 'the database (create it with createSchema)'], {
          cause: err,
        })
      throw new VecshiftError(E.STORE_REFUSED, [this.label, op, e.code ?? 'an error', e.message ?? String(err)], {
        cause: err,
      })
    }
  }
}

interface Row {
  id: string
  embedding?: string | null
  sparse?: string | null
  metadata?: Metadata | null
}

function fromRow(row: Row): StoredVector {
  const sparseValues = row.sparse ? parseSparse(row.sparse) : undefined
  const metadata = row.metadata && Object.keys(row.metadata).length > 0 ? decodeMetadata(row.metadata) : undefined
  const rest = {
    id: row.id,
    ...(sparseValues && sparseValues.indices.length > 0 ? { sparseValues } : {}),
    ...(metadata ? { metadata } : {}),
  }
  // pgvector prints the shortest float4 form: kept as text until read (dense-text.ts).
  return row.embedding ? withDenseText(rest, row.embedding) : rest
}

/** Pagination tokens are opaque to clients: the last id, base64url. */
function encodeCursor(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString('utf8')
}
