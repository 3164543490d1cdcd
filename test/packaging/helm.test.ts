import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { isMap, isScalar, isSeq, parse, parseDocument, type YAMLMap } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { SECRET_ENV } from '../../src/config/schema.js'
import {
  CHART,
  ROOT,
  chartYaml,
  parseAll,
  render,
  templateFiles,
  templateText,
  values,
  valuesText,
  type Manifest,
  type Rendered,
} from './chart.js'
import { Renderer, fieldsOf, functionsOf } from './gotemplate.js'

// The Helm chart, checked without helm (none can be installed here): statically (every
// .Values reference, include, block and function), then rendered by test/packaging's small
// Go-template interpreter and checked as Kubernetes objects and as vecshift would read them.

type Json = Record<string, unknown>
const cfg = values.config as Json
const gatewayPod = (r: Rendered): Manifest => r.find('Deployment', 'gateway')?.spec?.template?.spec
const container = (pod: Manifest): Manifest => pod?.containers?.[0]
const envOf = (c: Manifest): Manifest[] => c?.env ?? []

/** The secrets vecshift reads from the environment: SECRET_ENV, and Kafka SASL, which the
 *  kafka client reads itself (src/writelog/kafka/client.ts). */
function secretEnvNames(): string[] {
  const client = readFileSync(`${ROOT}src/writelog/kafka/client.ts`, 'utf8')
  const sasl = [...client.matchAll(/env\.(VECSHIFT_KAFKA_SASL_[A-Z_]+)/g)].map((m) => m[1] as string)
  return [...new Set([...Object.values(SECRET_ENV).map((s) => s.env), ...sasl])].sort()
}

/** The environment a pod of this release gets from the chart's Secret. */
function podEnv(r: Rendered): Record<string, string> {
  const data = (r.find('Secret')?.data ?? {}) as Record<string, string>
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
}

function loadRendered(r: Rendered, env: Record<string, string>) {
  const text = r.find('ConfigMap')?.data?.['vecshift.yaml'] as string
  const dir = mkdtempSync(join(tmpdir(), 'vecshift-helm-'))
  writeFileSync(join(dir, 'vecshift.yaml'), text)
  return loadConfig({ file: join(dir, 'vecshift.yaml'), env })
}

function hasPath(obj: unknown, path: readonly string[]): boolean {
  let node = obj
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return false
    node = (node as Json)[key]
  }
  return true
}

