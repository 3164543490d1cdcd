import type { Command } from 'commander'
import { E, VecshiftError } from '../errors.js'
import type { LogEntry, WriteLog } from '../writelog/contract.js'
import { configFromFlags, positiveInt } from './common.js'
import { dict } from '../dict.js'

// `vecshift log inspect|tail|stats`: look inside the write log. Opens it read-only, without
// the writer's lock, so it works beside a running gateway.

interface LogFlags {
  config?: string
  dir?: string
}

async function openLog(flags: LogFlags): Promise<WriteLog> {
  const { openFileLog } = await import('../writelog/file/file-log.js')
  if (flags.dir !== undefined) return openFileLog({ dir: flags.dir, readOnly: true })
  if (flags.config === undefined) {
    throw new VecshiftError(E.CLI_USAGE, [
      'give the log with --config <file> (its writelog section) or --dir <directory>',
    ])
  }
  const { writelog } = configFromFlags({ config: flags.config })
  const { openWriteLogForReading } = await import('../writelog/open.js')
  return openWriteLogForReading(writelog)
}

function withLogOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file; the log is its writelog section (file, kafka or s3)')
    .option('--dir <directory>', 'a file-backend log directory, instead of --config')
}

export function registerLog(program: Command): void {
  const log = program.command('log').description('look inside the write log: inspect | tail | stats')

  withLogOptions(log.command('stats'))
    .description('counts by operation, namespace and outcome; first and last positions; size')
    .option('--json', 'print one JSON object instead of a table')
    .action(async (flags: LogFlags & { json?: boolean }) => {
      const opened = await openLog(flags)
      try {
        const summary = await summarize(opened)
        process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary))
      } finally {
        await opened.close()
      }
    })

  withLogOptions(log.command('inspect'))
    .description('print records as JSON lines (vector values in shortest float32 form)')
    .option('--after <position>', 'start after this position')
    .option('--limit <n>', 'print at most n records', positiveInt)
    .option('--op <op>', 'only records of this operation (upsert, update, delete, outcome, fence)')
    .option('--namespace <ns>', 'only records of this namespace ("" or __default__ for the default)')
    .action(async (flags: LogFlags & { after?: string; limit?: number; op?: string; namespace?: string }) => {
      const opened = await openLog(flags)
      const ns = flags.namespace === '__default__' ? '' : flags.namespace
      const { entryToJsonLine } = await import('../writelog/json.js')
      let printed = 0
      try {
        for await (const entry of opened.read(flags.after === undefined ? {} : { after: flags.after })) {
          if (flags.op !== undefined && entry.record.op !== flags.op) continue
          if (ns !== undefined && entry.record.namespace !== ns) continue
          await write(`${entryToJsonLine(entry)}\n`)
          if (flags.limit !== undefined && ++printed >= flags.limit) break
        }
      } finally {
        await opened.close()
      }
    })

  withLogOptions(log.command('tail'))
    .description('print the last records as JSON lines; --follow keeps printing new ones')
    .option('-n, --lines <n>', 'how many of the last records to print', positiveInt, 10)
    .option('-f, --follow', 'wait for new records (Ctrl-C to stop)')
    .action(async (flags: LogFlags & { lines: number; follow?: boolean }) => {
      const opened = await openLog(flags)
      const { entryToJsonLine } = await import('../writelog/json.js')
      const controller = new AbortController()
      process.once('SIGINT', () => controller.abort())
      try {
        const last: LogEntry[] = []
        for await (const entry of opened.read()) {
          last.push(entry)
          if (last.length > flags.lines) last.shift()
        }
        for (const entry of last) await write(`${entryToJsonLine(entry)}\n`)
        if (flags.follow) {
          const after = last.at(-1)?.position
          for await (const entry of opened.read({
            follow: true,
            signal: controller.signal,
            ...(after === undefined ? {} : { after }),
          })) {
            await write(`${entryToJsonLine(entry)}\n`)
          }
        }
      } finally {
        await opened.close()
      }
    })
}

export interface LogSummary {
  backend: string
  records: number
  bytes: number
  first: string | undefined
  last: string | undefined
  byOp: Record<string, number>
  byNamespace: Record<string, number>
  outcomes: Record<string, number>
  /** Intents with no outcome record: the gateway stopped between the two. */
  withoutOutcome: number
}

export async function summarize(log: WriteLog): Promise<LogSummary> {
  const stats = await log.stats()
  const summary: LogSummary = {
    backend: log.backend,
    records: 0,
    bytes: stats.bytes,
    first: undefined,
    last: undefined,
    byOp: {},
    byNamespace: dict(),
    outcomes: {},
    withoutOutcome: 0,
  }
  const open = new Set<string>()
  for await (const { position, record } of log.read()) {
    summary.records++
    summary.first ??= position
    summary.last = position
    summary.byOp[record.op] = (summary.byOp[record.op] ?? 0) + 1
    if (record.op === 'outcome') {
      summary.outcomes[record.outcome] = (summary.outcomes[record.outcome] ?? 0) + 1
      open.delete(`${record.instance}/${record.intentSeq}`)
      continue
    }
    const ns = record.namespace === '' ? '__default__' : record.namespace
    summary.byNamespace[ns] = (summary.byNamespace[ns] ?? 0) + 1
    if (record.op !== 'fence') open.add(`${record.instance}/${record.seq}`)
  }
  summary.withoutOutcome = open.size
  return summary
}

function formatSummary(s: LogSummary): string {
  const rows = (title: string, counts: Record<string, number>) =>
    Object.keys(counts).length === 0
      ? ''
      : `${title}\n${Object.entries(counts)
          .sort()
          .map(([k, v]) => `  ${k.padEnd(24)} ${v}`)
          .join('\n')}\n`
  return (
    [
      `backend    ${s.backend}`,
      `records    ${s.records} (${(s.bytes / 1024 / 1024).toFixed(2)} MiB)`,
      `first      ${s.first ?? '-'}`,
      `last       ${s.last ?? '-'}`,
      `no outcome ${s.withoutOutcome} (intents the replayer will repair from the source)`,
      '',
    ].join('\n') +
    rows('by operation', s.byOp) +
    rows('by namespace (intents)', s.byNamespace) +
    rows('outcomes', s.outcomes)
  )
}

/** Writes to stdout respecting backpressure, so `| head` and slow pipes work. */
function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()))
  })
}
