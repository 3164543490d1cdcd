import { InvalidArgumentError, type Command } from 'commander'
import { configFromFlags, loggerFor, onShutdownSignal, parsePort, type ConfigFlags } from './common.js'
import { reverseLogConfig } from '../config/reverse-log.js'

interface GatewayFlags extends ConfigFlags {
  host?: string
  port?: number
  adminPort?: number
}

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run the Pinecone-compatible gateway in front of the source index')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON); environment VECSHIFT__* keys override it')
    .option('--host <host>', 'listen address (overrides gateway.listen.host)')
    .option('-p, --port <port>', 'listen port (overrides gateway.listen.port)', portArg)
    .option('--admin-port <port>', 'admin API port (overrides admin.listen.port)', portArg)
    .option('--log-level <level>', 'fatal | error | warn | info | debug | trace | silent')
    .addHelpText(
      'after',
      `
Secrets come only from the environment:
  VECSHIFT_SOURCE_API_KEY    the gateway's upstream key (auth mode "keys"; also used by /readyz)
  VECSHIFT_GATEWAY_API_KEYS  comma-separated keys clients may present (auth mode "keys")
  VECSHIFT_ADMIN_TOKEN       bearer token for the admin API

Point an app at the gateway: new Pinecone({ apiKey, controllerHostUrl: 'http://<gateway>' })
or set PINECONE_CONTROLLER_HOST=http://<gateway>.`,
    )
    .action(async (flags: GatewayFlags) => {
      const config = configFromFlags(flags, {
        'gateway.listen.host': flags.host,
        'gateway.listen.port': flags.port,
        'admin.listen.port': flags.adminPort,
      })
      const logger = loggerFor(config, 'vecshift-gateway')
      // Loaded on use, so that other subcommands (and --help) stay light.
      const [{ Gateway }, { openWriteLog }, { openControlStore }, { CAPTURING }] = await Promise.all([
        import('../proxy/server.js'),
        import('../writelog/open.js'),
        import('../control/open.js'),
        import('../proxy/routing.js'),
      ])
      // Routing comes from the control store; the write log is opened when the migration
      // captures (or will, by this config), as later phases need it too.
      const control = await openControlStore(config, logger)
      const record = await control.read()
      const writeLog =
        config.migration.phase === 'capture' || CAPTURING.has(record.phase) || record.phase === 'cutover'
          ? await openWriteLog(config.writelog, logger)
          : undefined
      // Writes sent to the target after the cutover go to the reverse log, which a rollback
      // replays into the source. A pgvector target is served through its adapter.
      const pgTarget = config.target?.type === 'pgvector'
      const reverseLog =
        (config.target?.type === 'pinecone' && config.target.host !== undefined) || pgTarget
          ? await openWriteLog(reverseLogConfig(config), logger)
          : undefined
      const targetStore = pgTarget
        ? await (await import('../stores/open.js')).openStore(config, 'target', logger)
        : undefined
      const gateway = new Gateway(config, logger, {
        control,
        ...(writeLog ? { writeLog } : {}),
        ...(reverseLog ? { reverseLog } : {}),
        ...(targetStore ? { targetStore } : {}),
      })
      const closeAll = async () => {
        await writeLog?.close()
        await reverseLog?.close()
        await targetStore?.close()
        await control.close()
      }
      try {
        await gateway.listen()
      } catch (err) {
        await closeAll()
        throw err
      }
      // The logs close after the gateway has drained, so every write the gateway accepted is
      // flushed before the process exits.
      onShutdownSignal(logger, async () => {
        await gateway.close()
        await closeAll()
      })
    })
}

function portArg(value: string): number {
  try {
    return parsePort(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}
