/**
 * The child side of the benchmark (`--worker JOB`): one fresh Node process measures one
 * implementation on one shape and prints one JSON line. Fresh processes keep one
 * measurement's JIT and wasm tier state from leaking into the next.
 */
import { BACKEND_NAMES, createAttention, isBackendAvailable, type BackendName } from '../src/index.js';
import { checkOutput } from './check.js';
import { measureDecode, measureReadBound, prepareDecode, type DecodeCase } from './decode-cases.js';
import { measureGemmRate } from './gemm-case.js';
import { timeCalls, type Prepared, type TimingOptions, type Timing } from './measure.js';
import { measureCallOverhead, type WasmBackendName } from './overhead-case.js';
import { PEERS, peerRequire } from './peers/index.js';
import { makeInputs, type Inputs, type Shape } from './shapes.js';
import { measureThreads } from './threads-cases.js';

/**
 * Names of the measurements beside the plain backends and peers:
 * - `<backend> kv-cache`: one decode step through the KV-cache API (bench/decode-cases.ts);
 * - `<wasm backend> gemm`: the two plain GEMMs of a shape on that kernel build (bench/gemm-case.ts);
 * - `read bound`: reading the K/V bytes of a decode shape once in WASM, the bandwidth floor.
 */
export const KV_CACHE_SUFFIX = ' kv-cache';
export const GEMM_SUFFIX = ' gemm';
/**
 * `<wasm backend> pinned`: the attention call on PinnedTensors (q, k, v and out made by
 * `createTensor`, read and written in place: no copies in or out), measured beside the
 * `gemm` rows, whose operands also sit in WASM memory: the two rates compare kernel to kernel.
 */
export const PINNED_SUFFIX = ' pinned';
export const READ_BOUND = 'read bound';
/** `<backend> kv-cache f16`: the KV-cache decode step with a float16 cache (bench/decode-cases.ts `measureDecode`, no correctness gate). */
export const KV_CACHE_F16_SUFFIX = ' kv-cache f16';
/** `<backend> kv-cache int8`: the same step with an int8 cache (quantised K/V: no float32 gate). */
export const KV_CACHE_I8_SUFFIX = ' kv-cache int8';
/** `read bound f16` / `read bound int8`: the read bound of the float16 / int8 cache's bytes (int8: its row scales included). */
export const READ_BOUND_F16 = 'read bound f16';
export const READ_BOUND_I8 = 'read bound int8';
/** `<wasm backend> 1T` / `<wasm backend> 2T`: the `threads` set (bench/threads-cases.ts `measureThreads`). */
export const THREAD_COUNTS = [1, 2] as const;

/** `wasm-simd 2T` → { backend: 'wasm-simd', threads: 2 }; undefined for anything else (e.g. 'onnxruntime-web 2T'). */
export function parseThreadsImpl(impl: string): { backend: BackendName; threads: number } | undefined {
  const match = /^(.*) (\d+)T$/.exec(impl);
  if (!match || !(BACKEND_NAMES as readonly string[]).includes(match[1]!)) return undefined;
  return { backend: match[1] as BackendName, threads: Number(match[2]) };
}

/**
 * The single-threaded WASM backends and their kernel builds: the ones bench/gemm-case.ts
 * and bench/overhead-case.ts can instrument (other backends get no gemm row or overhead split).
 */
export const KERNEL_BUILDS: Readonly<Record<string, 'simd' | 'relaxed'>> = { 'wasm-relaxed-simd': 'relaxed', 'wasm-simd': 'simd' };

/** Per-call overhead of a WASM backend (bench/overhead-case.ts), in ms. */
export interface Breakdown {
  readonly callMs: number;
  /** Validation, plan building, output allocation. */
  readonly boundaryMs: number;
  /** Layout, parameter block, copies in and out. */
  readonly marshalMs: number;
  /** The WASM `attention` export alone. */
  readonly kernelMs: number;
  /** The call with q, k, v, out as PinnedTensors (no copies), and the kernel alone on its plan. */
  readonly pinnedCallMs: number;
  readonly pinnedKernelMs: number;
}

/** The decode step of a one-query shape: every head has its own K/V (MHA), float32. */
function decodeCaseOf(s: Shape): DecodeCase {
  return { heads: s.heads, kvHeads: s.heads, cached: s.seqLenK, headDim: s.headDim, dtype: 'float32' };
}

export interface Job extends TimingOptions {
  readonly impl: string;
  readonly shape: Shape;
  /** A call slower than this (the checked first call) is not timed: reported as skipped. */
  readonly maxCallMs: number;
  /** Also measure the per-call overhead breakdown (wasm backends on small shapes). */
  readonly breakdown: boolean;
  readonly peersDir: string;
}

