import { readdirSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'

// The example configs in the repo are what users copy; they must always load.
const dir = new URL('../../examples/', import.meta.url)

for (const name of readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f))) {
  t.test(`examples/${name} is a valid configuration`, async (t) => {
    const config = loadConfig({ file: new URL(name, dir).pathname, env: { VECSHIFT_ADMIN_TOKEN: 'x' } })
    t.equal(config.source.type, 'pinecone')
    t.ok(config.migration.id.length > 0)
  })
}
