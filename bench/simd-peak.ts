/**
 * This machine's 128-bit WASM SIMD peak, per kernel build (issue #15, "prefill near this
 * CPU's peak"): the FLOP rate of `chains` independent dependency chains of
 * acc = acc·c + c on f32x4 lanes, as the simd build computes it (f32x4.mul then f32x4.add,
 * inline/madd.ts) and as the relaxed build does (one f32x4.relaxed_madd, an FMA where the
 * CPU has one). 8 FLOPs per chain step (4 lanes, multiply and add), the nominal count of the
 * bench's GEMM and attention rows, so the three rates compare directly. The chains are
 * independent, so the rate is bound by the issue ports, not by latency, once there are
 * enough of them (latency × ports: mul+add 3+3 cycles on 4 ports, FMA 4 cycles on 2 on an
 * AMD Zen 4); more than 13 accumulators spill out of x64's 16 XMM registers (V8 uses no
 * more), so a few counts are tried and the best kept.
 *
 * The module is written here byte by byte (12 instructions' worth of encoding), not with
 * AssemblyScript: binaryen would be free to fold or reorder the chains, and the point is
 * the instruction mix V8 is given.
 *
 *   node scripts/run-ts.mjs bench/simd-peak.ts [--rounds 7]
 *   import { measureSimdPeak } from './simd-peak.js';
 */
import { cpus, loadavg } from 'node:os';

export type PeakBuild = 'simd' | 'relaxed';

export interface SimdPeak {
  readonly build: PeakBuild;
  /** What one chain step is: `f32x4.mul + f32x4.add` or `f32x4.relaxed_madd`. */
  readonly instructions: string;
  /** The best rate over the chain counts and rounds, GFLOP/s. */
  readonly gflops: number;
  /** The chain count that gave it. */
  readonly chains: number;
  /** Median over the rounds of each round's best, GFLOP/s (the spread the machine's load adds). */
  readonly medianGflops: number;
  /** The best rate of each chain count, GFLOP/s: how many chains a GEMM tile needs (assembly/gemm/f32-gemm-3x12.ts). */
  readonly byChains: readonly { chains: number; gflops: number }[];
}

const UNROLL = 4;
const CHAIN_COUNTS = [8, 9, 10, 12] as const;

/** Unsigned LEB128, as every wasm index and opcode immediate is written. */
function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

const SIMD = 0xfd;
const op = (code: number) => [SIMD, ...leb(code)];
const F32X4_SPLAT = op(0x13), F32X4_EXTRACT_LANE = op(0x1f), F32X4_ADD = op(0xe4), F32X4_MUL = op(0xe6);
const F32X4_RELAXED_MADD = op(0x105);
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, F32_CONST = 0x43, F32_ADD = 0x92;
const I32_CONST = 0x41, I32_SUB = 0x6b, LOOP = 0x03, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;

const f32Bytes = (x: number) => [...new Uint8Array(new Float32Array([x]).buffer)];
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const vector = (items: number[][]) => [...leb(items.length), ...items.flat()];

/**
 * `peak(steps: i32) -> f32`: `steps` × UNROLL chain steps on each of `chains` accumulators
 * (locals 2..chains+1; local 1 holds c = 0.5, so every chain converges to 1: no overflow,
 * no subnormals), then the sum of the accumulators' lane 0 (every chain stays live).
 */
export function peakModuleBytes(build: PeakBuild, chains: number): Uint8Array<ArrayBuffer> {
  const acc = (i: number) => 2 + i;
  const body: number[] = [];
  body.push(F32_CONST, ...f32Bytes(0.5), ...F32X4_SPLAT, LOCAL_SET, 1);
  for (let i = 0; i < chains; i++) body.push(F32_CONST, ...f32Bytes(1 + i / 64), ...F32X4_SPLAT, LOCAL_SET, acc(i));
  body.push(LOOP, VOID);
  for (let u = 0; u < UNROLL; u++) {
    for (let i = 0; i < chains; i++) {
      if (build === 'relaxed') body.push(LOCAL_GET, acc(i), LOCAL_GET, 1, LOCAL_GET, 1, ...F32X4_RELAXED_MADD);
      else body.push(LOCAL_GET, acc(i), LOCAL_GET, 1, ...F32X4_MUL, LOCAL_GET, 1, ...F32X4_ADD);
      body.push(LOCAL_SET, acc(i));
    }
  }
  // steps -= 1; loop while steps != 0 (the caller passes steps >= 1)
  body.push(LOCAL_GET, 0, I32_CONST, 1, I32_SUB, LOCAL_SET, 0, LOCAL_GET, 0, BR_IF, 0, END);
  body.push(F32_CONST, ...f32Bytes(0));
  for (let i = 0; i < chains; i++) body.push(LOCAL_GET, acc(i), ...F32X4_EXTRACT_LANE, 0, F32_ADD);
  body.push(END);
  const V128 = 0x7b, I32 = 0x7f, F32 = 0x7d;
  const locals = vector([[...leb(chains + 1), V128]]);
  const code = [...locals, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([[0x60, 1, I32, 1, F32]])), // type: (i32) -> f32
    ...section(3, vector([[0]])), // one function of type 0
    ...section(7, vector([[...leb(4), ...new TextEncoder().encode('peak'), 0x00, 0]])), // export "peak"
    ...section(10, vector([[...leb(code.length), ...code]])),
  ]);
}

