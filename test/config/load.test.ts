import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { VecshiftError } from '../../src/errors.js'

const minimal = {
  migration: { id: 'm1' },
  source: { type: 'pinecone', index: 'idx', host: 'http://127.0.0.1:1/data/idx', controllerHost: 'http://127.0.0.1:1' },
}

function file(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-config-'))
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

function refusal(fn: () => unknown): VecshiftError {
  try {
    fn()
  } catch (err) {
    if (err instanceof VecshiftError) return err
    throw err
  }
  throw new Error('expected the configuration to be refused')
}

t.test('a YAML file with defaults applied, frozen', async (t) => {
  const path = file(
    'c.yaml',
    `
migration:
  id: m1
source:
  type: pinecone
  index: idx
  host: https://idx-abc.svc.pinecone.io
gateway:
  listen: { port: 8181 }
`,
  )
  const config = loadConfig({ file: path, env: {} })
  t.equal(config.gateway.listen.port, 8181)
  t.equal(config.gateway.listen.host, '127.0.0.1')
  t.equal(config.source.type === 'pinecone' && config.source.controllerHost, 'https://api.pinecone.io')
  t.equal(config.gateway.upstream.requestTimeoutMs, 30_000)
  t.equal(config.gateway.auth.mode, 'passthrough')
  t.ok(Object.isFrozen(config.gateway.listen), 'nested objects are frozen')
  t.throws(() => {
    ;(config.gateway.listen as { port: number }).port = 1
  }, TypeError)
})

t.test('a JSON file reads the same', async (t) => {
  const config = loadConfig({ file: file('c.json', JSON.stringify(minimal)), env: {} })
  t.equal(config.source.type === 'pinecone' && config.source.index, 'idx')
})

t.test('an unknown key is refused, naming the key and the file', async (t) => {
  const path = file('c.yaml', JSON.stringify({ ...minimal, gateway: { lisen: { port: 1 } } }))
  const err = refusal(() => loadConfig({ file: path, env: {} }))
  t.equal(err.code, 'VECSHIFT_ERR_CONFIG_INVALID')
  t.match(err.message, /unknown key "gateway\.lisen"/)
  t.match(err.message, path)
})

t.test('a bad value is refused, naming the key', async (t) => {
  const err = refusal(() =>
    loadConfig({ file: file('c.json', JSON.stringify({ ...minimal, gateway: { listen: { port: 70000 } } })), env: {} }),
  )
  t.match(err.message, /gateway\.listen\.port/)
  const err2 = refusal(() =>
    loadConfig({
      file: file('c.json', JSON.stringify({ ...minimal, source: { ...minimal.source, host: 'ftp://x' } })),
      env: {},
    }),
  )
  t.match(err2.message, /source\.host/)
})

t.test('a missing required section is refused, naming it', async (t) => {
  const err = refusal(() => loadConfig({ file: file('c.json', JSON.stringify({ migration: { id: 'm1' } })), env: {} }))
  t.match(err.message, /source/)
})

t.test('environment variables override the file and are named when wrong', async (t) => {
  const path = file('c.json', JSON.stringify(minimal))
  const config = loadConfig({
    file: path,
    env: { VECSHIFT__GATEWAY__UPSTREAM__REQUEST_TIMEOUT_MS: '1234', VECSHIFT__LOG__LEVEL: 'debug' },
  })
  t.equal(config.gateway.upstream.requestTimeoutMs, 1234)
  t.equal(config.log.level, 'debug')
  const err = refusal(() =>
    loadConfig({ file: path, env: { VECSHIFT__GATEWAY__UPSTREAM__REQUEST_TIMEOUT_MS: 'soon' } }),
  )
  t.match(err.message, /gateway\.upstream\.requestTimeoutMs.*VECSHIFT__GATEWAY__UPSTREAM__REQUEST_TIMEOUT_MS/)
  const err2 = refusal(() => loadConfig({ file: path, env: { VECSHIFT__GATEWAY__NOPE: '1' } }))
  t.match(err2.message, /unknown key "gateway\.nope"/)
})

t.test('the whole configuration can come from the environment', async (t) => {
  const config = loadConfig({
    env: {
      VECSHIFT__MIGRATION__ID: 'envonly',
      VECSHIFT__SOURCE__TYPE: 'pinecone',
      VECSHIFT__SOURCE__INDEX: 'idx',
      VECSHIFT__SOURCE__HOST: 'http://127.0.0.1:9/data/idx',
    },
  })
  t.equal(config.migration.id, 'envonly')
})

t.test('secrets in the file are refused and point at the environment variable', async (t) => {
  const path = file('c.json', JSON.stringify({ ...minimal, source: { ...minimal.source, apiKey: 'pcsk_secret' } }))
  const err = refusal(() => loadConfig({ file: path, env: {} }))
  t.equal(err.code, 'VECSHIFT_ERR_CONFIG_SECRET_IN_FILE')
  t.match(err.message, /source\.apiKey.*VECSHIFT_SOURCE_API_KEY/)
  t.notMatch(err.message, /pcsk_secret/, 'the secret itself is not echoed')
})

t.test('secrets are read from the environment', async (t) => {
  const config = loadConfig({
    file: file('c.json', JSON.stringify({ ...minimal, gateway: { auth: { mode: 'keys' } } })),
    env: { VECSHIFT_SOURCE_API_KEY: 'upstream', VECSHIFT_GATEWAY_API_KEYS: 'a, b,,', VECSHIFT_ADMIN_TOKEN: 'tok' },
  })
  t.same(config.secrets.gatewayApiKeys, ['a', 'b'])
  t.equal(config.secrets.sourceApiKey, 'upstream')
  t.equal(config.secrets.adminToken, 'tok')
})

t.test('contradictions are refused at start-up', async (t) => {
  const keys = file('c.json', JSON.stringify({ ...minimal, gateway: { auth: { mode: 'keys' } } }))
  t.match(
    refusal(() => loadConfig({ file: keys, env: { VECSHIFT_SOURCE_API_KEY: 'k' } })).message,
    /gateway\.auth\.mode.*VECSHIFT_GATEWAY_API_KEYS/,
  )
  t.match(
    refusal(() => loadConfig({ file: keys, env: { VECSHIFT_GATEWAY_API_KEYS: 'a' } })).message,
    /gateway\.auth\.mode.*VECSHIFT_SOURCE_API_KEY/,
  )
  const open = file('c.json', JSON.stringify({ ...minimal, admin: { listen: { host: '0.0.0.0', port: 9090 } } }))
  t.match(refusal(() => loadConfig({ file: open, env: {} })).message, /admin\.listen\.host.*VECSHIFT_ADMIN_TOKEN/)
  t.equal(loadConfig({ file: open, env: { VECSHIFT_ADMIN_TOKEN: 't' } }).admin.listen.host, '0.0.0.0')
})

t.test('an unreadable or malformed file is named', async (t) => {
  t.match(
    refusal(() => loadConfig({ file: '/nonexistent/vecshift.yaml', env: {} })).message,
    /\/nonexistent\/vecshift\.yaml.*ENOENT/,
  )
  t.match(refusal(() => loadConfig({ file: file('bad.yaml', 'a: [1, 2'), env: {} })).code, 'VECSHIFT_ERR_CONFIG_FILE')
  t.match(
    refusal(() => loadConfig({ file: file('list.yaml', '- 1\n- 2\n'), env: {} })).message,
    /top level must be a mapping/,
  )
})
