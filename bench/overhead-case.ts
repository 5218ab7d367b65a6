/**
 * Per-call overhead of a WASM backend (issue #3: "per-call overhead (marshal, dispatch)
 * reported separately and kept under 10% of the call"), measured from inside one process
 * on one backend instance, so every number below comes from the same memory and the
 * same compiled kernel:
 *
 *   total     one `attention()` call as the public API runs it: `runAttention` (what
 *             `AttentionInstance.attention` calls) on a WASM backend, a new output per call;
 *   totalWithOut  the same with `options.out` (one caller-owned output for every call);
 *   totalPinned   the same with q, k, v and `out` as PinnedTensors of the backend (created
 *             once; the kernel reads and writes them in place: no copy in or out);
 *   backend   `backend.run(plan)` on the plan that call built: lay out, write the parameter
 *             block, copy q/k/v in, run the kernel, copy the output out;
 *   kernel    the WASM `attention` export alone, on the parameter block and tensors the
 *             backend already marshalled (what a caller with data already in WASM memory
 *             would pay);
 *   outputAlloc = total − totalWithOut (the new output array: allocation, zeroing, page faults);
 *   boundary = total − backend  (validation, plan building, output allocation);
 *   marshal  = backend − kernel (layout, parameter block, copies in and out);
 *   overhead = total − kernel, reported as a percentage of total;
 *   overheadPinned = totalPinned − kernelPinned (the kernel on the pinned tensors' plan),
 *             as a percentage of totalPinned: what a caller keeping tensors in WASM memory pays.
 *
 * Reaching the kernel's exports needs no hook in src/: `createWasmBackend` instantiates
 * with `new WebAssembly.Instance(module, {})`, so this file swaps that constructor for
 * the duration of the one `createWasmBackend` call and keeps the instance (the backend
 * gets the real one, with an `attention` wrapper that records the parameter block's
 * address, a few ns per call). If the backend ever instantiates another way, this throws.
 *
 * Timing follows bench/measure.ts's method (a warm-up of ≥ `minMs`, then `runs` runs of
 * ≥ `minMs`, median and spread over the runs), except that within a run the three calls
 * take turns call by call, each timed on its own, so that another process or a V8 tier-up
 * slows all three alike (timed one run after the other on this shared 2-core machine,
 * their medians differed by more than the overhead; some differences came out negative).
 * Each part also reports CPU time per call (process.cpuUsage, all threads: it includes
 * page faults and GC, not time the process waits for a core), a cross-check under load.
 * Best of fresh processes is the caller's job.
 */
import { runAttention } from '../src/attention.js';
import { PinnedTensorImpl } from '../src/cache/pinned.js';
import { createWasmBackend, type WasmBackend } from '../src/backends/wasm/backend.js';
import { relaxedKernel, simdKernel } from '../src/gen/kernels.js';
import type { AttentionPlan, Backend } from '../src/plan.js';
import { Workspace } from '../src/workspace.js';
import type { TimingOptions } from './measure.js';
import { flopsOf, makeInputs, shapeLabel, type Shape } from './shapes.js';

export type WasmBackendName = 'wasm-simd' | 'wasm-relaxed-simd';

export interface Part {
  /** Median over the runs of the time per call, ms. */
  readonly medianMs: number;
  /** (slowest run − fastest run) / median, percent. */
  readonly spreadPct: number;
  /** Median over the runs of the CPU time per call (all threads), ms. */
  readonly cpuMs: number;
}

export interface OverheadResult {
  readonly backend: WasmBackendName;
  /** e.g. `H12 N128 D64`. */
  readonly shape: string;
  readonly total: Part;
  /** The same call with `options.out` (a caller-owned output, allocated once). */
  readonly totalWithOut: Part;
  /** The same call with q, k, v, out as PinnedTensors of the backend (no copies). */
  readonly totalPinned: Part;
  /** The kernel alone on the pinned call's parameter block. */
  readonly kernelPinned: Part;
  readonly backendRun: Part;
  readonly kernel: Part;
  /** total − totalWithOut, ms: the new output array of each call (allocation, zeroing, page faults). */
  readonly outputAllocMs: number;
  /** total − backendRun, ms. */
  readonly boundaryMs: number;
  /** backendRun − kernel, ms. */
  readonly marshalMs: number;
  /** total − kernel, ms. */
  readonly overheadMs: number;
  /** 100 · overheadMs / total. */
  readonly overheadPct: number;
  /** 100 · (totalPinned − kernelPinned) / totalPinned. */
  readonly overheadPinnedPct: number;
  /** The same percentage from CPU times: 100 · (total.cpuMs − kernel.cpuMs) / total.cpuMs. */
  readonly overheadCpuPct: number;
  /** Nominal FLOPs / total and / kernel (4·B·H·Lq·Lk·D), GFLOP/s. */
  readonly gflopsTotal: number;
  readonly gflopsKernel: number;
}

