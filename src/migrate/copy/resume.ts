import { E, VecshiftError } from '../../errors.js'
import type { CheckpointFile, CopyCheckpoint } from './checkpoint.js'
import type { Strategy } from './plan.js'

// When a copy may go on from a checkpoint on disk: only when asked to (--resume), and only
// the same copy. Copying again over a finished copy, or starting over an interrupted one, is
// the operator's decision (delete the file), never a default: a fresh start would forget which
// batches were copied positioned in the write log, and a finished copy has nothing to add.

/** The checkpoint to continue from, if there is one; refused when not resuming. */
export async function checkpointToResume(
  checkpoint: CheckpointFile,
  migration: string,
  resume: boolean,
): Promise<CopyCheckpoint | undefined> {
  const existing = await checkpoint.load()
  if (existing && !resume) {
    throw new VecshiftError(E.COPY_CHECKPOINT, [
      existing.finishedAt
        ? `a copy for migration ${migration} already finished at ${existing.finishedAt} (${checkpoint.path}); ` +
          'delete that file to copy again'
        : `an interrupted copy for migration ${migration} has a checkpoint at ${checkpoint.path}; ` +
          'run again with --resume to continue it, or delete the file to start over',
    ])
  }
  return existing
}

/** Refuses to resume the checkpoint of another copy (other stores, or another strategy). */
export function assertSameCopy(
  existing: CopyCheckpoint | undefined,
  path: string,
  copy: { readonly source: string; readonly target: string; readonly strategy: Strategy },
): void {
  if (
    existing &&
    (existing.source !== copy.source || existing.target !== copy.target || existing.strategy !== copy.strategy)
  ) {
    throw new VecshiftError(E.COPY_CHECKPOINT, [
      `the checkpoint ${path} is of a copy from ${existing.source} to ${existing.target} (${existing.strategy}), ` +
        'not this one; delete it to start over',
    ])
  }
}
