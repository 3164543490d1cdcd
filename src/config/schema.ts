import { z } from 'zod'
import { writeLogConfigSchema } from '../writelog/config.js'

// The shape of a vecshift configuration. Durations are milliseconds, sizes bytes. Every
// object is strict: an unknown key is a typo until proven otherwise, and a typo in a
// migration tool's config must stop it before it touches anything.

const port = z.number().int().min(0).max(65535)
const host = z.string().min(1)
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), { message: 'must be an http:// or https:// URL' })
const ms = (min: number, max: number) => z.number().int().min(min).max(max)

const listen = z.strictObject({ host: host.default('127.0.0.1'), port: port.default(0) })

const pineconeStore = z.strictObject({
  type: z.literal('pinecone'),
  /** Index name, as the control plane knows it. */
  index: z.string().min(1).max(45),
  /** Data-plane URL of the index (https://<index>-<project>.svc.<env>.pinecone.io). When
   *  absent, vecshift asks the control plane (describe_index); the gateway needs it set. */
  host: httpUrl.optional(),
  /** Control-plane URL; https://api.pinecone.io for Pinecone, the emulator's URL locally. */
  controllerHost: httpUrl.default('https://api.pinecone.io'),
  /** Verify upstream TLS certificates; turning this off is for rehearsals only. */
  tlsVerify: z.boolean().default(true),
})

const ident = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _, at most 63 characters')

const pgvectorStore = z.strictObject({
  type: z.literal('pgvector'),
  /** Table holding the index (created by vecshift with its shape recorded in a comment). */
  table: ident,
  schema: ident.default('public'),
  host: host.default('127.0.0.1'),
  port: port.default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  /** TLS to the database; `verify-full` checks the certificate and host name. */
  ssl: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  poolSize: z.number().int().min(1).max(256).default(8),
  /** hnsw: queries use the HNSW index (approximate, as served); exact: full scans. */
  search: z.enum(['hnsw', 'exact']).default('hnsw'),
  /** maintenance_work_mem while vecshift builds the HNSW index after a copy (e.g. "2GB"):
   *  a graph that fits in it builds many times faster. Unset: the server's setting. */
  maintenanceWorkMem: z
    .string()
    .regex(/^[0-9]{1,9}(kB|MB|GB)$/, 'a size such as 512MB or 2GB')
    .optional(),
  /** How the HNSW indexes of a table the copy creates are laid out (docs/copy.md, "pgvector"):
   *  one graph, one per large namespace, or auto (chosen from the source's namespaces, as
   *  `vecshift plan` reports). An existing table keeps the layout recorded in its comment. */
  /** hnsw.ef_search for queries with a smaller topK (a larger topK raises it to topK, up to
   *  1000): more candidates, higher recall, slower queries. */
  efSearch: z.number().int().min(1).max(1000).default(100),
  /** A filtered query matching at most this many rows is answered exactly (below it exact
   *  search is about as fast as the graph and never misses a neighbour). */
  exactFilterRows: z.number().int().min(0).default(2_000),
  indexLayout: z.enum(['auto', 'single', 'per-namespace']).default('auto'),
  /** per-namespace: a namespace gets a graph of its own from this many rows (smaller ones are
   *  searched exactly). */
  minIndexedRows: z.number().int().min(1).default(10_000),
  /** auto: more namespaces to index than this, and one graph is chosen. */
  maxPartialIndexes: z.number().int().min(1).max(10_000).default(200),
})

const store = z.discriminatedUnion('type', [pineconeStore, pgvectorStore])

const collectionCopy = z.strictObject({
  /** Name of the collection saved from the source; default vecshift-<migration.id>. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,44}$/, 'lower-case letters, digits and "-", at most 45 characters')
    .optional(),
  /** Where the serverless target is created: no default, a wrong region is costly to undo. */
  cloud: z.enum(['aws', 'gcp', 'azure']).optional(),
  region: z.string().min(1).optional(),
  deletionProtection: z.boolean().default(false),
  /** Waiting for the collection, then the new index, to be ready: hours for big indexes. */
  readyTimeoutMs: ms(1_000, 7 * 24 * 3_600_000).default(12 * 3_600_000),
  pollIntervalMs: ms(10, 600_000).default(5_000),
})

