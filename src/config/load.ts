import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { E, VecshiftError } from '../errors.js'
import { configSchema, SECRET_ENV, type Config, type Secrets } from './schema.js'

// Configuration is read once at start-up, from a file and the environment, validated, then
// frozen. Everything after this point receives a Config and never looks at process.env.

/** Environment overrides: VECSHIFT__GATEWAY__UPSTREAM__REQUEST_TIMEOUT_MS=1000 sets
 *  gateway.upstream.requestTimeoutMs. Segments are SCREAMING_SNAKE versions of the keys. */
export const ENV_PREFIX = 'VECSHIFT__'

type Env = Readonly<Record<string, string | undefined>>
type Json = Record<string, unknown>

export interface LoadOptions {
  /** Path of a YAML or JSON file; optional when the environment carries everything. */
  file?: string
  env?: Env
  /** Values laid over file and environment (CLI flags). Dotted keys. */
  overrides?: Readonly<Record<string, unknown>>
}

export function loadConfig(options: LoadOptions): Config {
  const env = options.env ?? process.env
  const raw: Json = options.file ? readConfigFile(options.file) : {}
  const origin = new Map<string, string>()
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue
    const path = name.slice(ENV_PREFIX.length).split('__').map(snakeToCamel)
    setPath(raw, path, parseEnvValue(value))
    origin.set(path.join('.'), name)
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) setPath(raw, key.split('.'), value)
  }
  refuseSecretsInFile(raw)
  const parsed = configSchema.safeParse(raw)
  if (!parsed.success) throw configError(parsed.error, origin, options.file)
  const secrets = readSecrets(env)
  const config = { ...parsed.data, secrets }
  checkContradictions(config)
  return deepFreeze(config)
}

function readConfigFile(file: string): Json {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new VecshiftError(E.CONFIG_FILE, [file, (err as NodeJS.ErrnoException).code ?? String(err)], { cause: err })
  }
  let doc: unknown
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both formats.
    doc = parseYaml(text)
  } catch (err) {
    throw new VecshiftError(E.CONFIG_FILE, [file, (err as Error).message], { cause: err })
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new VecshiftError(E.CONFIG_FILE, [file, 'the top level must be a mapping of keys to values'])
  }
  return doc as Json
}

function snakeToCamel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

function parseEnvValue(value: string): unknown {
  // Numbers, booleans and JSON arrays/objects are typed; anything else stays a string.
  if (/^(-?\d+(\.\d+)?|true|false|null|\[.*\]|\{.*\})$/s.test(value.trim())) {
    try {
      return JSON.parse(value)
    } catch {
      return value
    }
  }
  return value
}

function setPath(target: Json, path: readonly string[], value: unknown): void {
  let node = target
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string
    const next = node[key]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Json
  }
  node[path[path.length - 1] as string] = value
}

function refuseSecretsInFile(raw: Json): void {
  for (const { env, fileKey } of Object.values(SECRET_ENV)) {
    const path = fileKey.split('.')
    let node: unknown = raw
    for (const key of path) node = typeof node === 'object' && node !== null ? (node as Json)[key] : undefined
    if (node !== undefined) throw new VecshiftError(E.CONFIG_SECRET_IN_FILE, [fileKey, env])
  }
}

function readSecrets(env: Env): Secrets {
  const nonEmpty = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v === '' ? undefined : v
  }
  const secrets: Secrets = {
    gatewayApiKeys: (nonEmpty(SECRET_ENV.gatewayApiKeys.env) ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0),
  }
  const source = nonEmpty(SECRET_ENV.sourceApiKey.env)
  const target = nonEmpty(SECRET_ENV.targetApiKey.env)
  const admin = nonEmpty(SECRET_ENV.adminToken.env)
  if (source !== undefined) secrets.sourceApiKey = source
  if (target !== undefined) secrets.targetApiKey = target
  if (admin !== undefined) secrets.adminToken = admin
  const sourcePg = nonEmpty(SECRET_ENV.sourcePgPassword.env)
  const targetPg = nonEmpty(SECRET_ENV.targetPgPassword.env)
  if (sourcePg !== undefined) secrets.sourcePgPassword = sourcePg
  if (targetPg !== undefined) secrets.targetPgPassword = targetPg
  const controlPg = nonEmpty(SECRET_ENV.controlPgPassword.env)
  if (controlPg !== undefined) secrets.controlPgPassword = controlPg
  const embeddings = nonEmpty(SECRET_ENV.embeddingsApiKey.env)
  if (embeddings !== undefined) secrets.embeddingsApiKey = embeddings
  return secrets
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

function checkContradictions(config: Omit<Config, never>): void {
  const bad = (key: string, why: string): never => {
    throw new VecshiftError(E.CONFIG_INVALID, [`${key}: ${why}`])
  }
  if (config.control.backend === 'postgres' && config.control.postgres === undefined) {
    bad(
      'control.postgres',
      'is required when control.backend is "postgres" (host, port, database, user; the password from VECSHIFT_CONTROL_PG_PASSWORD)',
    )
  }
  if (config.control.backend === 'file' && config.control.postgres !== undefined) {
    bad('control.postgres', 'is set, but control.backend is "file": set control.backend: postgres to use it')
  }
  if (config.gateway.auth.mode === 'keys') {
    if (config.secrets.gatewayApiKeys.length === 0) {
      bad('gateway.auth.mode', `is "keys" but ${SECRET_ENV.gatewayApiKeys.env} holds no keys`)
    }
    if (config.secrets.sourceApiKey === undefined) {
      bad(
        'gateway.auth.mode',
        `is "keys" but ${SECRET_ENV.sourceApiKey.env} is not set (the gateway's own upstream key)`,
      )
    }
  }
  if (config.migration.phase === 'capture' && config.secrets.sourceApiKey === undefined) {
    bad(
      'migration.phase',
      `is "capture" but ${SECRET_ENV.sourceApiKey.env} is not set; ` +
        "the gateway reads the source index's dimension and metric with it to validate writes",
    )
  }
  if (config.admin.enabled && !isLoopback(config.admin.listen.host) && config.secrets.adminToken === undefined) {
    bad(
      'admin.listen.host',
      `is ${config.admin.listen.host}, not loopback, and ${SECRET_ENV.adminToken.env} is not set; ` +
        'set a token or bind the admin API to 127.0.0.1',
    )
  }
  if (
    config.admin.enabled &&
    config.gateway.listen.port !== 0 &&
    config.admin.listen.port === config.gateway.listen.port &&
    config.admin.listen.host === config.gateway.listen.host
  ) {
    bad('admin.listen.port', 'must differ from gateway.listen.port')
  }
}

function configError(error: z.ZodError, origin: ReadonlyMap<string, string>, file?: string): VecshiftError {
  const lines = error.issues.map((issue) => {
    const path = issue.path.map(String)
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((k) => `unknown key "${[...path, k].join('.')}"${where([...path, k].join('.'), origin, file)}`)
        .join('; ')
    }
    const key = path.join('.') || '(top level)'
    return `${key}: ${issue.message}${where(key, origin, file)}`
  })
  return new VecshiftError(E.CONFIG_INVALID, [lines.join('; ')], { cause: error })
}

function where(key: string, origin: ReadonlyMap<string, string>, file?: string): string {
  const env = origin.get(key)
  if (env !== undefined) return ` (from ${env})`
  return file ? ` (in ${file})` : ''
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
