/**
 * A process of simulated machines for bench/boots.ts: the machines run outside the benchmark's own
 * process, split over several of these, so that no single client event loop (500 machines' TFTP
 * round trips and downloads) delays the answers it times. Protocol over the IPC channel:
 *   parent → { type: 'load', specs }  child → { type: 'loaded' }
 *   parent → { type: 'go' }           child → { type: 'done', results, cpuSeconds, loopDelayMs }
 *   parent → { type: 'exit' }
 * The parent sends `go` to every worker at once, so their machines start together.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { bootMachine, type MachineResult, type MachineSpec } from './machine';

export type WorkerRequest = { type: 'load'; specs: MachineSpec[] } | { type: 'go' } | { type: 'exit' };
export type WorkerReply =
  | { type: 'loaded' }
  | { type: 'done'; results: MachineResult[]; cpuSeconds: number; wallSeconds: number; loopDelayMs: { p50: number; p99: number; max: number } };

let specs: MachineSpec[] = [];

process.on('message', (m: WorkerRequest) => {
  if (m.type === 'load') {
    specs = m.specs;
    process.send!({ type: 'loaded' } satisfies WorkerReply);
  } else if (m.type === 'go') {
    void run();
  } else {
    process.disconnect();
  }
});

async function run(): Promise<void> {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = await Promise.all(specs.map((s) => bootMachine(s)));
  const wallSeconds = (performance.now() - t0) / 1000;
  eld.disable();
  const cpu = process.cpuUsage(cpu0);
  process.send!({
    type: 'done', results, cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds,
    loopDelayMs: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 },
  } satisfies WorkerReply);
}
