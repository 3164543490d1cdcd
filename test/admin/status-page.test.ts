import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { chromium } from 'playwright-core'
import t from 'tap'
import { until } from '../helpers/until.js'

// The status page in a real browser (Debian's Chromium, driven by playwright-core) during a
// demo migration: it loads, asks for the token when it has none, shows the phase as it
// changes, and draws the replay lag chart. A screenshot is saved in test-results/.

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname
const CHROMIUM = '/usr/bin/chromium'
const SHOT_DIR = new URL('../../test-results/', import.meta.url).pathname

t.test('the status page shows the phase and a non-empty lag chart during a demo migration', async (t) => {
  t.ok(existsSync(CHROMIUM), `${CHROMIUM} exists (bash scripts/test.sh installs Debian's chromium)`)
  // The browser first, so that it is ready when the demo prints the page's address; the
  // demo waits 6 s before its cutover so the page is seen before and after the flip.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root in a container there is no sandbox; the network flags keep Chromium from
    // calling out (this machine's network is closed).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  t.teardown(() => browser.close())
  const demo = spawn(
    process.execPath,
    [
      CLI,
      'demo',
      '--vectors',
      '900',
      '--dimension',
      '16',
      '--pause-seconds',
      '6',
      '--after-seconds',
      '2',
      '--keep-running',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  t.teardown(() => {
    if (demo.exitCode === null) demo.kill('SIGKILL')
  })
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)))
  let stdout = ''
  let finished = false
  const statusUrl = await new Promise<string>((resolve, reject) => {
    createInterface({ input: demo.stdout }).on('line', (line) => {
      stdout += `${line}\n`
      const m = /status\s+(http:\/\/\S+\/status#token=\S+)/.exec(line)
      if (m) resolve(m[1] as string)
      if (line.startsWith('still running')) finished = true
    })
    demo.once('exit', (code) => reject(new Error(`the demo exited early with ${code}: ${stdout}`)))
  })
  const origin = new URL(statusUrl).origin

  // The data behind the page needs the token; the page itself holds none.
  t.equal((await fetch(`${origin}/admin/migration`)).status, 401, '/admin/migration without the token: 401')
  const page0 = await fetch(`${origin}/status`)
  t.equal(page0.status, 200)
  t.match(page0.headers.get('content-security-policy'), /default-src 'none'/)
  t.notMatch(await page0.text(), new URL(statusUrl).hash.slice('#token='.length), 'the token is not in the page')

  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
  const consoleErrors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(e.message))

  // Without the token the page asks for it.
  await page.goto(`${origin}/status`)
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 })
  t.ok(await page.isVisible('#token'), 'without a token, the page asks for one')

  // With it (in the fragment, which never reaches the server), the page shows the migration.
  // (The 401 above was logged by the browser as a failed resource; errors count from here.)
  consoleErrors.length = 0
  await page.goto(statusUrl)
  await page.waitForSelector('#content:not([hidden])', { timeout: 10_000 })
  t.notMatch(page.url(), /token=/, 'the token leaves the address bar')
  // Every phase the page shows, sampled until the demo has flipped and says it is done.
  const phases = new Set<string>()
  await until(
    async () => {
      phases.add((await page.textContent('#phase'))?.trim() ?? '')
      return finished && phases.has('target-primary')
    },
    {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'the demo to finish with the page showing target-primary',
      onTimeout: () => `phases shown: ${[...phases].join(', ')}`,
    },
  )
  t.ok(phases.has('capture'), `the page showed the migration capturing before the flip (${[...phases].join(', ')})`)
  t.ok(phases.has('target-primary'), 'and the new phase after the flip, without a reload')
  // Wait until the lag chart has several samples (one a second).
  // (A string: it runs in the page, and this project's TypeScript has no DOM types.)
  await page.waitForFunction("Number(document.getElementById('lag-line')?.dataset.samples ?? 0) >= 3", undefined, {
    timeout: 15_000,
  })
  const points = (await page.getAttribute('#lag-line', 'points')) ?? ''
  t.ok(points.trim().split(' ').length >= 3, `the lag chart has points (${points.slice(0, 60)}…)`)
  t.match(await page.textContent('#copy'), /done \(collection\): \d+ of \d+ records/, 'copy progress')
  t.match(
    await page.textContent('#cutovers'),
    /cutover.*done.*barrier \d+.*flip \d+/,
    'the cutover with its step timings',
  )
  t.match(await page.textContent('#replicas'), /pid \d+/, 'the gateway replica and its lease')
  t.match(await page.textContent('#replay'), /replay: lag \d+ records/, 'the replayer')
  t.match(await page.textContent('#shadow'), /^vm|\d+/, 'shadow-read agreement')
  t.notMatch(await page.textContent('#shadow'), /no shadow reads/)
  mkdirSync(SHOT_DIR, { recursive: true })
  const shot = `${SHOT_DIR}status-page.png`
  await page.screenshot({ path: shot, fullPage: true })
  t.ok(statSync(shot).size > 10_000, `screenshot saved: ${shot}`)
  t.same(consoleErrors, [], 'no script errors in the page')

  demo.kill('SIGINT')
  t.equal(await exited, 0, 'the demo ends cleanly on Ctrl-C')
  t.match(stdout, /client errors\s+0/)
})
