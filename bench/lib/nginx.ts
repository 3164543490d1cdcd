// Debian's nginx as a reverse proxy in front of the emulator: a config generated from
// bench/nginx/nginx.conf.template into a temporary prefix, run in the foreground.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Processes, Child } from './procs.js'
import { waitForPort } from './net.js'

export interface NginxOptions {
  /** Temporary directory that becomes nginx's prefix (config, pid, logs, temp paths). */
  readonly prefix: string
  readonly port: number
  /** host:port of the emulator. */
  readonly upstream: string
  /** Path of the index's data plane on the emulator, e.g. /data/bench. */
  readonly basePath: string
  /** `stream` (default, like the gateway) or `buffer` (nginx's usual store-and-forward). */
  readonly buffering: 'stream' | 'buffer'
}

export interface RunningNginx {
  readonly child: Child
  readonly url: string
  readonly version: string
  readonly config: string
}

export function nginxBinary(): string {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' })
      return candidate
    } catch {
      // Next.
    }
  }
  return 'nginx'
}

/** "nginx/1.22.1" (nginx prints its version on stderr). */
export function nginxVersion(binary: string): string {
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' })
  return `${out.stderr}${out.stdout}`.trim().replace(/^nginx version:\s*/, '')
}

const TEMPLATE = new URL('../nginx/nginx.conf.template', import.meta.url)

export function renderConfig(options: NginxOptions): string {
  const stream = options.buffering === 'stream'
  const fields: Record<string, string> = {
    USER: typeof process.getuid === 'function' && process.getuid() === 0 ? 'user root;' : '',
    PREFIX: options.prefix,
    LISTEN: `127.0.0.1:${options.port}`,
    UPSTREAM: options.upstream,
    BASE_PATH: options.basePath.replace(/\/+$/, ''),
    REQUEST_BUFFERING: stream ? 'off' : 'on',
    RESPONSE_BUFFERING: stream ? 'off' : 'on',
    // Streaming reads the body through this buffer; buffering keeps a whole 2 MB body in it.
    CLIENT_BODY_BUFFER: stream ? '128k' : '4m',
  }
  return readFileSync(TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (_m, key: string) => {
    const value = fields[key]
    if (value === undefined) throw new Error(`nginx template: no value for {{${key}}}`)
    return value
  })
}

export async function startNginx(procs: Processes, binary: string, options: NginxOptions): Promise<RunningNginx> {
  for (const dir of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs'])
    mkdirSync(join(options.prefix, dir), { recursive: true })
  const config = renderConfig(options)
  const file = join(options.prefix, 'nginx.conf')
  writeFileSync(file, config)
  const args = ['-p', options.prefix, '-c', file, '-e', join(options.prefix, 'error.log')]
  try {
    execFileSync(binary, [...args, '-t', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? ''
    throw new Error(`nginx rejected the generated config ${file}:\n${stderr}`)
  }
  const child = procs.spawn('nginx', binary, [...args, '-g', 'daemon off;'])
  await waitForPort(options.port, 10_000, () => (child.running ? undefined : `nginx exited\n${child.tail()}`))
  return { child, url: `http://127.0.0.1:${options.port}`, version: nginxVersion(binary), config }
}