export interface WorkerResult extends Partial<Timing> {
  readonly impl: string;
  readonly firstCallMs: number;
  readonly maxAbsError: number;
  readonly rowsChecked: number;
  readonly note?: string;
  readonly details?: string;
  readonly skipped?: string;
  readonly breakdown?: Breakdown;
  /** Bytes the call must read (K and V), for shapes where bandwidth bounds it. */
  readonly bytesRead?: number;
  /** 1-minute load average before and after the measurement (threads rows). */
  readonly loadAverage?: readonly [number, number];
  /** Threads the instance actually ran (threads rows). */
  readonly threads?: number;
}

export interface ProbeResult {
  readonly backends: { name: BackendName; available: boolean }[];
  readonly kernelExports: string[];
}

/**
 * wasm-attention through its public API: on plain arrays, the way a user calls it (a new
 * output array per call), or, `pinned`, on q, k, v and out made by `createTensor` (inputs
 * copied in once, here, outside timing; the kernel reads and writes them in place).
 */
async function prepareOurs(name: BackendName, shape: Shape, inputs: Inputs, pinned = false): Promise<Prepared> {
  const attn = await createAttention({ backend: name });
  if (attn.backend !== name) throw new Error(`asked for backend '${name}', got '${attn.backend}'`);
  const { batch: B, heads: H, seqLenQ, seqLenK, headDim: D, causal } = shape;
  const tensor = (data: Float32Array, length: number) => {
    const shape = [B, H, length, D];
    if (!pinned) return { data, shape };
    const inMemory = attn.createTensor(shape);
    inMemory.data.set(data);
    return inMemory;
  };
  const q = tensor(inputs.q, seqLenQ);
  const k = tensor(inputs.k, seqLenK);
  const v = tensor(inputs.v, seqLenK);
  const out = pinned ? attn.createTensor([B, H, seqLenQ, D]) : undefined;
  let result: Float32Array = new Float32Array(0);
  const call = (): void => {
    result = attn.attention(q, k, v, { causal, out }).output.data;
  };
  return {
    call,
    isAsync: false,
    async output() {
      call();
      return out ? result.slice() : result;
    },
  };
}

async function prepare(job: Job, inputs: Inputs): Promise<Prepared> {
  if ((BACKEND_NAMES as readonly string[]).includes(job.impl)) return prepareOurs(job.impl as BackendName, job.shape, inputs);
  if (job.impl.endsWith(PINNED_SUFFIX)) return prepareOurs(job.impl.slice(0, -PINNED_SUFFIX.length) as BackendName, job.shape, inputs, true);
  if (job.impl.endsWith(KV_CACHE_SUFFIX)) {
    // The cache holds exactly these inputs' K/V, so the step passes the same correctness gate.
    return prepareDecode(job.impl.slice(0, -KV_CACHE_SUFFIX.length) as BackendName, decodeCaseOf(job.shape), inputs);
  }
  const peer = PEERS[job.impl];
  if (!peer) throw new Error(`unknown implementation '${job.impl}'`);
  return peer({
    shape: job.shape,
    inputs,
    require: peerRequire(job.peersDir),
    check: (name, output) => void checkOutput(name, job.shape, inputs, output),
    pilot: async (call) => (await timeCalls(call, true, { runs: 1, minMs: job.minMs })).medianMs,
  });
}

/** The plain-GEMM reference rate; gemm-case checks sampled entries of C before timing. */
async function measureGemm(job: Job): Promise<WorkerResult> {
  const build = KERNEL_BUILDS[job.impl.slice(0, -GEMM_SUFFIX.length)];
  if (!build) throw new Error(`no plain-GEMM build for '${job.impl}'`);
  const rate = await measureGemmRate(build, job.shape, job);
  const note = 'Q·Kᵀ and S·V as two plain GEMMs per head, B operands pre-packed outside timing';
  return { ...rate, impl: job.impl, firstCallMs: 0, maxAbsError: rate.maxAbsError, rowsChecked: 0, note };
}

/** The memory-bandwidth floor of a decode step: one SIMD read of its K/V bytes. */
async function measureRead(job: Job): Promise<WorkerResult> {
  const dtype = job.impl === READ_BOUND_F16 ? 'float16' : job.impl === READ_BOUND_I8 ? 'int8' : 'float32';
  const result = await measureReadBound({ ...decodeCaseOf(job.shape), dtype }, job);
  return { ...result, impl: job.impl, firstCallMs: 0, maxAbsError: 0, rowsChecked: 0, note: result.note, bytesRead: result.cacheBytes };
}