interface KernelCapture {
  readonly exports: { attention(params: number): number };
  params: number;
}

/** A WASM backend plus its kernel's `attention` export, reached as described in the header. */
export function createInstrumentedBackend(name: WasmBackendName, module?: WebAssembly.Module): { backend: WasmBackend; capture: KernelCapture } {
  module ??= new WebAssembly.Module(Buffer.from(name === 'wasm-relaxed-simd' ? relaxedKernel : simdKernel, 'hex'));
  const RealInstance = WebAssembly.Instance;
  let capture: KernelCapture | undefined;
  // Only `new WebAssembly.Instance(module, imports)` is intercepted, for this one call.
  const Intercept = function (this: unknown, m: WebAssembly.Module, imports?: WebAssembly.Imports) {
    const instance = new RealInstance(m, imports);
    const real = instance.exports as unknown as { attention(params: number): number };
    const cap: KernelCapture = { exports: real, params: -1 };
    capture = cap;
    const exports = { ...instance.exports, attention: (params: number) => ((cap.params = params), real.attention(params)) };
    return { exports } as WebAssembly.Instance;
  } as unknown as typeof WebAssembly.Instance;
  let backend: WasmBackend;
  (WebAssembly as { Instance: typeof WebAssembly.Instance }).Instance = Intercept;
  try {
    backend = createWasmBackend(module);
  } finally {
    (WebAssembly as { Instance: typeof WebAssembly.Instance }).Instance = RealInstance;
  }
  if (!capture) throw new Error('overhead-case: createWasmBackend did not instantiate through new WebAssembly.Instance; update the capture');
  if (backend.name !== name) throw new Error(`overhead-case: asked for '${name}', the module is a '${backend.name}' build`);
  return { backend, capture };
}

type Key = 'total' | 'totalWithOut' | 'totalPinned' | 'backendRun' | 'kernel' | 'kernelPinned';
/**
 * Turn order. Every call lays out at the same address, so a kernel-only call runs whatever
 * parameter block the call before it wrote: `kernel` must follow `backendRun`, and
 * `kernelPinned` must follow `totalPinned`.
 */
const KEYS: readonly Key[] = ['total', 'totalWithOut', 'backendRun', 'kernel', 'totalPinned', 'kernelPinned'];

/**
 * One run: the calls take turns until at least `minMs` have passed; returns wall and CPU
 * ms per call of each.
 */
function timeRun(calls: Record<Key, () => void>, minMs: number): Record<Key, { wall: number; cpu: number }> {
  const wall = Object.fromEntries(KEYS.map((key) => [key, 0])) as Record<Key, number>;
  const cpu = Object.fromEntries(KEYS.map((key) => [key, 0])) as Record<Key, number>;
  let count = 0;
  const start = performance.now();
  do {
    for (const key of KEYS) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      calls[key]();
      wall[key] += performance.now() - t0;
      const c = process.cpuUsage(c0);
      cpu[key] += (c.user + c.system) / 1000;
    }
    count++;
  } while (performance.now() - start < minMs);
  const per = (key: Key) => ({ wall: wall[key] / count, cpu: cpu[key] / count });
  return Object.fromEntries(KEYS.map((key) => [key, per(key)])) as Record<Key, { wall: number; cpu: number }>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Measures total, backend and kernel-only time per call of one shape on a WASM backend.
 * @param name 'wasm-simd' or 'wasm-relaxed-simd' (Node 20: --experimental-wasm-relaxed-simd)
 * @param shape an attention shape (bench/shapes.ts); inputs are its seeded q, k, v (bhsd)
 * @param timing runs and minimum run length (≥ 5 runs of ≥ 200 ms, as the bench)
 * @param module a compiled kernel build to use instead of the embedded one
 * @returns the three medians, their differences and the overhead as % of the call
 * @throws Error when the build cannot be reached or the kernel returns a nonzero status
 * @example
 * const r = await measureCallOverhead('wasm-relaxed-simd', SHAPE_SETS.tiny!.shapes[0]!);
 * console.log(`${r.overheadPct.toFixed(1)}% of ${r.total.medianMs.toFixed(3)} ms`);
 */
