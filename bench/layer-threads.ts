/**
 * `npm run bench -- --shapes layer-threads [--runs N]`: the multi-head attention layer's
 * forward on 2 threads (`forwardAsync` on `createAttention({ threads: 2 })`: projection
 * GEMMs split over column panels, src/layer/threads.ts, and attentionAsync) against one
 * thread (`forward` on an instance without threads), BERT-base (B1 L512 E768 H12), in one
 * process, alternating within every round, with the machine's own 2-core scaling measured
 * in every round (bench/core-scaling.ts): a speed-up means something only beside it.
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, isBackendAvailable } from '../src/index.js';
import { withBackward } from '../src/backward/index.js';
import { createCoreScalingProbe } from './core-scaling.js';

const B = 1, L = 512, E = 768, H = 12;

function random(length: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return (state / 2 ** 32 - 0.5) * scale;
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const FREE_CORES = 1.8;

/** Warm-up past V8's baseline tier: ≥ 1.5 s per side, idle gaps for the background compiler (bench/backward-threads.ts). */
async function warmUp(sides: Array<() => Promise<unknown>>): Promise<void> {
  const started = performance.now();
  for (let calls = 0; calls < 4 || performance.now() - started < 1500 * sides.length; calls++) {
    for (const side of sides) {
      await side();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export async function runLayerThreadsBench(options: { rounds?: number } = {}): Promise<void> {
  const rounds = options.rounds ?? 9;
  const backends = (['wasm-relaxed-simd', 'wasm-simd'] as const).filter(isBackendAvailable);
  const loadBefore = load();
  const flops = 8 * B * L * E * E + 4 * B * L * L * E;
  const weights = { inProj: random(3 * E * E, 1, 0.07), inProjBias: random(3 * E, 2), outProj: random(E * E, 3, 0.07), outProjBias: random(E, 4) };
  const x = { data: random(B * L * E, 5), shape: [B, L, E] };
  const lines: string[] = [];
  const probe = await createCoreScalingProbe();
  for (const backend of backends) {
    const one = withBackward(await createAttention({ backend }));
    const two = withBackward(await createAttention({ backend, threads: 2 }));
    const layer1 = one.createMultiHeadAttention({ embedDim: E, numHeads: H, weights });
    const layer2 = two.createMultiHeadAttention({ embedDim: E, numHeads: H, weights });
    const side1 = async () => layer1.forward(x);
    const side2 = () => layer2.forwardAsync(x);
    await warmUp([side1, side2]);
    const a = (await side1()).output.data;
    const b = (await side2()).output.data;
    const same = a.every((value, i) => Object.is(value, b[i]));
    const times1: number[] = [];
    const times2: number[] = [];
    const ratios: number[] = [];
    const machine: number[] = [];
    for (let round = 0; round < rounds; round++) {
      machine.push(await probe.measure());
      const order = round % 2 === 0 ? [side1, side2] : [side2, side1];
      const took = new Map<unknown, number>();
      for (const side of order) {
        const started = performance.now();
        await side();
        took.set(side, performance.now() - started);
      }
      times1.push(took.get(side1)!);
      times2.push(took.get(side2)!);
      ratios.push(took.get(side1)! / took.get(side2)!);
    }
    const free = ratios.filter((_, r) => machine[r]! >= FREE_CORES);
    const line =
      `${backend.padEnd(18)} ${median(times1).toFixed(1).padStart(7)} ms (${(flops / median(times1) / 1e6).toFixed(1)} GFLOP/s) ${median(times2).toFixed(1).padStart(7)} ms (${(flops / median(times2) / 1e6).toFixed(1)} GFLOP/s)` +
      `   ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) [GEMM threads ${layer2.lastGemmThreads}, bit-identical ${same}]` +
      `   machine ${median(machine).toFixed(2)}× (${Math.min(...machine).toFixed(2)}–${Math.max(...machine).toFixed(2)})` +
      `   rounds with machine ≥ ${FREE_CORES}×: ${free.length === 0 ? 'none' : `${median(free).toFixed(2)}× median of ${free.length}`}`;
    lines.push(line);
    console.error(line);
    for (const attn of [one, two]) attn.dispose();
  }
  await probe.dispose();
  console.log(`layer threads bench: BERT-base layer forward B${B} L${L} E${E} H${H} (8·L·E² + 4·L²·E FLOPs), wall time; ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; load average before ${loadBefore}, after ${load()}; ${rounds} rounds, 1T and 2T alternating`);
  console.log(`machine: the 2-core scaling of a scalar loop in 2 workers, measured in every round just before the pair (bench/core-scaling.ts)`);
  console.log(`${'backend'.padEnd(18)} ${'1 thread (forward)'.padStart(26)} ${'2 threads (forwardAsync)'.padStart(26)}   1T/2T median (range of rounds)`);
  for (const line of lines) console.log(line);
}
