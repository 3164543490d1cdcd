// A small OpenAI-compatible embeddings server for the re-embedding tests: POST /v1/embeddings
// {"model","input":[...]} answers one deterministic unit vector per text (a hash of the text
// seeds it), so a test can compute what the target must hold. It counts requests, can fail
// the next N with 429 (and Retry-After), and checks the bearer key when given one.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'

interface Teardown {
  teardown(fn: () => unknown): void
}

export interface TestEmbeddings {
  readonly url: string
  readonly requests: number
  readonly texts: number
  /** The next `n` requests get 429 with Retry-After: 0. */
  throttle(n: number): void
  /** What the server answers for a text. */
  embedding(text: string): Float32Array
}

export function embeddingOf(text: string, dimension: number): Float32Array {
  const out = new Float32Array(dimension)
  let norm = 0
  for (let i = 0; i < dimension; i++) {
    const h = createHash('sha256').update(`${i}:${text}`).digest()
    const x = h.readUInt32BE(0) / 2 ** 32 - 0.5
    out[i] = x
    norm += x * x
  }
  for (let i = 0; i < dimension; i++) out[i] = Math.fround((out[i] as number) / Math.sqrt(norm))
  return out
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

export async function startTestEmbeddings(
  t: Teardown,
  options: { dimension: number; model: string; apiKey?: string },
): Promise<TestEmbeddings> {
  let requests = 0
  let texts = 0
  let throttled = 0
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        res.writeHead(404).end()
        return
      }
      if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: 'Incorrect API key provided' } }))
        return
      }
      requests++
      if (throttled > 0) {
        throttled--
        res
          .writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' })
          .end(JSON.stringify({ error: { message: 'Rate limit reached' } }))
        return
      }
      const b = (await body(req)) as { model?: string; input?: unknown }
      if (b.model !== options.model) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: `The model ${String(b.model)} does not exist` } }))
        return
      }
      const input = Array.isArray(b.input) ? (b.input as string[]) : [String(b.input)]
      texts += input.length
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          object: 'list',
          model: options.model,
          data: input.map((text, index) => ({
            object: 'embedding',
            index,
            embedding: Array.from(embeddingOf(text, options.dimension)),
          })),
          usage: { prompt_tokens: input.length, total_tokens: input.length },
        }),
      )
    })()
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return requests
    },
    get texts() {
      return texts
    },
    throttle: (n) => {
      throttled += n
    },
    embedding: (text) => embeddingOf(text, options.dimension),
  }
}