t.test('every template parses: blocks balance, only include is used', async (t) => {
  const parsed = parseAll()
  t.equal(parsed.size, templateFiles.length)
  // An independent count, so a parser bug cannot hide an unbalanced block.
  for (const [name, text] of templateText) {
    const opens = text.match(/\{\{-?\s*(if|with|range|define)\b/g)?.length ?? 0
    const ends = text.match(/\{\{-?\s*end\s*-?\}\}/g)?.length ?? 0
    t.equal(opens, ends, `${name}: if/with/range/define blocks each close with end`)
  }
})

t.test('templates call only whitelisted functions', async (t) => {
  const allowed = new Set<string>(Renderer.FUNCTIONS)
  const used = new Set([...parseAll().values()].flatMap((p) => p.pipes.flatMap(functionsOf)))
  for (const fn of used) t.ok(allowed.has(fn), `function ${fn} is whitelisted`)
  t.ok(used.has('toYaml') && used.has('include'), 'the scan sees calls')
})

t.test('every .Values reference exists in values.yaml', async (t) => {
  const refs = new Set<string>()
  for (const p of parseAll().values()) {
    for (const field of p.pipes.flatMap(fieldsOf)) {
      // .Values.x, $.Values.x, and .root.Values.x / $root.Values.x inside the helpers.
      const m = /^(?:\$root|\$|\.root|)\.Values\.(.+)$/.exec(field)
      if (m) refs.add(m[1] as string)
    }
  }
  t.ok(refs.size > 30, `found ${refs.size} references`)
  for (const ref of refs) t.ok(hasPath(values, ref.split('.')), `.Values.${ref} is in values.yaml`)
})

t.test('every include names a template defined in _helpers.tpl', async (t) => {
  const helpers = parseAll().get('_helpers.tpl')
  const defined = new Set(helpers?.defines.keys())
  let count = 0
  for (const [name, text] of templateText) {
    if (name !== '_helpers.tpl')
      t.notMatch(text, /\{\{-?\s*define\b/, `${name} defines nothing (helpers live in _helpers.tpl)`)
    for (const m of text.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)) {
      count++
      t.ok(defined.has(m[1] as string), `${name}: "${m[1]}" is defined`)
    }
  }
  t.ok(count > 20)
})

t.test('each manifest template declares apiVersion and kind', async (t) => {
  for (const [name, text] of templateText) {
    if (name.startsWith('_') || name === 'NOTES.txt') continue
    t.match(text, /^apiVersion: \S+$/m, `${name} has apiVersion`)
    t.match(text, /^kind: [A-Z]\w+$/m, `${name} has kind`)
  }
})

t.test('values.yaml documents every value with a comment', async (t) => {
  const doc = parseDocument(valuesText)
  // A value is documented by its own comment or by one on the group it belongs to (a
  // Kubernetes object such as resources is documented as a whole). config is vecshift's
  // own file, documented key by key in examples/vecshift.yaml.
  const walk = (map: YAMLMap, path: string[], inherited: boolean) => {
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?'
      const v = pair.value
      const own = Boolean(
        (isScalar(pair.key) && pair.key.commentBefore) ||
          (v && (isScalar(v) || isMap(v) || isSeq(v)) && (v.comment || v.commentBefore)),
      )
      const p = [...path, key]
      if (p[0] === 'config') continue
      if (isMap(v) && !v.flow && v.items.length > 0) walk(v, p, own || inherited)
      else t.ok(own || inherited, `${p.join('.')} has a comment`)
    }
  }
  walk(doc.contents as YAMLMap, [], false)
})

t.test('the chart README lists every value', async (t) => {
  const readme = readFileSync(`${CHART}README.md`, 'utf8')
  // Kubernetes objects passed through verbatim, and config / secret.values, are listed as a whole.
  const whole = new Set([
    'config',
    'secret.values',
    'podSecurityContext',
    'securityContext',
    'resources',
    'readinessProbe',
    'livenessProbe',
    'copyJob.resources',
    'replayJob.resources',
    'metrics.serviceMonitor',
  ])
  const paths: string[] = []
  const walk = (obj: Json, path: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      const p = [...path, k]
      if (
        !whole.has(p.join('.')) &&
        typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v) &&
        Object.keys(v).length > 0
      )
        walk(v as Json, p)
      else paths.push(p.join('.'))
    }
  }
  walk(values, [])
  for (const p of paths) t.match(readme, `\`${p}\``, `README documents ${p}`)
  for (const name of secretEnvNames()) t.match(readme, name, `README names ${name}`)
})

t.test("Chart.yaml: apiVersion v2, appVersion is vecshift's version", async (t) => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }
  t.equal(chartYaml.apiVersion, 'v2')
  t.equal(chartYaml.name, 'vecshift')
  t.equal(chartYaml.appVersion, pkg.version)
  t.match(String(chartYaml.version), /^\d+\.\d+\.\d+$/)
})

t.test('the default values render valid objects', async (t) => {
  const r = render()
  const kinds = r.docs.map((d) => d.kind).sort()
  t.same(kinds, [
    'ConfigMap',
    'Deployment',
    'PersistentVolumeClaim',
    'PodDisruptionBudget',
    'Secret',
    'Service',
    'ServiceAccount',
  ])
  for (const d of r.docs) {
    t.match(d.apiVersion, /^(v1|apps\/v1|batch\/v1|policy\/v1|monitoring\.coreos\.com\/v1)$/, `${d.kind} apiVersion`)
    t.match(d.metadata?.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, `${d.kind} name is a DNS label`)
    t.equal(d.metadata?.labels?.['app.kubernetes.io/instance'], 'mig', `${d.kind} is labelled with the release`)
  }
  t.match(r.files.get('NOTES.txt'), /controllerHostUrl: "http:\/\/mig-vecshift\.vectors\.svc:8080"/)
})