const copy = z.strictObject({
  /** auto picks list-fetch when the source can list ids, collection for a Pinecone pod-based
   *  source going to Pinecone serverless, and otherwise asks for an ids file. */
  strategy: z.enum(['auto', 'list-fetch', 'collection', 'ids-file']).default('auto'),
  /** A file of ids, one per line ("namespace<TAB>id", or just "id" with --namespace). */
  idsFile: z.string().min(1).optional(),
  /** Batches of ids fetched and upserted at once. */
  concurrency: z.number().int().min(1).max(256).default(4),
  /** Ids per fetch / vectors per upsert. */
  batchSize: z.number().int().min(1).max(1000).default(100),
  /** Requests per second to each store, summed over workers; 0 = unlimited. */
  maxRequestsPerSec: z.number().min(0).max(100_000).default(0),
  /** Vectors per second copied; 0 = unlimited. */
  maxVectorsPerSec: z.number().min(0).max(10_000_000).default(0),
  /** Where the copy checkpoint lives (one JSON file per migration). */
  checkpointDir: z.string().min(1).default('./vecshift-data/copy'),
  /** Create the target (pgvector table, or Pinecone index from the collection) if missing. */
  createTarget: z.boolean().default(false),
  /** Set when the target holds embeddings of another model: vectors cannot be copied, only
   *  ids and metadata, and must be re-embedded (see docs). */
  targetEmbeddingModel: z.string().min(1).optional(),
  sourceEmbeddingModel: z.string().min(1).optional(),
  /** The collection strategy (Pinecone pod-based -> serverless). */
  collection: collectionCopy.default(collectionCopy.parse({})),
  /** While writes are captured, each batch is copied positioned in the write log, so that
   *  no write made during the copy is undone by it (docs/copy.md). */
  settle: z
    .strictObject({
      /** How long a batch waits for the replayer (`vecshift replay --follow`) to reach the
       *  log's tail before it is fetched; past it the batch is copied unpositioned. */
      replayWaitMs: ms(0, 3_600_000).default(10_000),
      /** Rounds a batch may take while writes keep touching it; what is still touched after
       *  them goes to the cutover's reconciliation. */
      maxRounds: z.number().int().min(1).max(100).default(8),
    })
    .default({ replayWaitMs: 10_000, maxRounds: 8 }),
})

const upstream = z.strictObject({
  connections: z.number().int().min(1).max(4096).default(128),
  pipelining: z.number().int().min(1).max(64).default(1),
  connectTimeoutMs: ms(1, 600_000).default(5_000),
  /** Time allowed for upstream response headers and for the body to keep flowing. */
  requestTimeoutMs: ms(1, 3_600_000).default(30_000),
  keepAliveTimeoutMs: ms(1, 3_600_000).default(30_000),
})

const limits = z.strictObject({
  /** Larger bodies get 413 at the gateway. Pinecone's own limit (2 MB) is enforced upstream, and
   *  on captured writes before they are logged. */
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  /** The request line and headers together. Pinecone allows 1,000 ids of up to 512
   *  characters in one fetch's query string (half a megabyte), so the default is 1 MiB: the
   *  gateway is never the one that refuses what the API allows. */
  maxHeaderBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024),
  /** Whole-request deadline on the client side of the gateway. */
  requestTimeoutMs: ms(1, 3_600_000).default(60_000),
  /** Requests over this many in flight get 429 rather than queueing without bound. */
  maxConcurrentRequests: z.number().int().min(1).max(1_000_000).default(4096),
})

