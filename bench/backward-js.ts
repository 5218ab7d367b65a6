/**
 * `npm run bench -- --shapes backward-js [--n 256] [--runs 7]`: the JS backend's backward
 * (output and lse given) against tfjs-backend-cpu `tf.grads` of the same attention (issue #13's
 * target: ≥ 5× faster), side by side in one process, rounds alternating, B1 H8 D64 at N256 by
 * default: tfjs-cpu takes seconds per round at N1024 on a loaded machine. tf.grads computes
 * the forward too (it has no way to take a saved one), as a tfjs user pays; ours is the
 * backward alone, as the target states. Prints the median and range of each and of the
 * per-round ratios, and the load.
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, type Tensor } from '../src/index.js';
import { withBackward } from '../src/backward/index.js';
import { tfjsGrads } from './backward.js';

function random(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

export async function runBackwardJsBench(options: { peersDir: string; seqLen?: number; rounds?: number }): Promise<void> {
  const H = 8, D = 64, N = options.seqLen ?? 256;
  const rounds = options.rounds ?? 7;
  const js = withBackward(await createAttention({ backend: 'js' }));
  const t = (seed: number): Tensor<Float32Array> => ({ data: random(H * N * D, seed), shape: [1, H, N, D] });
  const inputs = { q: t(1), k: t(2), v: t(3), dout: t(4) };
  const output = js.attention(inputs.q, inputs.k, inputs.v).output;
  const lse = js.attentionLse(inputs.q, inputs.k, inputs.v);
  const ours = () => void js.attentionBackward({ ...inputs, output, lse });
  const tfjs = await tfjsGrads(options.peersDir, 'cpu', H, N, D, { q: inputs.q.data, k: inputs.k.data, v: inputs.v.data, dout: inputs.dout.data });
  ours(); // warm-up: JIT tiers and the first-call allocations of both
  tfjs();
  const loadBefore = load();
  const times = { ours: [] as number[], tfjs: [] as number[], ratio: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    // Alternating order inside the round as well: neither always runs right after GC of the other.
    const order = round % 2 ? ['tfjs', 'ours'] as const : ['ours', 'tfjs'] as const;
    const took = { ours: 0, tfjs: 0 };
    for (const name of order) {
      const started = performance.now();
      (name === 'ours' ? ours : tfjs)();
      took[name] = performance.now() - started;
    }
    times.ours.push(took.ours);
    times.tfjs.push(took.tfjs);
    times.ratio.push(took.tfjs / took.ours);
  }
  console.log(`backward-js bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load ${loadBefore} → ${load()}; one thread; B1 H${H} N${N} D${D}, ${rounds} rounds alternating`);
  console.log(`js backward (output, lse given)        median ${median(times.ours).toFixed(1)} ms  range ${range(times.ours, 1)}`);
  console.log(`tfjs-cpu tf.grads (forward + backward) median ${median(times.tfjs).toFixed(1)} ms  range ${range(times.tfjs, 1)}`);
  const ratio = median(times.ratio);
  console.log(`tfjs-cpu / js backward, per round      median ${ratio.toFixed(2)}×  range ${range(times.ratio, 2)}  (target 5) ${ratio >= 5 ? 'met' : 'MISSED'}`);
}