t.test("the default config passes vecshift's own validation, with the env the Secret gives", async (t) => {
  const r = render()
  const text = r.find('ConfigMap')?.data?.['vecshift.yaml'] as string
  t.same(parse(text), cfg, 'the ConfigMap holds .Values.config unchanged')
  const env = podEnv(r)
  t.match(env.VECSHIFT_ADMIN_TOKEN, /^[A-Za-z0-9]{40}$/, 'an admin token is generated')
  const config = loadRendered(r, env)
  t.equal(config.admin.listen.host, '0.0.0.0')
  t.equal(config.secrets.adminToken, env.VECSHIFT_ADMIN_TOKEN)
  // Without the token vecshift refuses this config: the chart's token is load-bearing.
  t.throws(() => loadRendered(r, {}), /VECSHIFT_ADMIN_TOKEN/)
})

t.test('pods map exactly the secrets vecshift reads, by their env names', async (t) => {
  const r = render({ copyJob: { enabled: true }, replayJob: { enabled: true } })
  const names = secretEnvNames()
  t.ok(names.includes('VECSHIFT_ADMIN_TOKEN') && names.includes('VECSHIFT_KAFKA_SASL_PASSWORD'))
  for (const pod of [gatewayPod(r), ...r.all('Job').map((j) => j.spec.template.spec)]) {
    const refs = envOf(container(pod)).filter((e) => e.valueFrom?.secretKeyRef)
    t.same(refs.map((e) => e.name).sort(), names, `${container(pod).name}: env from the Secret`)
    for (const e of refs) {
      t.equal(e.valueFrom.secretKeyRef.key, e.name, `${e.name}: the Secret key is the variable name`)
      t.equal(e.valueFrom.secretKeyRef.name, 'mig-vecshift')
    }
  }
  t.same(Object.keys((values.secret as Json).values as Json).sort(), names, 'secret.values offers the same names')
})

t.test('secrets set in values land in the Secret and reach vecshift', async (t) => {
  const r = render({
    secret: { values: { VECSHIFT_SOURCE_API_KEY: 'pc-key', VECSHIFT_ADMIN_TOKEN: 'tok' } },
    config: { migration: { phase: 'capture' } },
  })
  const env = podEnv(r)
  t.same(Object.keys(env).sort(), ['VECSHIFT_ADMIN_TOKEN', 'VECSHIFT_SOURCE_API_KEY'], 'empty values are left out')
  const config = loadRendered(r, env)
  t.equal(config.secrets.sourceApiKey, 'pc-key')
  t.equal(config.secrets.adminToken, 'tok')
})

t.test('a generated admin token is kept across upgrades', async (t) => {
  const previous = { data: { VECSHIFT_ADMIN_TOKEN: Buffer.from('kept-token').toString('base64') } }
  const r = render(
    {},
    {
      lookup: (_v, kind, ns, name) =>
        kind === 'Secret' && ns === 'vectors' && name === 'mig-vecshift' ? previous : {},
    },
  )
  t.equal(podEnv(r).VECSHIFT_ADMIN_TOKEN, 'kept-token')
})

t.test('existingSecret: no Secret is made, pods read the named one', async (t) => {
  const r = render({ secret: { existingSecret: 'my-keys' } })
  t.equal(r.find('Secret'), undefined)
  for (const e of envOf(container(gatewayPod(r))).filter((e) => e.valueFrom?.secretKeyRef)) {
    t.equal(e.valueFrom.secretKeyRef.name, 'my-keys')
    t.equal(e.valueFrom.secretKeyRef.optional, true, `${e.name} is optional: the Secret may hold a subset`)
  }
})

