import type { Config } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { ControlStore } from './contract.js'
import type { Phase } from './record.js'

// Opens the control store the config names. A migration seen for the first time starts in
// the phase the config gives (migration.phase), so a gateway configured for capture before
// the control store existed keeps doing what it did.

export async function openControlStore(config: Config, logger?: Logger): Promise<ControlStore> {
  const initialPhase = config.migration.phase as Phase
  const pgc = config.control.postgres
  if (config.control.backend === 'postgres' && pgc) {
    const { PostgresControlStore } = await import('./postgres-store.js')
    const password = config.secrets.controlPgPassword
    return PostgresControlStore.open({
      migration: config.migration.id,
      initialPhase,
      schema: pgc.schema,
      label: `postgres ${pgc.host}:${pgc.port}/${pgc.database}`,
      connection: {
        host: pgc.host,
        port: pgc.port,
        database: pgc.database,
        user: pgc.user,
        ...(password === undefined ? {} : { password }),
        ...(pgc.ssl === 'disable' ? {} : { ssl: { rejectUnauthorized: pgc.ssl === 'verify-full' } }),
        connectionTimeoutMillis: pgc.connectTimeoutMs,
        // A statement the database does not answer fails instead of hanging: a replica must
        // learn that it cannot renew its lease within the lease.
        query_timeout: Math.max(pgc.connectTimeoutMs, 1_000),
        application_name: `vecshift ${config.migration.id}`,
      },
      ...(logger ? { logger } : {}),
    })
  }
  const { FileControlStore } = await import('./file-store.js')
  return FileControlStore.open({ dir: config.control.dir, migration: config.migration.id, initialPhase })
}