/** Whether this runtime validates the build's peak module (relaxed SIMD: Node 22+, or Node 20 with its flag). */
export function peakAvailable(build: PeakBuild): boolean {
  return WebAssembly.validate(peakModuleBytes(build, CHAIN_COUNTS[0]));
}

type Peak = (steps: number) => number;

function instantiate(build: PeakBuild, chains: number): Peak {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(peakModuleBytes(build, chains)), {});
  return instance.exports.peak as Peak;
}

/** GFLOP/s of one timed call of about `ms` milliseconds (steps calibrated from a first call). */
function rate(peak: Peak, chains: number, steps: number): number {
  const started = performance.now();
  peak(steps);
  const ms = performance.now() - started;
  return (steps * UNROLL * chains * 8) / ms / 1e6;
}

/**
 * The peak of each build, alternating builds and chain counts within each round (so both
 * builds meet the same moments of a shared machine), calls of ≈ 20 ms. Unavailable builds
 * are left out.
 */
export function measureSimdPeak(rounds = 7, builds: readonly PeakBuild[] = ['simd', 'relaxed']): SimdPeak[] {
  const runnable = builds.filter(peakAvailable);
  const kernels = runnable.map((build) => CHAIN_COUNTS.map((chains) => ({ chains, peak: instantiate(build, chains) })));
  // Warm-up: past V8's baseline tier (Liftoff), whose v128 locals live in memory.
  const steps = kernels.map((row) => row.map(({ peak }) => {
    let n = 1 << 14;
    for (let i = 0; i < 8; i++) {
      const t = performance.now();
      peak(n);
      const ms = performance.now() - t;
      n = Math.max(1, Math.round((n * 20) / Math.max(ms, 0.05)));
    }
    return n;
  }));
  const best = runnable.map(() => CHAIN_COUNTS.map(() => 0));
  const roundBest: number[][] = runnable.map(() => []);
  for (let r = 0; r < rounds; r++) {
    runnable.forEach((_, b) => {
      let roundMax = 0;
      kernels[b]!.forEach(({ chains, peak }, c) => {
        const g = rate(peak, chains, steps[b]![c]!);
        best[b]![c] = Math.max(best[b]![c]!, g);
        roundMax = Math.max(roundMax, g);
      });
      roundBest[b]!.push(roundMax);
    });
  }
  return runnable.map((build, b) => {
    const c = best[b]!.indexOf(Math.max(...best[b]!));
    const sorted = [...roundBest[b]!].sort((x, y) => x - y);
    return {
      build,
      instructions: build === 'relaxed' ? 'f32x4.relaxed_madd' : 'f32x4.mul + f32x4.add',
      gflops: best[b]![c]!,
      chains: CHAIN_COUNTS[c]!,
      medianGflops: sorted[sorted.length >> 1]!,
      byChains: CHAIN_COUNTS.map((chains, i) => ({ chains, gflops: best[b]![i]! })),
    };
  });
}

/** One line per build, for the bench's notes. */
export function describePeak(peak: SimdPeak): string {
  return `${peak.build} (${peak.instructions}, ${peak.chains} chains): ${peak.gflops.toFixed(1)} GFLOP/s best, ${peak.medianGflops.toFixed(1)} median of rounds`;
}

// Run as the bundle scripts/run-ts.mjs builds (build/simd-peak.run.mjs), not when imported.
if (process.argv[1]?.endsWith('simd-peak.run.mjs')) {
  const roundsAt = process.argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 7;
  const peaks = measureSimdPeak(rounds);
  console.log(`128-bit WASM SIMD peak, one thread (${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.versions.node}, load ${loadavg()[0]!.toFixed(1)}):`);
  for (const peak of peaks) {
    console.log(`  ${describePeak(peak)}`);
    console.log(`    by chain count: ${peak.byChains.map(({ chains, gflops }) => `${chains} → ${gflops.toFixed(1)}`).join(', ')} GFLOP/s`);
  }
  if (!peaks.some((p) => p.build === 'relaxed')) console.log('  relaxed: not available in this runtime (Node 20 needs --experimental-wasm-relaxed-simd)');
}