t.test('ports and probes: the admin port of config serves /readyz and /healthz', async (t) => {
  const r = render()
  const c = container(gatewayPod(r))
  const port = (name: string) => c.ports.find((p: Manifest) => p.name === name)?.containerPort
  t.equal(port('http'), (cfg.gateway as Manifest).listen.port)
  t.equal(port('admin'), (cfg.admin as Manifest).listen.port)
  t.same(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' })
  t.same(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' })
  t.same(c.args, ['gateway', '--config', '/etc/vecshift/vecshift.yaml'])
  const svc = r.find('Service')
  t.same(
    svc.spec.ports.map((p: Manifest) => [p.name, p.port, p.targetPort]),
    [
      ['http', 8080, 'http'],
      ['admin', 9090, 'admin'],
    ],
  )
  t.equal(svc.spec.selector['app.kubernetes.io/component'], 'gateway', 'the Service never selects Job pods')
  // Moving a port in config moves the container port with it.
  const moved = container(gatewayPod(render({ config: { admin: { listen: { port: 9191 } } } })))
  t.equal(moved.ports.find((p: Manifest) => p.name === 'admin').containerPort, 9191)
})

t.test('the config file is mounted where the gateway reads it; data paths are on the data volume', async (t) => {
  const r = render()
  const pod = gatewayPod(r)
  const mounts = Object.fromEntries(container(pod).volumeMounts.map((m: Manifest) => [m.name, m.mountPath]))
  t.equal(`${mounts.config}/vecshift.yaml`, '/etc/vecshift/vecshift.yaml')
  t.ok(Object.hasOwn(r.find('ConfigMap').data, 'vecshift.yaml'))
  const config = loadRendered(r, podEnv(r))
  const dirs = [
    config.control.dir,
    config.writelog.file?.dir,
    config.copy.checkpointDir,
    config.replay.dataDir,
    config.verify.checkpointDir,
    config.rollback.logDir,
  ]
  for (const dir of dirs) t.ok(dir?.startsWith(`${mounts.data}/`), `${dir} is under ${mounts.data}`)
  t.equal(pod.volumes.find((v: Manifest) => v.name === 'data').persistentVolumeClaim.claimName, 'mig-vecshift-data')
  t.equal(
    r.find('PersistentVolumeClaim').metadata.annotations['helm.sh/resource-policy'],
    'keep',
    'uninstall keeps the write log',
  )
})

t.test("terminationGracePeriodSeconds outlasts preStop plus the gateway's drain", async (t) => {
  for (const shutdownTimeoutMs of [30_000, 120_500]) {
    const pod = gatewayPod(render({ config: { gateway: { shutdownTimeoutMs } } }))
    const preStop = Number(container(pod).lifecycle.preStop.exec.command[1])
    t.ok(
      pod.terminationGracePeriodSeconds * 1000 > shutdownTimeoutMs + preStop * 1000,
      `${pod.terminationGracePeriodSeconds} s for ${shutdownTimeoutMs} ms`,
    )
  }
})

t.test("pods run as the image's non-root user with a read-only root filesystem", async (t) => {
  const r = render({ copyJob: { enabled: true }, replayJob: { enabled: true } })
  for (const pod of [gatewayPod(r), ...r.all('Job').map((j) => j.spec.template.spec)]) {
    t.equal(pod.securityContext.runAsNonRoot, true)
    t.equal(pod.securityContext.runAsUser, 10001)
    t.equal(pod.automountServiceAccountToken, false)
    const sc = container(pod).securityContext
    t.equal(sc.readOnlyRootFilesystem, true)
    t.equal(sc.allowPrivilegeEscalation, false)
    t.same(sc.capabilities.drop, ['ALL'])
    t.ok(
      container(pod).volumeMounts.some((m: Manifest) => m.mountPath === '/tmp'),
      'a writable /tmp',
    )
    t.ok(container(pod).resources?.limits?.memory)
  }
})

t.test('several replicas with file backends refuse to render', async (t) => {
  t.throws(() => render({ replicaCount: 3 }), { name: 'TemplateFail', message: /replicaCount > 1/ })
  t.throws(
    () =>
      render({
        replicaCount: 2,
        config: { control: { backend: 'postgres', postgres: { database: 'vs', user: 'vs' } } },
      }),
    /writelog\.backend: kafka or s3/,
  )
  t.throws(
    () =>
      render({
        replicaCount: 2,
        config: { writelog: { backend: 'kafka', kafka: { brokers: ['k:9092'], topic: 'vs' } } },
      }),
    /control\.backend: postgres/,
  )
})

t.test('several replicas with postgres and kafka: rolling updates, no shared claim, a valid config', async (t) => {
  const over = {
    replicaCount: 3,
    config: {
      control: { backend: 'postgres', postgres: { host: 'pg.db', database: 'vecshift', user: 'vecshift' } },
      writelog: {
        backend: 'kafka',
        kafka: { brokers: ['kafka-0.kafka:9092'], topic: 'vecshift.my-migration' },
        file: null,
      },
    },
  }
  const r = render(over)
  const d = r.find('Deployment')
  t.equal(d.spec.replicas, 3)
  t.equal(d.spec.strategy.type, 'RollingUpdate')
  t.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0)
  t.same(
    gatewayPod(r).volumes.find((v: Manifest) => v.name === 'data'),
    { name: 'data', emptyDir: {} },
  )
  t.equal(gatewayPod(r).affinity, undefined, "not pinned to the claim's node")
  const config = loadRendered(r, podEnv(r))
  t.equal(config.control.backend, 'postgres')
  t.equal(config.writelog.backend, 'kafka')
  t.equal(render().find('Deployment').spec.strategy.type, 'Recreate', 'one replica on the claim: Recreate')
})

t.test('copy and replay Jobs: off by default, --resume and --follow, names from their spec', async (t) => {
  t.same(render().all('Job'), [])
  const r = render({ copyJob: { enabled: true }, replayJob: { enabled: true, extraArgs: ['--reembed'] } })
  const copy = r.find('Job', 'copy')
  const replay = r.find('Job', 'replay')
  t.same(copy.spec.template.spec.containers[0].args, [
    'copy',
    '--config',
    '/etc/vecshift/vecshift.yaml',
    '--resume',
    '--progress',
    'json',
  ])
  t.same(replay.spec.template.spec.containers[0].args, [
    'replay',
    '--config',
    '/etc/vecshift/vecshift.yaml',
    '--follow',
    '--reembed',
  ])
  for (const job of [copy, replay]) {
    const pod = job.spec.template.spec
    t.equal(pod.restartPolicy, 'OnFailure')
    t.ok(job.metadata.name.length <= 63, `${job.metadata.name} fits the job-name label`)
    t.equal(pod.volumes.find((v: Manifest) => v.name === 'data').persistentVolumeClaim.claimName, 'mig-vecshift-data')
    t.equal(
      pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey,
      'kubernetes.io/hostname',
      "on the claim's node",
    )
  }
  const again = render({ copyJob: { enabled: true }, replayJob: { enabled: true, extraArgs: ['--reembed'] } })
  t.equal(again.find('Job', 'copy').metadata.name, copy.metadata.name, 'an unchanged spec keeps its Job')
  const bumped = render({
    copyJob: { enabled: true },
    image: { tag: '0.2.0' },
    fullnameOverride: 'a-very-long-release-name-that-goes-on-and-on-for-sixty-chars',
  })
  t.not(bumped.find('Job', 'copy').metadata.name, copy.metadata.name, 'a changed spec gets a new Job')
  t.ok(bumped.find('Job', 'copy').metadata.name.length <= 63)
})

t.test('ServiceMonitor: optional, scrapes /metrics on the admin port', async (t) => {
  t.equal(render().find('ServiceMonitor'), undefined)
  const sm = render({ metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } } } }).find(
    'ServiceMonitor',
  )
  t.equal(sm.apiVersion, 'monitoring.coreos.com/v1')
  t.same(sm.spec.endpoints[0].port, 'admin')
  t.same(sm.spec.endpoints[0].path, '/metrics')
  t.equal(sm.metadata.labels.release, 'prom')
})

t.test('PodDisruptionBudget selects the gateway pods and never blocks drains of one pod', async (t) => {
  const r = render()
  const pdb = r.find('PodDisruptionBudget')
  t.equal(pdb.spec.maxUnavailable, 1)
  t.equal(pdb.spec.minAvailable, undefined)
  t.same(pdb.spec.selector.matchLabels, r.find('Deployment').spec.selector.matchLabels)
  t.equal(render({ podDisruptionBudget: { enabled: false } }).find('PodDisruptionBudget'), undefined)
})

t.test('the chart refuses what would render but never serve', async (t) => {
  t.throws(() => render({ config: { admin: { enabled: false } } }), /admin\.enabled/)
  t.throws(() => render({ affinity: { podAffinity: {} } }), /podAffinity/)
  t.doesNotThrow(() =>
    render({
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } },
    }),
  )
})
