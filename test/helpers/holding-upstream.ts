// An upstream in front of the emulator that can hold requests until the test lets them go:
// for tests whose promise is that something did NOT wait for the upstream (a deadline that
// answers, a shadow read dropped). While held, the upstream has certainly not answered, so an
// answer the client gets meanwhile did not wait for it; no clock is read to show that.
// Requests not held are passed to the emulator as they are, and its answers back.
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface HoldingUpstream {
  /** This upstream's origin: use it where the emulator's URL would go (same paths). */
  readonly url: string
  /** From now on, requests whose path matches are held until release(). */
  hold(path: RegExp): void
  /** Requests held now, not yet let go. */
  readonly holding: number
  /** Stops holding and lets every held request go on to the emulator. */
  release(): void
}

// Hop-by-hop headers, and the ones undici sets from the body it sends.
const DROP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade'])

function forwardable(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || DROP.has(k)) continue
    out[k] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

/** Starts one on 127.0.0.1 (any free port) passing requests to `origin`; closed on teardown,
 *  after letting any held request go. */
export async function startHoldingUpstream(t: Teardown, origin: string): Promise<HoldingUpstream> {
  let pattern: RegExp | undefined
  let waiting: Array<() => void> = []
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      if (pattern?.test(req.url ?? '')) await new Promise<void>((resolve) => waiting.push(resolve))
      try {
        const up = await request(`${origin}${req.url ?? '/'}`, {
          method: (req.method ?? 'GET') as 'GET',
          headers: forwardable(req.headers),
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
        })
        const body = Buffer.from(await up.body.arrayBuffer())
        const headers = forwardable(up.headers as IncomingHttpHeaders)
        res.writeHead(up.statusCode, { ...headers, 'content-length': String(body.length) })
        res.end(body)
      } catch (err) {
        res.destroy(err as Error)
      }
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const release = () => {
    pattern = undefined
    const go = waiting
    waiting = []
    for (const resolve of go) resolve()
  }
  t.teardown(async () => {
    release()
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: (path) => {
      pattern = path
    },
    get holding() {
      return waiting.length
    },
    release,
  }
}
