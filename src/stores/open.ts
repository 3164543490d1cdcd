import type { Config, StoreConfig } from '../config/schema.js'
import { SECRET_ENV } from '../config/schema.js'
import { E, VecshiftError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { LayoutChoice } from './pgvector/layout.js'
import type { VectorStore } from './contract.js'

// Opens the store a config section names, with its secret from the environment. Each
// adapter's module (and its driver) is loaded only when chosen.

export type Role = 'source' | 'target'

export async function openStore(config: Config, role: Role, logger?: Logger): Promise<VectorStore> {
  const section: StoreConfig | undefined = role === 'source' ? config.source : config.target
  if (section === undefined)
    throw new VecshiftError(E.CONFIG_INVALID, [`${role}: this command needs a ${role} store; add a "${role}:" section`])
  const log = logger?.child({ component: 'store', role })
  if (section.type === 'pinecone') {
    const keyName = role === 'source' ? 'sourceApiKey' : 'targetApiKey'
    const apiKey = config.secrets[keyName]
    if (apiKey === undefined)
      throw new VecshiftError(E.CONFIG_INVALID, [
        `${role}: ${SECRET_ENV[keyName].env} is not set; the ${role} Pinecone index needs its API key`,
      ])
    const { PineconeStore } = await import('./pinecone/store.js')
    return new PineconeStore({
      role,
      index: section.index,
      ...(section.host === undefined ? {} : { host: section.host }),
      controllerHost: section.controllerHost,
      apiKey,
      apiKeyEnv: SECRET_ENV[keyName].env,
      tlsVerify: section.tlsVerify,
      ...(log ? { logger: log } : {}),
    })
  }
  const password = config.secrets[role === 'source' ? 'sourcePgPassword' : 'targetPgPassword']
  const { PgvectorStore } = await import('./pgvector/store.js')
  return new PgvectorStore({
    role,
    table: section.table,
    schema: section.schema,
    search: section.search,
    ...(section.maintenanceWorkMem === undefined ? {} : { maintenanceWorkMem: section.maintenanceWorkMem }),
    layout: section.indexLayout,
    efSearch: section.efSearch,
    exactFilterRows: section.exactFilterRows,
    layoutSettings: { minIndexedRows: section.minIndexedRows, maxPartialIndexes: section.maxPartialIndexes },
    ...(log
      ? {
          onLayout: (choice: LayoutChoice) =>
            log.info(
              { layout: choice.layout, reason: choice.reason, indexed: choice.indexed.length },
              `search index layout: ${choice.layout}`,
            ),
        }
      : {}),
    pool: {
      host: section.host,
      port: section.port,
      database: section.database,
      user: section.user,
      max: section.poolSize,
      ...(password === undefined ? {} : { password }),
      ...(section.ssl === 'disable' ? {} : { ssl: { rejectUnauthorized: section.ssl === 'verify-full' } }),
    },
    ...(log ? { logger: log } : {}),
  })
}
