// Progress of a long copy, for the person watching it: on a terminal, one line redrawn in
// place (a bar, records, rate and ETA); otherwise (CI, a pipe, a Kubernetes Job) a JSON line
// every few seconds that a log system can read. Rates are over a sliding window, so the ETA
// follows the copy's current pace rather than its average since the start.

export interface ProgressSink {
  readonly isTTY?: boolean
  write(text: string): unknown
}

export interface ProgressState {
  readonly done: number
  readonly total: number
  readonly retries: number
  /** What a long step is waiting for, when records do not move (e.g. "restoring index"). */
  readonly phase?: string
}

const WINDOW_MS = 10_000

export class Progress {
  readonly #sink: ProgressSink
  readonly #label: string
  readonly #intervalMs: number
  readonly #samples: Array<{ at: number; done: number }> = []
  readonly #started = Date.now()
  #timer: NodeJS.Timeout | undefined
  #state: ProgressState = { done: 0, total: 0, retries: 0 }

  constructor(sink: ProgressSink, label: string, options: { intervalMs?: number } = {}) {
    this.#sink = sink
    this.#label = label
    this.#intervalMs = options.intervalMs ?? (sink.isTTY ? 250 : 5_000)
  }

  start(state: () => ProgressState): void {
    const tick = () => {
      this.#state = state()
      this.#render(false)
    }
    tick()
    this.#timer = setInterval(tick, this.#intervalMs)
    this.#timer.unref()
  }

  stop(final: ProgressState): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#state = final
    this.#render(true)
  }

  /** Records per second over the last WINDOW_MS. */
  rate(): number {
    const now = Date.now()
    this.#samples.push({ at: now, done: this.#state.done })
    while (this.#samples.length > 2 && (this.#samples[0] as { at: number }).at < now - WINDOW_MS) this.#samples.shift()
    const first = this.#samples[0] as { at: number; done: number }
    const seconds = (now - first.at) / 1000
    if (seconds <= 0) return 0
    return (this.#state.done - first.done) / seconds
  }

  #render(final: boolean): void {
    const { done, total, retries, phase } = this.#state
    const rate = this.rate()
    const remaining = Math.max(0, total - done)
    const etaSeconds = rate > 0 ? Math.round(remaining / rate) : null
    const elapsed = Math.round((Date.now() - this.#started) / 1000)
    if (this.#sink.isTTY) {
      const width = 30
      const fraction = total > 0 ? Math.min(1, done / total) : final ? 1 : 0
      const filled = Math.round(fraction * width)
      const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`
      const pct = `${(fraction * 100).toFixed(1)}%`.padStart(6)
      const eta = final
        ? `done in ${formatDuration(elapsed)}`
        : `ETA ${etaSeconds === null ? '--' : formatDuration(etaSeconds)}`
      const counts = `${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`
      const speed = `${Math.round(rate).toLocaleString('en-US')}/s`
      const label = `${this.#label}${phase ? ` (${phase})` : ''}`
      const line = `${label} ${bar} ${pct} ${counts} ${speed} ${eta}${retries ? ` retries ${retries}` : ''}`
      this.#sink.write(`\r\x1b[2K${line}${final ? '\n' : ''}`)
      return
    }
    this.#sink.write(
      `${JSON.stringify({
        progress: this.#label,
        ...(phase ? { phase } : {}),
        done,
        total,
        percent: total > 0 ? Math.round((done / total) * 1000) / 10 : null,
        perSecond: Math.round(rate),
        etaSeconds: final ? 0 : etaSeconds,
        elapsedSeconds: elapsed,
        retries,
        ...(final ? { final: true } : {}),
      })}\n`,
    )
  }
}

/** The progress display `--progress` asks for on `sink` (stderr): auto (a bar on a terminal,
 *  JSON lines otherwise), bar, json, or none (undefined). */
export function progressFor(mode: string | undefined, sink: ProgressSink, label: string): Progress | undefined {
  const chosen = mode === 'auto' || mode === undefined ? (sink.isTTY ? 'bar' : 'json') : mode
  if (chosen === 'none') return undefined
  return new Progress({ isTTY: chosen === 'bar', write: (text: string) => sink.write(text) }, label)
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  const m = Math.floor(seconds / 60)
  if (m < 60) return `${m}m${String(seconds % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
