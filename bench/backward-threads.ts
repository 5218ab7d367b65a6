/**
 * `npm run bench -- --shapes backward-threads [--runs N]`: attentionBackwardAsync on 2
 * threads against 1 thread (issue #13's target: ≥ 1.6× at B1 H8 N1024 D64), in one process,
 * the two alternating within every round so machine noise hits both alike. Per shape:
 * median of each side, and median and range (min–max) of the per-round ratios 1T/2T; the
 * load average before and after, since the machine is shared.
 *
 * One thread is `attentionBackwardAsync` on an instance without threads (the synchronous
 * kernel, in a promise); two threads the same call on `createAttention({ threads: 2 })`.
 * Output and lse are given (the backward alone). "cores busy" is the process's CPU time
 * (process.cpuUsage: every thread) over wall time during the 2-thread calls: near 2 when
 * both threads got a core, near 1 when the machine's load left the process one.
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, isBackendAvailable, type Tensor } from '../src/index.js';
import { threadedBackwardOf, withBackward } from '../src/backward/index.js';
import { createCoreScalingProbe } from './core-scaling.js';

interface Shape {
  readonly name: string;
  readonly heads: number;
  readonly kvHeads: number;
  readonly n: number;
  readonly d: number;
  readonly causal: boolean;
}

const SHAPES: Shape[] = [
  { name: 'H8 N1024 D64', heads: 8, kvHeads: 8, n: 1024, d: 64, causal: false },
  { name: 'H8 N1024 D64 causal', heads: 8, kvHeads: 8, n: 1024, d: 64, causal: true },
  { name: 'H8 KV2 N1024 D64 (GQA)', heads: 8, kvHeads: 2, n: 1024, d: 64, causal: false },
  { name: 'H8 KV1 N1024 D64 (MQA: 1 unit)', heads: 8, kvHeads: 1, n: 1024, d: 64, causal: false },
];

function random(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

/** A round counts as "two free cores" when the probe scaled at least this much. */
const FREE_CORES = 1.8;

/** The backward's 1T/2T median over the rounds where the machine gave two cores. */
function freeRounds(ratios: number[], machine: number[]): string {
  const free = ratios.filter((_, round) => machine[round]! >= FREE_CORES);
  return free.length === 0 ? 'none' : `${median(free).toFixed(2)}× median of ${free.length}`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/**
 * Warm-up: a kernel runs as one long call, and V8 (no on-stack replacement for wasm) swaps
 * in its optimized code only on the next call, compiled on a background thread. While both
 * cores run the 2-thread backward that thread gets no core, and a side stayed in the
 * baseline tier for whole runs: on 2026-12-05 the simd 1-thread row read 139, 221 and
 * 283 ms in three runs of 9 rounds after a single warm-up call. So: calls for ≥ 1.5 s per
 * side, each followed by an idle 50 ms in which the background compiler can finish.
 */
async function warmUp(sides: Array<() => Promise<unknown>>): Promise<void> {
  const started = performance.now();
  for (let calls = 0; calls < 4 || performance.now() - started < 1500 * sides.length; calls++) {
    for (const side of sides) {
      await side();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function runBackwardThreadsBench(options: { rounds?: number } = {}): Promise<void> {
  const rounds = options.rounds ?? 9;
  const backends = (['wasm-relaxed-simd', 'wasm-simd'] as const).filter(isBackendAvailable);
  const loadBefore = load();
  const lines: string[] = [];
  const probe = await createCoreScalingProbe();
  for (const backend of backends) {
    const one = withBackward(await createAttention({ backend }));
    const two = withBackward(await createAttention({ backend, threads: 2 }));
    for (const shape of SHAPES) {
      const t = (heads: number, d: number, seed: number): Tensor<Float32Array> => ({ data: random(heads * shape.n * d, seed), shape: [1, heads, shape.n, d] });
      const [q, k, v, dout] = [t(shape.heads, shape.d, 1), t(shape.kvHeads, shape.d, 2), t(shape.kvHeads, shape.d, 3), t(shape.heads, shape.d, 4)];
      const opts = { causal: shape.causal };
      const inputs = { q, k, v, dout, output: one.attention(q, k, v, opts).output, lse: one.attentionLse(q, k, v, opts) };
      await warmUp([one, two].map((attn) => () => attn.attentionBackwardAsync(inputs, opts)));
      const used = (await threadedBackwardOf(two))?.lastThreads ?? 1;
      const times1: number[] = [];
      const times2: number[] = [];
      const ratios: number[] = [];
      const machine: number[] = [];
      let cpu2 = 0;
      for (let round = 0; round < rounds; round++) {
        machine.push(await probe.measure());
        // Alternate which side goes first, so neither always follows the other.
        const order = round % 2 === 0 ? [one, two] : [two, one];
        const took = new Map<unknown, number>();
        for (const attn of order) {
          const cpu = process.cpuUsage();
          const started = performance.now();
          await attn.attentionBackwardAsync(inputs, opts);
          took.set(attn, performance.now() - started);
          if (attn === two) {
            const used = process.cpuUsage(cpu);
            cpu2 += (used.user + used.system) / 1000;
          }
        }
        times1.push(took.get(one)!);
        times2.push(took.get(two)!);
        ratios.push(took.get(one)! / took.get(two)!);
      }
      const line =
        `${backend.padEnd(18)} ${shape.name.padEnd(32)} ${median(times1).toFixed(1).padStart(8)} ms ${median(times2).toFixed(1).padStart(8)} ms` +
        `   ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})  [${used} thread${used === 1 ? '' : 's'} used,` +
        ` cores busy ${(cpu2 / times2.reduce((a, b) => a + b, 0)).toFixed(2)}]` +
        `   machine ${median(machine).toFixed(2)}× (${Math.min(...machine).toFixed(2)}–${Math.max(...machine).toFixed(2)})` +
        `   rounds with machine ≥ ${FREE_CORES}×: ${freeRounds(ratios, machine)}`;
      lines.push(line);
      console.error(line);
    }
    one.dispose();
    two.dispose();
  }
  await probe.dispose();
  console.log(`backward threads bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; load average before ${loadBefore}, after ${load()}; ${rounds} rounds, 1T and 2T alternating`);
  console.log(`machine: the 2-core scaling of a scalar loop in 2 workers, measured in every round just before the pair (bench/core-scaling.ts); the target needs rounds where the machine gave two cores`);
  console.log(`${'backend'.padEnd(18)} ${'shape (B1, output and lse given)'.padEnd(32)} ${'1 thread'.padStart(11)} ${'2 threads'.padStart(11)}   1T/2T median (range of rounds)`);
  for (const line of lines) console.log(line);
}