const auth = z.strictObject({
  /** passthrough: forward the client's Api-Key upstream, once the source has confirmed it.
   *  keys: accept only VECSHIFT_GATEWAY_API_KEYS and use VECSHIFT_SOURCE_API_KEY upstream. */
  mode: z.enum(['passthrough', 'keys']).default('passthrough'),
  /** passthrough: a key the source accepted is trusted this long before it is asked again
   *  (a revoked key is refused by then, or at once when the source refuses one of its
   *  forwarded requests). */
  cacheTtlMs: ms(100, 3_600_000).default(60_000),
  /** passthrough: a key the source refused is refused this long without asking again. */
  refusedTtlMs: ms(100, 3_600_000).default(10_000),
  /** passthrough: verdicts kept (by SHA-256 digest); the oldest go first. */
  maxCachedKeys: z.number().int().min(16).max(10_000_000).default(10_000),
  /** passthrough: keys being confirmed at once; past it, 503 AUTH_UNAVAILABLE. */
  maxConcurrentChecks: z.number().int().min(1).max(100_000).default(64),
})

const gateway = z.strictObject({
  listen: listen.default({ host: '127.0.0.1', port: 8080 }),
  /** URL clients use to reach this gateway; answered as `host` by the control-plane shim.
   *  When unset, it is derived from each request's Host header. */
  publicUrl: httpUrl.optional(),
  auth: auth.default(auth.parse({})),
  upstream: upstream.default(upstream.parse({})),
  limits: limits.default(limits.parse({})),
  /** How long SIGTERM waits for in-flight requests before closing connections by force. */
  shutdownTimeoutMs: ms(0, 600_000).default(30_000),
  /** Interval of the upstream probe behind /readyz. */
  readinessIntervalMs: ms(100, 600_000).default(2_000),
  /** Writes held at a cutover barrier: at most this many at once, each at most this long;
   *  past either, 503 + Retry-After. */
  cutover: z
    .strictObject({
      maxHeldWrites: z.number().int().min(1).max(1_000_000).default(10_000),
      maxHoldMs: ms(100, 600_000).default(30_000),
    })
    .default({ maxHeldWrites: 10_000, maxHoldMs: 30_000 }),
  /** Shadow reads: while the source serves reads, this share of queries is also sent to the
   *  target after the client has its answer, and the answers compared (metrics, admin
   *  status, vecshift status). At most maxConcurrent at once; past it a query is not
   *  shadowed (counted as dropped), so a slow target never slows clients. */
  shadow: z
    .strictObject({
      percent: z.number().min(0).max(100).default(0),
      maxConcurrent: z.number().int().min(1).max(10_000).default(8),
    })
    .default({ percent: 0, maxConcurrent: 8 }),
})

const replay = z.strictObject({
  /** Where the replayer keeps its status and the set of ids written since capture began. */
  dataDir: z.string().min(1).default('./vecshift-data/replay'),
  /** Distinct ids applied per batch (coalesced writes count once). */
  batchSize: z.number().int().min(1).max(10_000).default(500),
  /** When the log is quiet, a partial batch waits this long for more before it is applied. */
  lingerMs: ms(0, 60_000).default(50),
  /** An intent whose outcome has not been logged this long after it (gateway crashed or
   *  timed out) is repaired from the source. Longer than the gateway's upstream timeout. */
  outcomeWaitMs: ms(1_000, 3_600_000).default(60_000),
  /** Target requests in flight for the updates of one batch. */
  concurrency: z.number().int().min(1).max(256).default(8),
})

const verifyThresholds = z.strictObject({
  /** Mean recall@k of the target's answers against the source's. */
  minRecall: z.number().min(0).max(1).default(0.95),
  /** Sampled source records absent on the target. */
  maxMissing: z.number().int().min(0).default(0),
  /** Sampled records whose values or metadata differ. */
  maxMismatched: z.number().int().min(0).default(0),
  /** Sampled target records the source does not have. */
  maxExtra: z.number().int().min(0).default(0),
  /** Per namespace, a count difference beyond the replay lag. */
  maxCountDifference: z.number().int().min(0).default(0),
})

const verify = z.strictObject({
  /** Records sampled (uniformly over every namespace) and compared on both sides. */
  sample: z.number().int().min(1).max(1_000_000).default(1_000),
  /** Queries built from sampled records (every other one with a filter from its metadata). */
  queries: z.number().int().min(0).max(100_000).default(100),
  topK: z.number().int().min(1).max(1_000).default(10),
  /** Relative tolerance for dense and sparse values (a faithful copy is exact). */
  tolerance: z.number().min(0).max(1).default(1e-6),
  thresholds: verifyThresholds.default(verifyThresholds.parse({})),
  /** Where an interrupted verification keeps its progress (--resume). */
  checkpointDir: z.string().min(1).default('./vecshift-data/verify'),
})

