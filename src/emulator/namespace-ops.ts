// The namespace API (GET/POST /namespaces, GET/DELETE /namespaces/{ns}). Serverless only.
// A namespace exists while it holds records (upserts create it implicitly) or after an explicit
// create; the default namespace always exists. `record_count` is an integer before 2026-07 and
// a decimal string from it.
import { atLeast } from '../wire/pinecone/api-version.js'
import { type Body, type DataContext, podUnsupported } from './data-ops.js'
import { decodeToken, paginationToken, reportedNamespace } from '../wire/pinecone/read-requests.js'
import { dataError, GrpcCode } from '../wire/pinecone/errors.js'
import { DEFAULT_NS, namespaceKey } from './index-store.js'
import { optInt } from '../wire/pinecone/limits.js'
import { checkNamespaceName, parseCreateNamespace } from '../wire/pinecone/write-requests.js'
import type { Namespace } from './records.js'

function notFound(name: string): Error {
  return dataError(404, GrpcCode.NOT_FOUND, `Namespace ${name} not found`)
}

function describe(ctx: DataContext, key: string, ns: Namespace | undefined): Record<string, unknown> {
  const count = ns?.size ?? 0
  const out: Record<string, unknown> = {
    name: reportedNamespace(key, ctx.version),
    record_count: ctx.version === '2026-07' ? String(count) : count,
  }
  if (ns?.schema !== undefined) out.schema = ns.schema
  return out
}

const checkName = checkNamespaceName

export function listNamespaces(
  ctx: DataContext,
  q: { limit?: unknown; paginationToken?: unknown; prefix?: unknown },
): string {
  if (ctx.index.isPod) throw podUnsupported('listing namespaces')
  const limit = optInt(q.limit, 'limit', 1, 100, 100)
  const prefix = typeof q.prefix === 'string' ? q.prefix : ''
  const after = decodeToken(q.paginationToken)
  const names = [...ctx.index.namespaces.keys()]
    .map((key) => ({ key, name: reportedNamespace(key, ctx.version) }))
    .filter(({ name }) => name.startsWith(prefix))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const start = after === null ? 0 : names.findIndex(({ name }) => name > after)
  const page = start < 0 ? [] : names.slice(start, start + limit)
  const out: Record<string, unknown> = {
    namespaces: page.map(({ key }) => describe(ctx, key, ctx.index.namespace(key))),
  }
  const last = page[page.length - 1]
  if (start >= 0 && start + limit < names.length && last !== undefined) {
    out.pagination = { next: paginationToken(last.name) }
  }
  if (atLeast(ctx.version, '2025-10')) out.total_count = names.length
  return JSON.stringify(out)
}

export function createNamespace(ctx: DataContext, body: Body): string {
  if (ctx.index.isPod) throw podUnsupported('creating namespaces')
  const { namespace: name, schema } = parseCreateNamespace(body)
  const existing = ctx.index.namespace(name)
  if (existing !== undefined) throw dataError(409, GrpcCode.ALREADY_EXISTS, `Namespace ${name} already exists`)
  const ns = ctx.index.createNamespace(name, schema ?? undefined)
  return JSON.stringify(describe(ctx, name, ns))
}

export function describeNamespace(ctx: DataContext, raw: string): string {
  if (ctx.index.isPod) throw podUnsupported('describing namespaces')
  const key = namespaceKey(checkName(raw))
  const ns = ctx.index.namespace(key)
  if (ns === undefined && key !== DEFAULT_NS) throw notFound(raw)
  return JSON.stringify(describe(ctx, key, ns))
}

export function deleteNamespace(ctx: DataContext, raw: string): string {
  if (ctx.index.isPod) throw podUnsupported('deleting namespaces')
  const key = namespaceKey(checkName(raw))
  if (!ctx.index.deleteNamespace(key) && key !== DEFAULT_NS) throw notFound(raw)
  return '{}'
}
