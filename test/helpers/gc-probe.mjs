// Preloaded into a gateway child (node --expose-gc --import this-file): on SIGUSR2 it runs a
// full garbage collection and then writes one JSON line on stderr. A test that sends the
// signal and waits for the line can then read the process's memory (its /metrics) without
// counting garbage that no collection has reclaimed yet, so a small bound catches a leak.
process.on('SIGUSR2', () => {
  const gc = globalThis.gc
  if (typeof gc === 'function') {
    gc()
    gc()
  }
  process.stderr.write(`${JSON.stringify({ msg: 'gc-probe', gc: typeof gc === 'function', ...process.memoryUsage() })}\n`)
})
