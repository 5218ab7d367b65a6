/**
 * `npm run bench -- --shapes positions`: the targets of issue #12 (windows, ALiBi, RoPE,
 * returnLse), each a pair of calls measured side by side in one process: rounds alternate
 * baseline and candidate (the order swapped every other round), each side's time per round
 * is the median of calls lasting at least `minMs`, and the ratio is taken per round, then
 * its median and range are reported, with both sides' medians, spreads and GFLOP/s, the
 * CPU model and the load. A separate process per side would compare two moments of a
 * shared, noisy machine, not two code paths.
 *
 * Adding a row: write a module bench/positions-NAME.ts exporting `PositionCase`s and add
 * it to POSITION_CASE_MODULES below (one line).
 */
import { cpus, loadavg } from 'node:os';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createAttention, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';
import { WINDOW_CASES } from './positions-window.js';

/** One side of a pair: a call to time and its nominal FLOPs (for GFLOP/s; 0 = no rate). */
export interface PositionSide {
  readonly label: string;
  readonly flops: number;
  run(): unknown;
}

/** A row of the positions table: a baseline and a candidate on one instance, and the target on candidate / baseline time. */
export interface PositionCase {
  readonly name: string;
  /** e.g. '≤ 1/6 (≥ 6× faster)': printed next to the measured ratio. */
  readonly target: string;
  /** Whether the measured median ratio (candidate / baseline time) meets the target. */
  meets(ratio: number): boolean;
  /** Prepares both sides on `attn` (allocations, caches); `dispose` frees them. */
  setup(attn: AttentionInstance): { baseline: PositionSide; candidate: PositionSide; dispose?(): void };
}

/** Every module's cases, in table order; one line per module. */
export const POSITION_CASE_MODULES: readonly (readonly PositionCase[])[] = [
  WINDOW_CASES,
];

export interface PositionsOptions {
  readonly backends?: readonly string[];
  readonly rounds: number;
  readonly minMs: number;
  readonly root: string;
}

interface PositionRow {
  readonly name: string;
  readonly backend: string;
  readonly baseline: SideResult;
  readonly candidate: SideResult;
  readonly ratioMedian: number;
  readonly ratioRange: [number, number];
  readonly target: string;
  readonly meets: boolean;
  readonly loadAverage: [number, number];
}

interface SideResult {
  readonly label: string;
  readonly medianMs: number;
  readonly spreadPct: number;
  readonly gflops: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Median ms per call over calls lasting at least `minMs` (at least 3 calls). */
function measure(side: PositionSide, minMs: number): number {
  const times: number[] = [];
  const started = performance.now();
  while (performance.now() - started < minMs || times.length < 3) {
    const t = performance.now();
    side.run();
    times.push(performance.now() - t);
  }
  return median(times);
}

function summarize(side: PositionSide, ms: number[]): SideResult {
  const m = median(ms);
  return { label: side.label, medianMs: m, spreadPct: ((Math.max(...ms) - Math.min(...ms)) / m) * 100, gflops: side.flops > 0 ? side.flops / m / 1e6 : 0 };
}

/**
 * Runs every case on each backend (default: the fastest WASM backend available), prints
 * the table and writes bench/results/positions.json.
 */
export async function runPositions(options: PositionsOptions, log: (line: string) => void): Promise<void> {
  const backends = (options.backends ?? [(['wasm-relaxed-simd', 'wasm-simd', 'js'] as const).find(isBackendAvailable)!]) as BackendName[];
  const rows: PositionRow[] = [];
  const cases = POSITION_CASE_MODULES.flat();
  for (const backend of backends) {
    const attn = await createAttention({ backend });
    for (const c of cases) {
      log(`positions: ${c.name} on ${backend} (${options.rounds} alternating rounds) ...`);
      const { baseline, candidate, dispose } = c.setup(attn);
      for (let warm = 0; warm < 2; warm++) [baseline, candidate].forEach((side) => measure(side, options.minMs)); // past V8's baseline tier
      const load0 = loadavg()[0]!;
      const times: [number[], number[]] = [[], []];
      const ratios: number[] = [];
      for (let r = 0; r < options.rounds; r++) {
        const order = r % 2 === 0 ? [0, 1] : [1, 0];
        const round: number[] = [];
        for (const i of order) round[i] = measure(i === 0 ? baseline : candidate, options.minMs);
        times[0].push(round[0]!);
        times[1].push(round[1]!);
        ratios.push(round[1]! / round[0]!);
      }
      dispose?.();
      const ratioMedian = median(ratios);
      rows.push({
        name: c.name, backend,
        baseline: summarize(baseline, times[0]), candidate: summarize(candidate, times[1]),
        ratioMedian, ratioRange: [Math.min(...ratios), Math.max(...ratios)],
        target: c.target, meets: c.meets(ratioMedian), loadAverage: [load0, loadavg()[0]!],
      });
    }
    attn.dispose?.();
  }
  const cpu = cpus()[0]?.model.trim() ?? 'unknown';
  const lines = [`positions (issue #12): CPU ${cpu} × ${cpus().length}; Node ${process.version}; ${options.rounds} alternating rounds, each side the median of calls over ≥ ${options.minMs} ms`];
  for (const row of rows) {
    const side = (s: SideResult) => `${s.label}: ${s.medianMs.toFixed(2)} ms (spread ${s.spreadPct.toFixed(0)}%${s.gflops ? `, ${s.gflops.toFixed(1)} GFLOP/s` : ''})`;
    lines.push(
      `- ${row.name} [${row.backend}]`,
      `    baseline  ${side(row.baseline)}`,
      `    candidate ${side(row.candidate)}`,
      `    candidate / baseline time: median ${row.ratioMedian.toFixed(3)} (range ${row.ratioRange[0].toFixed(3)}–${row.ratioRange[1].toFixed(3)}${row.ratioMedian < 1 ? `; ${(1 / row.ratioMedian).toFixed(2)}× faster` : ''}); target ${row.target}: ${row.meets ? 'met' : 'NOT met'}; load ${row.loadAverage[0].toFixed(1)} → ${row.loadAverage[1].toFixed(1)}`,
    );
  }
  console.log(lines.join('\n'));
  const results = join(options.root, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, 'positions.json'), `${JSON.stringify({ date: new Date().toISOString(), cpu, cores: cpus().length, node: process.version, rounds: options.rounds, minMs: options.minMs, rows }, null, 2)}\n`);
  log('positions: wrote bench/results/positions.json');
}
