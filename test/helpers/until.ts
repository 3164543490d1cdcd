import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Waits until `condition` holds, checking every `intervalMs`; fails with `what` once
 * `timeoutMs` has passed without it. A wait that cannot fall through silently: the test
 * either sees the condition or fails saying what it waited for.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; what: string; intervalMs?: number; onTimeout?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}${options.onTimeout ? ` (${options.onTimeout()})` : ''}`,
      )
    await sleep(options.intervalMs ?? 20)
  }
}
