/**
 * The Benchmark tab's measurements: every available backend on the bench's named shapes
 * (bench/shapes.ts, the same inputs as `npm run bench`), in this browser, on the main
 * thread, yielding between calls so the progress bar moves.
 *
 * Per backend × shape: one warm-up call (compilation tiers, memory growth), then timed
 * calls until `minMs` has passed and at least `minRuns` ran (one only when a single call
 * takes longer than `minMs`); the median is reported with the spread (min–max), and the
 * rate as GFLOP/s = 4·B·H·Lq·Lk·D / time (bench/shapes.ts's `flopsOf`).
 */
import type { AttentionInstance, BackendName } from '../../src/index.js';
import { flopsOf, makeInputs, SHAPE_SETS, shapeLabel, type Shape } from '../../bench/shapes.js';

export interface Measurement {
  readonly shape: string;
  readonly backend: BackendName;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly runs: number;
  readonly gflops: number;
}

export interface Preset {
  readonly label: string;
  readonly sets: readonly string[];
  readonly minMs: number;
  readonly minRuns: number;
}

/** `quick` leaves out the 1k–2k-token prefill shapes, on which the JS backend needs seconds per call. */
export const PRESETS: Readonly<Record<string, Preset>> = {
  quick: { label: 'Quick: tiny and decode (a few seconds)', sets: ['tiny', 'decode'], minMs: 150, minRuns: 3 },
  default: { label: 'As `npm run bench`: tiny, prefill, causal, decode (a minute or two)', sets: ['tiny', 'prefill', 'causal', 'decode'], minMs: 300, minRuns: 3 },
};

export function shapesOf(preset: Preset): Shape[] {
  return preset.sets.flatMap((set) => SHAPE_SETS[set]?.shapes ?? []);
}

const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Measures every instance on every shape of `preset`.
 * @param onProgress called after each measurement with (done, total, latest)
 * @param signal stops between calls when aborted
 */
export async function runBenchmark(
  instances: readonly AttentionInstance[],
  preset: Preset,
  onProgress: (done: number, total: number, latest: Measurement) => void,
  signal?: AbortSignal,
): Promise<Measurement[]> {
  const shapes = shapesOf(preset);
  const total = shapes.length * instances.length;
  const results: Measurement[] = [];
  for (const shape of shapes) {
    const { q, k, v, scale } = makeInputs(shape);
    const tensor = (data: Float32Array, seqLen: number) => ({ data, shape: [shape.batch, shape.heads, seqLen, shape.headDim] });
    const args = [tensor(q, shape.seqLenQ), tensor(k, shape.seqLenK), tensor(v, shape.seqLenK)] as const;
    const out = new Float32Array(q.length);
    for (const instance of instances) {
      const call = () => instance.attention(...args, { scale, causal: shape.causal, out });
      await nextFrame();
      call(); // warm-up
      const times: number[] = [];
      const started = performance.now();
      do {
        if (signal?.aborted) return results;
        await nextFrame();
        const t0 = performance.now();
        call();
        times.push(performance.now() - t0);
      } while (performance.now() - started < preset.minMs || (times.length < preset.minRuns && times[0]! < preset.minMs));
      const medianMs = median(times);
      const measurement: Measurement = {
        shape: shapeLabel(shape),
        backend: instance.backend,
        medianMs,
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        runs: times.length,
        gflops: flopsOf(shape) / (medianMs * 1e6),
      };
      results.push(measurement);
      onProgress(results.length, total, measurement);
    }
  }
  return results;
}
