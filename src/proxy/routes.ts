import type { WriteOp } from '../wire/pinecone/parse-write.js'

// The Pinecone data-plane routes the gateway serves, as data. `kind` decides what each
// phase does with a request: reads go to the read side, writes are captured before they
// are forwarded, and writes the log cannot represent (integrated-embedding records, bulk
// imports) are forwarded only while nothing is being captured.

export type RouteKind = 'read' | 'write' | 'uncapturable-write'
/** How a `write` route is captured. */
export type CapturedOp = WriteOp

export interface DataRoute {
  /** Stable operation name, used in metrics labels and logs. */
  readonly op: string
  readonly method: 'GET' | 'POST' | 'DELETE' | 'PATCH'
  /** find-my-way pattern, relative to the index host. */
  readonly url: string
  readonly kind: RouteKind
  /** For kind `write`: how the capture path parses and logs it. */
  readonly captured?: CapturedOp
}

export const DATA_ROUTES: readonly DataRoute[] = Object.freeze([
  { op: 'upsert', method: 'POST', url: '/vectors/upsert', kind: 'write', captured: 'upsert' },
  { op: 'update', method: 'POST', url: '/vectors/update', kind: 'write', captured: 'update' },
  { op: 'delete', method: 'POST', url: '/vectors/delete', kind: 'write', captured: 'delete' },
  { op: 'query', method: 'POST', url: '/query', kind: 'read' },
  { op: 'fetch', method: 'GET', url: '/vectors/fetch', kind: 'read' },
  { op: 'fetch_by_metadata', method: 'POST', url: '/vectors/fetch_by_metadata', kind: 'read' },
  { op: 'list', method: 'GET', url: '/vectors/list', kind: 'read' },
  // GET is the pre-2024 spelling of describe_index_stats; older clients still send it.
  { op: 'describe_index_stats', method: 'POST', url: '/describe_index_stats', kind: 'read' },
  { op: 'describe_index_stats', method: 'GET', url: '/describe_index_stats', kind: 'read' },
  { op: 'list_namespaces', method: 'GET', url: '/namespaces', kind: 'read' },
  { op: 'describe_namespace', method: 'GET', url: '/namespaces/:namespace', kind: 'read' },
  // Creating a namespace (2025-10+) changes no records, but the namespace and its metadata
  // schema must exist on the target too: logged and replayed like any write.
  { op: 'create_namespace', method: 'POST', url: '/namespaces', kind: 'write', captured: 'create_namespace' },
  {
    op: 'delete_namespace',
    method: 'DELETE',
    url: '/namespaces/:namespace',
    kind: 'write',
    captured: 'delete_namespace',
  },
  { op: 'search_records', method: 'POST', url: '/records/namespaces/:namespace/search', kind: 'read' },
  { op: 'upsert_records', method: 'POST', url: '/records/namespaces/:namespace/upsert', kind: 'uncapturable-write' },
  { op: 'list_imports', method: 'GET', url: '/bulk/imports', kind: 'read' },
  { op: 'describe_import', method: 'GET', url: '/bulk/imports/:id', kind: 'read' },
  { op: 'start_import', method: 'POST', url: '/bulk/imports', kind: 'uncapturable-write' },
  { op: 'cancel_import', method: 'DELETE', url: '/bulk/imports/:id', kind: 'uncapturable-write' },
] as const)

/** Control-plane path prefixes the gateway answers (the shim) or forwards. */
export const CONTROL_PREFIXES: readonly string[] = Object.freeze([
  '/indexes',
  '/collections',
  '/backups',
  '/restore-jobs',
  '/backup-schedules',
  // Inference is served by the controller host too (the SDK sends it there).
  '/embed',
  '/rerank',
  '/models',
])
