/**
 * ALiBi and returnLse rows of `--shapes positions` (issue #12 targets), H8 N1024 D64:
 * - ALiBi (`alibi: true`, computed in the kernel) vs no bias: target ≤ 5% slower;
 * - ALiBi vs the same bias passed as an additive `[1, H, L, L]` mask (what a caller must do
 *   without the option: 32 MiB built once, copied into WASM memory and read per call):
 *   target ≥ 2× faster;
 * - `returnLse` vs without: target ≤ 2% slower.
 * Dense (not causal): every tile pays for the ALiBi term. q, k, v, out are PinnedTensors (no
 * copies per call), so the rows time the kernel and what the option adds to the call.
 *
 * Rows of bench/positions.ts (`npm run bench -- --shapes positions`: wall time, alternating
 * rounds). Alone, with CPU time beside the wall clock:
 * `npm run build:wasm && node scripts/run-ts.mjs bench/positions-alibi.ts [rounds]` runs
 * them here, side by side in one process: in each round the two sides take turns call by
 * call (the order swapped every pair), each call timed on its own in wall time and in CPU
 * time (process.cpuUsage: this process's work, which a shared machine's other processes
 * slow less than the wall clock, since waiting for a core is not counted); a round's ratio
 * is the ratio of the two sides' medians; the table gives the median and range of the
 * rounds' ratios. Under a load of 15–19 on 2 cores (2026-12-04) wall-time rounds ranged
 * 0.6–2.6: judge 2–5% targets by the CPU-time ratio.
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, isBackendAvailable, type AttentionInstance } from '../src/index.js';
import { standardSlopes } from '../src/alibi.js';
import type { PositionCase, PositionSide } from './positions.js';
import { pinned } from './positions-window.js';

const H = 8;
const L = 1024;
const D = 64;
const FLOPS = 4 * H * L * L * D;

function tensors(attn: AttentionInstance) {
  const shape = [1, H, L, D];
  const all = [pinned(attn, shape, 1), pinned(attn, shape, 2), pinned(attn, shape, 3), attn.createTensor(shape)] as const;
  return { q: all[0], k: all[1], v: all[2], out: all[3], dispose: () => all.forEach((t) => t.dispose()) };
}

/** The ALiBi bias of `alibi: true` as an additive mask [1, H, L, L]: −slope_h·|i − j| (Lq = Lk: offset 0). */
function alibiMask(): Float32Array {
  const slopes = standardSlopes(H);
  const mask = new Float32Array(H * L * L);
  for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) mask[(h * L + i) * L + j] = -slopes[h]! * Math.abs(i - j);
  return mask;
}

export const ALIBI_CASES: readonly PositionCase[] = [
  {
    name: `prefill H${H} N${L} D${D}: ALiBi vs no bias`,
    target: '≤ 1.05 (≤ 5% slower)',
    meets: (ratio) => ratio <= 1.05,
    setup(attn) {
      const { q, k, v, out, dispose } = tensors(attn);
      return {
        baseline: { label: 'no bias', flops: FLOPS, run: () => attn.attention(q, k, v, { out }) },
        candidate: { label: 'alibi: true', flops: FLOPS, run: () => attn.attention(q, k, v, { alibi: true, out }) },
        dispose,
      };
    },
  },
  {
    name: `prefill H${H} N${L} D${D}: ALiBi vs the same bias as an additive [1, H, L, L] mask`,
    target: '≤ 0.5 (≥ 2× faster)',
    meets: (ratio) => ratio <= 0.5,
    setup(attn) {
      const { q, k, v, out, dispose } = tensors(attn);
      const mask = { data: alibiMask(), shape: [1, H, L, L] };
      return {
        baseline: { label: 'additive mask', flops: FLOPS, run: () => attn.attention(q, k, v, { mask, out }) },
        candidate: { label: 'alibi: true', flops: FLOPS, run: () => attn.attention(q, k, v, { alibi: true, out }) },
        dispose,
      };
    },
  },
  {
    name: `prefill H${H} N${L} D${D}: returnLse vs without`,
    target: '≤ 1.02 (≤ 2% slower)',
    meets: (ratio) => ratio <= 1.02,
    setup(attn) {
      const { q, k, v, out, dispose } = tensors(attn);
      return {
        baseline: { label: 'output', flops: FLOPS, run: () => attn.attention(q, k, v, { out }) },
        candidate: { label: 'output + lse', flops: FLOPS, run: () => attn.attention(q, k, v, { returnLse: true, out }) },
        dispose,
      };
    },
  },
];

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** One call's wall and CPU time, ms. */
function timeCall(side: PositionSide): [number, number] {
  const cpu = process.cpuUsage();
  const t = performance.now();
  side.run();
  const wall = performance.now() - t;
  const used = process.cpuUsage(cpu);
  return [wall, (used.user + used.system) / 1000];
}

/** One round: the sides take turns call by call for ≥ minMs each; per side, median wall and CPU ms. */
function round(sides: readonly [PositionSide, PositionSide], minMs: number): [[number, number], [number, number]] {
  const wall: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  const started = performance.now();
  for (let n = 0; performance.now() - started < 2 * minMs || n < 6; n++) {
    for (const i of n % 2 === 0 ? [0, 1] : [1, 0]) {
      const [w, c] = timeCall(sides[i]!);
      wall[i]!.push(w);
      cpu[i]!.push(c);
    }
  }
  return [[median(wall[0]), median(cpu[0])], [median(wall[1]), median(cpu[1])]];
}

/** Runs the rows alone (see the file comment), on every WASM backend available. */
async function main(rounds: number, minMs: number): Promise<void> {
  console.log(`positions-alibi: CPU ${cpus()[0]?.model.trim()} × ${cpus().length}; Node ${process.version}; ${rounds} rounds, the two sides alternating call by call for ≥ ${minMs} ms each per round`);
  const range = (xs: number[]) => `${median(xs).toFixed(3)} (range ${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})`;
  for (const backend of (['wasm-relaxed-simd', 'wasm-simd'] as const).filter(isBackendAvailable)) {
    const attn = await createAttention({ backend });
    for (const c of ALIBI_CASES) {
      const { baseline, candidate, dispose } = c.setup(attn);
      round([baseline, candidate], minMs); // warm-up, past V8's baseline tier
      const load0 = loadavg()[0]!;
      const results = Array.from({ length: rounds }, () => round([baseline, candidate], minMs));
      dispose?.();
      const side = (s: PositionSide, i: 0 | 1) => {
        const ms = results.map((r) => r[i][0]);
        const cpuMs = results.map((r) => r[i][1]);
        return `${s.label}: ${median(ms).toFixed(2)} ms (spread ${(((Math.max(...ms) - Math.min(...ms)) / median(ms)) * 100).toFixed(0)}%, ${(s.flops / median(ms) / 1e6).toFixed(1)} GFLOP/s), CPU ${median(cpuMs).toFixed(2)} ms`;
      };
      const wallRatios = results.map((r) => r[1][0] / r[0][0]);
      const cpuRatios = results.map((r) => r[1][1] / r[0][1]);
      console.log(
        `- ${c.name} [${backend}]\n    baseline  ${side(baseline, 0)}\n    candidate ${side(candidate, 1)}\n` +
          `    candidate / baseline: CPU time ${range(cpuRatios)}, wall ${range(wallRatios)}; target ${c.target}: ${c.meets(median(cpuRatios)) ? 'met' : 'NOT met'} (CPU); load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
      );
    }
  }
}

if (process.argv[1]?.endsWith('positions-alibi.run.mjs')) await main(Number(process.argv[2] ?? 9), 300);