const reembed = z.strictObject({
  /** Base URL of an OpenAI-compatible embeddings API (POST {url}/embeddings). */
  url: httpUrl,
  model: z.string().min(1),
  /** The metadata field holding the text the embeddings are made from. */
  textField: z.string().min(1),
  batchSize: z.number().int().min(1).max(2048).default(64),
  concurrency: z.number().int().min(1).max(256).default(2),
  /** Requests per second to the endpoint; 0 = unlimited. */
  maxRequestsPerSec: z.number().min(0).max(100_000).default(0),
  /** Output size, for models that take one (OpenAI text-embedding-3-*). */
  dimensions: z.number().int().min(1).max(65_536).optional(),
})

const plan = z.strictObject({
  /** Records read from the source to measure record sizes and its read rate. */
  sampleRecords: z.number().int().min(1).max(100_000).default(200),
  /** Writes per second the application makes, for the write log's size. */
  expectedWritesPerSec: z.number().min(0).max(1_000_000).default(0),
  /** How long capture runs (copy, replay, verification, until the cutover). */
  captureHours: z
    .number()
    .min(0)
    .max(24 * 365)
    .default(24),
  reembed: z
    .strictObject({
      tokensPerRecord: z.number().min(0).max(1_000_000).default(256),
      pricePerMillionTokens: z.number().min(0).max(1_000_000).default(0.02),
      recordsPerSec: z.number().min(0.001).max(1_000_000).default(200),
    })
    .default({ tokensPerRecord: 256, pricePerMillionTokens: 0.02, recordsPerSec: 200 }),
})

const cutover = z.strictObject({
  /** The write pause budget, barrier to flip; past it the cutover aborts by itself. */
  maxPauseMs: ms(10, 600_000).default(2_000),
  /** Replay lag (records) above which a cutover does not start. */
  maxLagRecords: z.number().int().min(0).max(100_000_000).default(1_000),
  /** Just before the barrier the cutover waits, at most catchUpTimeoutMs, until the replayer
   *  is this close to the log's tail: the drain inside the pause applies only that much. */
  barrierLagRecords: z.number().int().min(0).max(1_000_000).default(100),
  catchUpTimeoutMs: ms(0, 3_600_000).default(30_000),
  /** The pre-reconcile (before the pause, while traffic flows) compares every id written since
   *  capture began; past this it refuses the cutover. Large namespaces touched by writes by
   *  filter are compared in full, which can take long. */
  preReconcileTimeoutMs: ms(1_000, 24 * 3_600_000).default(30 * 60_000),
  /** A replayer that has not reported for this long is not running. */
  replayStaleMs: ms(100, 3_600_000).default(10_000),
  /** Refuse a cutover unless `vecshift verify` passed within verifyMaxAgeMs. */
  requireVerify: z.boolean().default(false),
  verifyMaxAgeMs: ms(1_000, 30 * 24 * 3_600_000).default(3_600_000),
})

const rollback = z.strictObject({
  /** After the cutover, writes to the target go to the reverse log, on the write log's own
   *  backend, so that `vecshift rollback` can replay them into the source whatever replica
   *  took them (config/reverse-log.ts): this directory for the file backend ... */
  logDir: z.string().min(1).default('./vecshift-data/writelog-reverse'),
  /** ... this topic for Kafka (default: the write log's topic + ".reverse") ... */
  topic: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name')
    .optional(),
  /** ... this key prefix for S3 (default: the write log's prefix + "reverse/"). */
  prefix: z.string().max(512).optional(),
})

const controlPostgres = z.strictObject({
  host: host.default('127.0.0.1'),
  port: port.default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  /** Where vecshift keeps its two tables (vecshift_control, vecshift_replicas). */
  schema: ident.default('public'),
  ssl: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  /** A lease renewal or a change that cannot reach the database within this fails (and a
   *  replica that cannot renew its lease refuses writes). */
  connectTimeoutMs: ms(100, 60_000).default(2_000),
})