export async function measureCallOverhead(
  name: WasmBackendName,
  shape: Shape,
  timing: TimingOptions = { runs: 5, minMs: 200 },
  module?: WebAssembly.Module,
): Promise<OverheadResult> {
  const { backend, capture } = createInstrumentedBackend(name, module);
  let plan: AttentionPlan | undefined;
  const recording: Backend = {
    name: backend.name,
    run(p) {
      plan = p;
      backend.run(p);
    },
  };
  const { batch: B, heads: H, seqLenQ, seqLenK, headDim: D, causal } = shape;
  const inputs = makeInputs(shape);
  const q = { data: inputs.q, shape: [B, H, seqLenQ, D] };
  const k = { data: inputs.k, shape: [B, H, seqLenK, D] };
  const v = { data: inputs.v, shape: [B, H, seqLenK, D] };
  const workspace = new Workspace();
  // Pinned: tensors in the backend's memory, as `createTensor` makes them; allocated before
  // any call is recorded, since they are laid out where calls' regions start (blocks.top).
  const engine = backend.cacheEngine();
  const pin = (data: Float32Array, shape: number[]) => {
    const tensor = new PinnedTensorImpl(engine.createTensor(data.length), shape, engine);
    tensor.data.set(data);
    return tensor;
  };
  const [qPinned, kPinned, vPinned] = [q, k, v].map(({ data, shape }) => pin(data, shape));
  const outPinned = pin(new Float32Array(B * H * seqLenQ * D), [B, H, seqLenQ, D]);
  const pinnedOptions = { causal, out: outPinned };
  runAttention(recording, workspace, q, k, v, { causal });
  const planned = plan!;
  const params = capture.params;
  runAttention(backend, workspace, qPinned!, kPinned!, vPinned!, pinnedOptions);

  const total = () => void runAttention(backend, workspace, q, k, v, { causal });
  const out = new Float32Array(planned.out.length);
  const totalWithOut = () => void runAttention(backend, workspace, q, k, v, { causal, out });
  const backendRun = () => backend.run(planned);
  const kernel = () => void capture.exports.attention(params);
  if (capture.exports.attention(params) !== 0) throw new Error('overhead-case: the kernel returned a nonzero status');

  const paramsPinned = capture.params;
  if (paramsPinned !== params) throw new Error('overhead-case: the pinned call laid out elsewhere; the turn order of KEYS assumes one address');
  const totalPinned = () => void runAttention(backend, workspace, qPinned!, kPinned!, vPinned!, pinnedOptions);
  const kernelPinned = () => void capture.exports.attention(paramsPinned);

  const calls = { total, totalWithOut, totalPinned, backendRun, kernel, kernelPinned };
  timeRun(calls, timing.minMs); // warm-up
  const runs: Record<Key, { wall: number; cpu: number }>[] = [];
  for (let r = 0; r < timing.runs; r++) runs.push(timeRun(calls, timing.minMs));
  const part = (key: Key): Part => {
    const walls = runs.map((run) => run[key].wall);
    const medianMs = median(walls);
    return { medianMs, spreadPct: ((Math.max(...walls) - Math.min(...walls)) / medianMs) * 100, cpuMs: median(runs.map((run) => run[key].cpu)) };
  };
  const t = part('total');
  const tOut = part('totalWithOut');
  const b = part('backendRun');
  const kn = part('kernel');
  const tPinned = part('totalPinned');
  const knPinned = part('kernelPinned');
  const flops = flopsOf(shape);
  return {
    backend: name,
    shape: shapeLabel(shape),
    total: t,
    totalWithOut: tOut,
    totalPinned: tPinned,
    kernelPinned: knPinned,
    overheadPinnedPct: (100 * (tPinned.medianMs - knPinned.medianMs)) / tPinned.medianMs,
    backendRun: b,
    kernel: kn,
    outputAllocMs: t.medianMs - tOut.medianMs,
    boundaryMs: t.medianMs - b.medianMs,
    marshalMs: b.medianMs - kn.medianMs,
    overheadMs: t.medianMs - kn.medianMs,
    overheadPct: (100 * (t.medianMs - kn.medianMs)) / t.medianMs,
    overheadCpuPct: (100 * (t.cpuMs - kn.cpuMs)) / t.cpuMs,
    gflopsTotal: flops / t.medianMs / 1e6,
    gflopsKernel: flops / kn.medianMs / 1e6,
  };
}
