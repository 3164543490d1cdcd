// The config file of a migration between two emulator indexes, as the tests that run the
// CLI write it: every data directory under one temporary directory. `set` replaces (or adds)
// a top-level section by name, so each test states only what it changes.
import { join } from 'node:path'

export interface EmulatorIndex {
  /** The emulator's URL (its control plane). */
  readonly url: string
  indexHost(name: string): string
}

export function migrationYaml(
  dir: string,
  o: {
    id: string
    phase?: string
    source: { emu: EmulatorIndex; index: string }
    target: { emu: EmulatorIndex; index: string }
  },
  set: Record<string, string> = {},
): string {
  const pinecone = ({ emu, index }: { emu: EmulatorIndex; index: string }) =>
    `{ type: pinecone, index: ${index}, host: "${emu.indexHost(index)}", controllerHost: "${emu.url}" }`
  const sections: Record<string, string> = {
    migration: `{ id: ${o.id}${o.phase ? `, phase: ${o.phase}` : ''} }`,
    source: pinecone(o.source),
    target: pinecone(o.target),
    gateway: '{ listen: { port: 0 } }',
    admin: '{ enabled: false }',
    writelog: `{ backend: file, file: { dir: "${join(dir, 'log')}" } }`,
    rollback: `{ logDir: "${join(dir, 'reverse')}" }`,
    control: `{ dir: "${join(dir, 'control')}" }`,
    replay: `{ dataDir: "${join(dir, 'replay')}" }`,
    copy: `{ checkpointDir: "${join(dir, 'copy')}" }`,
    log: '{ level: warn }',
    ...set,
  }
  return Object.entries(sections)
    .map(([key, value]) => `${key}: ${value}`)
    .join('\n')
}
