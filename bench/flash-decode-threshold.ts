/**
 * Measures where splitting one KV head's keys over threads (flash-decoding,
 * src/threads/decode.ts MIN_KEYS_PER_SPLIT) starts to pay: one MQA decode step (one row
 * block: H8 KV1, D128, float32 cache, Lq 1) on 1 thread and on 2 threads with the key split
 * forced at every length, for cache lengths from 64 to 8192 keys; and the threads set's MQA
 * shapes (bench/shapes.ts THREADS_SHAPES) with the default thresholds.
 *
 * Each (shape, threads) is measured in a fresh process, 1T and 2T interleaved, `--rounds`
 * times. A measurement is kept only when the other processes on the machine kept at most
 * `--quiet` cores busy meanwhile (/proc/stat minus the process's own CPU time: on a shared
 * 2-core machine a busy neighbour takes the worker's core, and the 2T time measures the
 * scheduler, not the split). The report gives per line the median over kept rounds of the
 * per-process medians, the spread over them ((max − min) / median), how many were kept, the
 * 1-min load average and the other processes' cores.
 *
 *   node scripts/run-ts.mjs bench/flash-decode-threshold.ts [--rounds 5] [--quiet 0.15] [--backend wasm-simd] [--set threshold|shapes]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { nodeFlags } from '../scripts/node-flags.mjs';
import type { BackendName } from '../src/index.js';
import { measureThreads } from './threads-cases.js';
import { shapeLabel, THREADS_SHAPES, type Shape } from './shapes.js';

interface One {
  readonly shape: Shape;
  readonly threads: number;
  readonly backend: BackendName;
  /** Force the split (threshold set): no minimum work per thread, no minimum keys per range. */
  readonly force: boolean;
}

async function runOne(job: One): Promise<void> {
  if (job.force) {
    // The library loads this module (built beside the bundle by scripts/run-ts.mjs) for its
    // pool: the same URL gives the same module instance, whose hooks the pool reads.
    const threads = await import(new URL('./threads/index.js', import.meta.url).href);
    threads.setMinMacsPerThread(0);
    threads.setMinKeysPerSplit(0);
  }
  const before = { busy: busyCoreSeconds(), own: process.cpuUsage(), at: performance.now() };
  const r = await measureThreads(job.shape, job.threads, job.backend, { runs: 5, minMs: 300 });
  const own = process.cpuUsage(before.own);
  const seconds = (performance.now() - before.at) / 1000;
  // Cores the *other* processes kept busy meanwhile: all busy time minus this process's own.
  const others = (busyCoreSeconds() - before.busy - (own.user + own.system) / 1e6) / seconds;
  console.log(JSON.stringify({ medianMs: r.medianMs, spreadPct: r.spreadPct, threads: r.threads, note: r.note, load: r.loadAverage, others }));
}

/** Busy CPU time of the whole machine so far, in core-seconds (/proc/stat, USER_HZ = 100). */
function busyCoreSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3]! + fields[4]!; // idle + iowait
  return (fields.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / 100;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function main(): void {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1]! : fallback;
  };
  const rounds = Number(option('rounds', '5'));
  const backend = option('backend', 'wasm-relaxed-simd') as BackendName;
  const set = option('set', 'threshold');
  const shapes: { shape: Shape; force: boolean }[] = set === 'threshold'
    ? [128, 256, 512, 1024, 2048, 4096, 8192].map((seqLenK) => ({
      shape: { set: 'threads', batch: 1, heads: 8, kvHeads: 1, seqLenQ: 1, seqLenK, headDim: 128, causal: false },
      force: true,
    }))
    : THREADS_SHAPES.filter((s) => s.seqLenQ === 1).map((shape) => ({ shape, force: false }));
  const self = process.argv[1]!; // the bundle that scripts/run-ts.mjs built
  const quiet = Number(option('quiet', '0.15'));
  const results = new Map<string, { ms: number[]; loads: number[]; others: number[]; note: string; taken: number }>();
  for (let round = 0; round < rounds; round++) {
    for (const { shape, force } of shapes) {
      for (const threads of [1, 2]) {
        const job: One = { shape, threads, backend, force };
        const line = execFileSync(process.execPath, [...nodeFlags(), self, '--one', JSON.stringify(job)], { encoding: 'utf8', cwd: join(self, '..', '..') })
          .trim().split('\n').pop()!;
        const r = JSON.parse(line) as { medianMs: number; threads: number; note: string; load: [number, number]; others: number };
        const key = `${shapeLabel(shape)}|${threads}`;
        const entry = results.get(key) ?? { ms: [], loads: [], others: [], note: r.note, taken: 0 };
        entry.taken++;
        // Kept only when the other processes left both cores to this one (≤ `quiet` core busy).
        if (r.others <= quiet) {
          entry.ms.push(r.medianMs);
          entry.loads.push(...r.load);
          entry.others.push(r.others);
        }
        results.set(key, entry);
      }
    }
  }
  console.log(`backend ${backend}, ${rounds} rounds, fresh process per measurement; load now ${loadavg()[0]!.toFixed(2)}`);
  for (const { shape } of shapes) {
    const one = results.get(`${shapeLabel(shape)}|1`)!;
    const two = results.get(`${shapeLabel(shape)}|2`)!;
    const fmt = (e: { ms: number[]; taken: number }) => {
      if (e.ms.length === 0) return `none quiet of ${e.taken}`;
      const m = median(e.ms);
      return `${m < 1 ? (m * 1000).toFixed(1) + ' µs' : m.toFixed(3) + ' ms'} (spread ${(((Math.max(...e.ms) - Math.min(...e.ms)) / m) * 100).toFixed(0)}%, ${e.ms.length}/${e.taken} quiet)`;
    };
    const loads = [...one.loads, ...two.loads];
    const others = [...one.others, ...two.others];
    const range = (a: number[]) => (a.length ? `${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)}` : '?');
    const speedup = one.ms.length && two.ms.length ? `${(median(one.ms) / median(two.ms)).toFixed(2)}×` : '?';
    console.log(`${shapeLabel(shape)}: 1T ${fmt(one)}, 2T ${fmt(two)}, speedup ${speedup}; load ${range(loads)}, other processes ${range(others)} core; ${two.note}`);
  }
}

const at = process.argv.indexOf('--one');
if (at >= 0) await runOne(JSON.parse(process.argv[at + 1]!) as One);
else main();
