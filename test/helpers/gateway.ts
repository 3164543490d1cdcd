import { Writable } from 'node:stream'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { Gateway } from '../../src/proxy/server.js'
import type { ControlStore } from '../../src/control/contract.js'
import type { WriteLog } from '../../src/writelog/contract.js'
import type { VectorStore } from '../../src/stores/contract.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestGatewayOptions {
  /** Index name, its data-plane host and its controller host. */
  index: string
  host: string
  controllerHost: string
  /** Extra config, merged over the defaults (objects by top-level section). */
  config?: Record<string, unknown>
  /** Environment for secrets and VECSHIFT__* overrides. */
  env?: Record<string, string>
  /** The write log, for phase capture. */
  writeLog?: WriteLog
  /** The control store the gateway takes its routing from. */
  control?: ControlStore
  /** The reverse log (writes to the target after a cutover). */
  reverseLog?: WriteLog
  /** A pgvector target, served through its adapter once it is primary. */
  targetStore?: VectorStore
}

export interface TestGateway {
  gateway: Gateway
  url: string
  adminUrl: string
  /** Every log line the gateway wrote, parsed. */
  logs: Array<Record<string, unknown>>
  /** The raw log text, for searching for secrets. */
  logText(): string
}

/** Starts an in-process gateway on 127.0.0.1:0 (admin too), closed when the test ends. */
export async function startTestGateway(t: Teardown, options: TestGatewayOptions): Promise<TestGateway> {
  const config = loadConfig({
    env: options.env ?? {},
    overrides: {
      migration: { id: 'test' },
      source: { type: 'pinecone', index: options.index, host: options.host, controllerHost: options.controllerHost },
      'gateway.listen.port': 0,
      'admin.listen.port': 0,
      'log.level': 'info',
      ...options.config,
    },
  })
  const chunks: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString())
      cb()
    },
  })
  const logger = createLogger({ level: config.log.level, name: 'test-gateway', destination: sink })
  const gateway = new Gateway(config, logger, {
    ...(options.writeLog ? { writeLog: options.writeLog } : {}),
    ...(options.control ? { control: options.control } : {}),
    ...(options.reverseLog ? { reverseLog: options.reverseLog } : {}),
    ...(options.targetStore ? { targetStore: options.targetStore } : {}),
  })
  const { url, adminUrl } = await gateway.listen()
  t.teardown(() => gateway.close())
  return {
    gateway,
    url,
    adminUrl: adminUrl as string,
    get logs() {
      return chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    },
    logText: () => chunks.join(''),
  }
}

/** Sends one read with `key` through a gateway, so that the key is confirmed (auth mode
 *  passthrough asks the source once per key) before a test counts what reaches the source. */
export async function confirmKey(url: string, key: string): Promise<void> {
  const res = await fetch(`${url}/describe_index_stats`, {
    method: 'POST',
    headers: { 'api-key': key, 'content-type': 'application/json' },
    body: '{}',
  })
  await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`confirming a key through the gateway answered ${res.status}`)
}