/** One shape on 1 or N threads of one instance (bench/threads-cases.ts); output not checked there. */
async function measureThreadsRow(job: Job, backend: BackendName, threads: number): Promise<WorkerResult> {
  const r = await measureThreads(job.shape, threads, backend, job);
  if (r.backend !== backend) throw new Error(`asked for backend '${backend}', got '${r.backend}'`);
  const ran = r.threads === threads ? '' : ` (asked ${threads}, ran ${r.threads})`;
  const load = `load ${r.loadAverage[0].toFixed(2)}→${r.loadAverage[1].toFixed(2)}`;
  const { batch, heads, kvHeads = heads, seqLenQ, seqLenK, headDim } = job.shape;
  const bytesRead = seqLenQ === 1 ? 2 * batch * kvHeads * seqLenK * headDim * 4 : undefined;
  return { ...r, impl: job.impl, firstCallMs: 0, maxAbsError: 0, rowsChecked: 0, note: `${r.note}${ran}; ${load}`, bytesRead };
}

/** The decode step with a float16 or int8 cache (`measureDecode`): rounding of K/V is outside the f32 gate, so unchecked. */
async function measureDecodeF16(job: Job): Promise<WorkerResult> {
  const int8 = job.impl.endsWith(KV_CACHE_I8_SUFFIX);
  const backend = job.impl.slice(0, -(int8 ? KV_CACHE_I8_SUFFIX : KV_CACHE_F16_SUFFIX).length) as BackendName;
  const r = await measureDecode(backend, { ...decodeCaseOf(job.shape), dtype: int8 ? 'int8' : 'float16' }, job);
  return { ...r, impl: job.impl, firstCallMs: 0, maxAbsError: 0, rowsChecked: 0, note: `${r.note} (unchecked)`, bytesRead: r.cacheBytes };
}

async function measure(job: Job): Promise<WorkerResult> {
  if (job.impl.endsWith(GEMM_SUFFIX)) return measureGemm(job);
  if (job.impl.endsWith(KV_CACHE_F16_SUFFIX) || job.impl.endsWith(KV_CACHE_I8_SUFFIX)) return measureDecodeF16(job);
  const threaded = parseThreadsImpl(job.impl);
  if (threaded) return measureThreadsRow(job, threaded.backend, threaded.threads);
  if (job.impl === READ_BOUND || job.impl === READ_BOUND_F16 || job.impl === READ_BOUND_I8) return measureRead(job);
  const inputs = makeInputs(job.shape);
  const prepared = await prepare(job, inputs);
  const start = performance.now();
  const output = await prepared.output();
  const firstCallMs = performance.now() - start;
  const { maxAbsError, rowsChecked } = checkOutput(job.impl, job.shape, inputs, output);
  const base = { impl: job.impl, firstCallMs, maxAbsError, rowsChecked, note: prepared.note, details: prepared.details };
  if (firstCallMs > job.maxCallMs) {
    return { ...base, skipped: `one call took ${(firstCallMs / 1000).toFixed(1)} s (> --max-call-ms ${job.maxCallMs})` };
  }
  const timing = await timeCalls(prepared.call, prepared.isAsync, job);
  let breakdown: Breakdown | undefined;
  if (job.breakdown) {
    const r = await measureCallOverhead(job.impl as WasmBackendName, job.shape, job);
    breakdown = {
      callMs: r.total.medianMs, boundaryMs: r.boundaryMs, marshalMs: r.marshalMs, kernelMs: r.kernel.medianMs,
      pinnedCallMs: r.totalPinned.medianMs, pinnedKernelMs: r.kernelPinned.medianMs,
    };
  }
  const { batch, heads, seqLenQ, seqLenK, headDim } = job.shape;
  const bytesRead = seqLenQ === 1 ? 2 * batch * heads * seqLenK * headDim * 4 : undefined;
  return { ...base, ...timing, breakdown, bytesRead };
}

async function probe(): Promise<ProbeResult> {
  // The testing build: the default kernels plus the hooks the benchmark calls (gemm, readSum).
  const { testingSimdBase64 } = await import('../src/gen/testing-kernels.js');
  const module = new WebAssembly.Module(Buffer.from(testingSimdBase64, 'base64'));
  return {
    backends: BACKEND_NAMES.map((name) => ({ name, available: isBackendAvailable(name) })),
    kernelExports: WebAssembly.Module.exports(module).map((e) => e.name),
  };
}

/** Entry of a worker process: `--worker probe` or `--worker <JSON job>`. Prints one JSON line, then exits. */
export async function runWorker(arg: string): Promise<never> {
  const result = arg === 'probe' ? await probe() : await measure(JSON.parse(arg) as Job);
  // Exit explicitly: onnxruntime-web's thread pool would keep the process alive.
  await new Promise<void>((resolve) => process.stdout.write(`\n${JSON.stringify(result)}\n`, () => resolve()));
  process.exit(0);
}
