import { existsSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import t from 'tap'
import { ROOT, render, values, type Manifest } from './chart.js'

// The Dockerfile, checked without a Docker engine (none runs here): its stages, user,
// health check and entry point, that what it COPYs exists and passes .dockerignore, and
// that image and chart agree on ports, paths and user.

interface Instruction {
  op: string
  args: string
  stage: number
}

function parseDockerfile(text: string): { instructions: Instruction[]; args: Map<string, string> } {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const instructions: Instruction[] = []
  const args = new Map<string, string>()
  let stage = -1
  for (const line of lines) {
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line)
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`)
    const op = (m[1] as string).toUpperCase()
    if (op === 'FROM') stage++
    // ARGs before the first FROM parameterise FROM lines.
    if (op === 'ARG' && stage === -1) {
      const [k, v = ''] = (m[2] as string).split('=')
      args.set(k as string, v)
    }
    instructions.push({ op, args: m[2] as string, stage })
  }
  return { instructions, args }
}

const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  engines: { node: string }
  bin: Record<string, string>
}
const { instructions, args } = parseDockerfile(readFileSync(`${ROOT}Dockerfile`, 'utf8'))
const froms = instructions.filter((i) => i.op === 'FROM')
const last = froms.length - 1
const inStage = (stage: number, op: string) => instructions.filter((i) => i.stage === stage && i.op === op)
const final = (op: string) => inStage(last, op)
const expand = (s: string) => s.replace(/\$\{?([A-Za-z_]+)\}?/g, (_, k: string) => args.get(k) ?? '')
const json = (s: string) => JSON.parse(s) as string[]

/** The stage's WORKDIR at the point of an instruction (the last one before it). */
function workdirAt(ins: Instruction): string {
  const before = instructions
    .slice(0, instructions.indexOf(ins))
    .filter((i) => i.stage === ins.stage && i.op === 'WORKDIR')
  return before.at(-1)?.args ?? '/'
}

/** .dockerignore as Docker applies it: the last matching pattern wins, `!` re-includes,
 *  and a pattern matching a directory covers everything in it. */
function ignored(path: string): boolean {
  const patterns = readFileSync(`${ROOT}.dockerignore`, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const parts = path.split('/')
  let out = false
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    const glob = posix.normalize(negate ? raw.slice(1) : raw).replace(/\/$/, '')
    const re = new RegExp(
      `^${glob
        .replace(/[.+^$()|[\]{}]/g, '\\$&')
        .replace(/\*\*/g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replaceAll('\u0000', '.*')}$`,
    )
    if (parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')))) out = !negate
  }
  return out
}

t.test('multi-stage: a build stage, then a runtime stage from the same Node image', async (t) => {
  t.ok(froms.length >= 2, 'at least two stages')
  t.match(froms[0]?.args, /\bAS build$/i)
  const images = froms.map((f) => expand(f.args.split(/\s+/)[0] as string))
  t.equal(new Set(images).size, 1, `one base image: ${images.join(', ')}`)
  t.match(images[0], /^node:[\d.]+-(bookworm-|bullseye-)?slim$/, 'a Node slim image')
})

t.test('the Node version satisfies package.json engines and is Node 20', async (t) => {
  const tag = expand(froms[0]?.args.split(/\s+/)[0] as string).split(':')[1] as string
  const have = (tag.split('-')[0] as string).split('.').map(Number)
  const want = (/^>=\s*([\d.]+)$/.exec(pkg.engines.node)?.[1] ?? '').split('.').map(Number)
  t.equal(want.length, 3, `engines.node is a lower bound: ${pkg.engines.node}`)
  t.equal(have[0], 20)
  // A tag without a patch is its newest patch release, so compare as far as the tag goes.
  const cmp =
    (have[0] as number) - (want[0] as number) ||
    (have[1] ?? Infinity) - (want[1] as number) ||
    (have[2] ?? Infinity) - (want[2] as number)
  t.ok(cmp >= 0, `node ${tag} satisfies ${pkg.engines.node}`)
})

t.test('build stage: npm ci with dev dependencies, then npm run build', async (t) => {
  const runs = inStage(0, 'RUN').map((r) => r.args)
  const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r))
  const build = runs.findIndex((r) => /\bnpm run build\b/.test(r))
  t.ok(ci >= 0 && build > ci, 'npm ci before npm run build')
  t.notMatch(runs[ci], /--omit=dev/, 'the build needs typescript and @types/node')
})

t.test("runtime stage: production dependencies only, and the build's dist", async (t) => {
  const runs = final('RUN').map((r) => r.args)
  const ci = runs.filter((r) => /\bnpm ci\b/.test(r))
  t.equal(ci.length, 1)
  t.match(ci[0], /--omit=dev/)
  t.notMatch(runs.join('\n'), /npm (install|i) /, 'no unlocked installs')
  const copies = final('COPY')
  const dist = copies.find((c) => /--from=build/.test(c.args))
  const tsBuild = JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, 'utf8')) as {
    compilerOptions: { outDir: string }
  }
  const buildDir = workdirAt(inStage(0, 'RUN').find((r) => /npm run build/.test(r.args)) as Instruction)
  t.ok(dist, 'dist comes from the build stage')
  t.same(dist?.args.split(/\s+/).slice(1), [posix.join(buildDir, tsBuild.compilerOptions.outDir), './dist'])
  t.equal(workdirAt(dist as Instruction), '/app')
  // src/cli/version.ts reads ../../package.json from dist/cli: it must be in /app.
  const manifest = copies.find((c) => /\bpackage\.json\b/.test(c.args) && !/--from/.test(c.args))
  t.ok(manifest && workdirAt(manifest) === '/app' && /\s\.\/$/.test(manifest.args), 'package.json is copied to /app')
  t.notOk(
    copies.some((c) => /\b(src|docs|test)\b/.test(c.args) && !/--from/.test(c.args)),
    'no sources or docs in the runtime image',
  )
})

t.test('every file the Dockerfile COPYs exists and passes .dockerignore', async (t) => {
  const sources = instructions
    .filter((i) => i.op === 'COPY' && !/--from/.test(i.args))
    .flatMap((i) =>
      i.args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1),
    )
  t.ok(sources.length >= 4)
  for (const s of sources) {
    t.ok(existsSync(`${ROOT}${s}`), `${s} exists`)
    t.notOk(ignored(s), `${s} is in the build context`)
  }
  // tsconfig.build.json extends tsconfig.json: both must be there.
  const ext = (JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, 'utf8')) as { extends: string }).extends
  t.ok(sources.includes(posix.normalize(ext)), `the build has ${ext}`)
  for (const p of ['node_modules', 'dist', 'vecshift-data/writelog', '.git', '.env', 'test'])
    t.ok(ignored(p), `${p} stays out of the context`)
})

t.test("runs as a numeric non-root user, the chart's runAsUser", async (t) => {
  const users = final('USER')
  t.equal(users.length, 1)
  const [uid, gid] = (users[0]?.args ?? '').split(':')
  t.match(uid, /^\d+$/, 'numeric, so runAsNonRoot can check it')
  t.not(Number(uid), 0)
  t.equal(Number(uid), (values.podSecurityContext as { runAsUser: number }).runAsUser)
  if (gid !== undefined) t.equal(Number(gid), (values.podSecurityContext as { runAsGroup: number }).runAsGroup)
  const runs = final('RUN')
    .map((r) => r.args)
    .join('\n')
  t.match(runs, new RegExp(`chown ${uid}(:\\d+)? /var/lib/vecshift`), "the data directory is the user's")
})

t.test('a data volume where the chart mounts its data, the config where the chart puts it', async (t) => {
  const volumes = final('VOLUME').flatMap((v) => (v.args.startsWith('[') ? json(v.args) : v.args.split(/\s+/)))
  const r = render()
  const c: Manifest = r.find('Deployment').spec.template.spec.containers[0]
  const mounts = Object.fromEntries(c.volumeMounts.map((m: Manifest) => [m.name, m.mountPath]))
  t.same(volumes, [mounts.data])
  const cmd = json(final('CMD')[0]?.args ?? '[]')
  t.same(cmd, c.args, "the image's default command is what the chart runs")
  t.equal(cmd[cmd.indexOf('--config') + 1], `${mounts.config}/vecshift.yaml`)
})

t.test('ENTRYPOINT runs the vecshift CLI with node', async (t) => {
  const entry = final('ENTRYPOINT')
  t.equal(entry.length, 1)
  const argv = json(entry[0]?.args ?? '[]')
  t.same(argv, ['node', posix.join('/app', pkg.bin.vecshift as string)], 'exec form: node is pid 1 and gets SIGTERM')
  t.equal(json(final('CMD')[0]?.args ?? '[]')[0], 'gateway')
})

t.test('HEALTHCHECK asks /healthz on the admin port with node itself', async (t) => {
  const hc = final('HEALTHCHECK')
  t.equal(hc.length, 1)
  const args = hc[0]?.args ?? ''
  t.notMatch(args, /\b(curl|wget)\b/, 'slim images have neither')
  const argv = json(args.slice(args.indexOf('CMD') + 3).trim())
  t.equal(argv[0], 'node')
  const url = /VECSHIFT_HEALTHCHECK_URL=(\S+)/.exec(
    final('ENV')
      .map((e) => e.args)
      .join('\n'),
  )?.[1]
  t.ok(url && argv.join(' ').includes('VECSHIFT_HEALTHCHECK_URL'), 'the URL is an overridable ENV')
  const admin = (values.config as Manifest).admin.listen.port
  t.equal(url, `http://127.0.0.1:${admin}/healthz`)
  t.ok(url?.includes(':9090/'), 'the admin port is the schema default too')
})

t.test("EXPOSE the gateway and admin ports of the chart's config", async (t) => {
  const exposed = final('EXPOSE')
    .flatMap((e) => e.args.split(/\s+/))
    .map(Number)
    .sort()
  const config = values.config as Manifest
  t.same(exposed, [config.gateway.listen.port, config.admin.listen.port].sort())
})
