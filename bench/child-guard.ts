// Bench-only preload (`node --import ./bench/child-guard.ts …`) for the service and simulator processes the bench
// spawns: exits when the bench dies, and reports event-loop delay over IPC without touching src/.
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Timer interval of the histogram; each sample is the interval plus the delay, so it is subtracted. */
const RESOLUTION_MS = 10;

export interface EventLoopReport {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
}

type Message = { type: 'eld-reset'; id: number } | { type: 'eld-read'; id: number };

if (process.send) {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);

  process.on('message', (message: Message) => {
    if (message.type === 'eld-reset') {
      histogram.reset();
      process.send?.({ type: 'eld-reset-ack', id: message.id });
    }
    if (message.type === 'eld-read') {
      const report: EventLoopReport = {
        p50Ms: ms(histogram.percentile(50)),
        p99Ms: ms(histogram.percentile(99)),
        maxMs: ms(histogram.max),
        samples: histogram.count,
      };
      process.send?.({ type: 'eld-report', id: message.id, report });
    }
  });
  // A killed bench (even SIGKILL) closes the IPC channel: leave no orphan listening on a port. SIGTERM first so
  // the process shuts down its own way; the hard exit is the backstop.
  process.on('disconnect', () => {
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.exit(1), 5_000).unref();
  });
  // The channel must not keep a process alive that wants to exit after its own shutdown.
  process.channel?.unref();
}