const control = z.strictObject({
  /** file: one JSON record on this host (the embedded default). postgres: one row in a
   *  database every gateway replica reaches, changes announced with LISTEN/NOTIFY. */
  backend: z.enum(['file', 'postgres']).default('file'),
  dir: z.string().min(1).default('./vecshift-data/control'),
  postgres: controlPostgres.optional(),
  /** A replica whose lease is this old is counted as gone. */
  leaseMs: ms(500, 600_000).default(5_000),
  /** How often processes look for a changed record: a cutover's barrier starts at a
   *  gateway's next look, so this bounds part of the write pause. */
  pollMs: ms(10, 60_000).default(50),
})

const admin = z.strictObject({
  listen: listen.default({ host: '127.0.0.1', port: 9090 }),
  enabled: z.boolean().default(true),
})

const migration = z.strictObject({
  /** Names this migration in metrics, logs and (later) the log topic and control record. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and "-", at most 63 characters'),
  /** passthrough: forward everything, log nothing. capture: log every write durably before
   *  it is acknowledged (needs `writelog` and VECSHIFT_SOURCE_API_KEY). */
  phase: z.enum(['passthrough', 'capture']).default('passthrough'),
})

export const configSchema = z.strictObject({
  migration,
  source: store,
  target: store.optional(),
  copy: copy.default(copy.parse({})),
  replay: replay.default(replay.parse({})),
  control: control.default(control.parse({})),
  cutover: cutover.default(cutover.parse({})),
  verify: verify.default(verify.parse({})),
  plan: plan.default(plan.parse({})),
  /** With `vecshift copy --reembed` / `replay --reembed`: new vectors from the records' text. */
  reembed: reembed.optional(),
  rollback: rollback.default(rollback.parse({})),
  gateway: gateway.default(gateway.parse({})),
  admin: admin.default(admin.parse({})),
  /** Where captured writes go: file (embedded default), kafka or s3; see src/writelog/config.ts. */
  writelog: writeLogConfigSchema.default({ backend: 'file' }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
})

export type ConfigInput = z.input<typeof configSchema>
type Parsed = z.output<typeof configSchema>

/** Secrets, which only ever come from the environment. */
export interface Secrets {
  sourceApiKey?: string
  targetApiKey?: string
  /** Database passwords of pgvector stores. */
  sourcePgPassword?: string
  targetPgPassword?: string
  /** Database password of the postgres control store. */
  controlPgPassword?: string
  /** Key of the embeddings endpoint (reembed). */
  embeddingsApiKey?: string
  /** Keys clients may present when gateway.auth.mode is `keys`. */
  gatewayApiKeys: readonly string[]
  adminToken?: string
}

export type Config = Readonly<Parsed> & { readonly secrets: Readonly<Secrets> }
export type StoreConfig = Parsed['source']
export type PineconeStoreConfig = Extract<StoreConfig, { type: 'pinecone' }>
export type PgvectorStoreConfig = Extract<StoreConfig, { type: 'pgvector' }>

/** Environment variables that hold secrets, and the config-file key each replaces. */
export const SECRET_ENV = {
  sourceApiKey: { env: 'VECSHIFT_SOURCE_API_KEY', fileKey: 'source.apiKey' },
  targetApiKey: { env: 'VECSHIFT_TARGET_API_KEY', fileKey: 'target.apiKey' },
  sourcePgPassword: { env: 'VECSHIFT_SOURCE_PG_PASSWORD', fileKey: 'source.password' },
  targetPgPassword: { env: 'VECSHIFT_TARGET_PG_PASSWORD', fileKey: 'target.password' },
  controlPgPassword: { env: 'VECSHIFT_CONTROL_PG_PASSWORD', fileKey: 'control.postgres.password' },
  embeddingsApiKey: { env: 'VECSHIFT_EMBEDDINGS_API_KEY', fileKey: 'reembed.apiKey' },
  gatewayApiKeys: { env: 'VECSHIFT_GATEWAY_API_KEYS', fileKey: 'gateway.auth.apiKeys' },
  adminToken: { env: 'VECSHIFT_ADMIN_TOKEN', fileKey: 'admin.token' },
} as const
