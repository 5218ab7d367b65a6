/**
 * The backward backend on the WASM kernels of assembly/backward.ts: one module instance and
 * memory per attention instance (apart from the forward's), the call's tensors copied in,
 * the gradients copied out. Memory grows only when a call needs more than any before.
 *
 *   heapBase → [params][position offsets][key lengths][alibi slopes][q][k][v][bias][out][dout][lse][dq][dk][dv][dbias][scratch]
 */
import { rangeError } from '../errors.js';
import { MAX_BYTES, PAGE_BYTES } from '../limits.js';
import { writeParamBlock } from '../backends/wasm/params.js';
import { BACKWARD_PARAM, BACKWARD_PARAM_BYTES } from './abi-params.js';
import type { BackwardBackend, BackwardPlan } from './plan.js';

/** Exports of the backward builds (`build/attention-backward-*.wasm`). */
export interface BackwardExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  kernelIsa(): number;
  backwardScratchBytes(params: number): number;
  /** Units [first, end) (unit = b·kvHeads + kvHead); the gradients must be zero on entry. */
  attentionBackward(params: number, first: number, end: number): number;
  attentionLse(params: number, first: number, end: number): number;
}

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Byte addresses of one call's regions. */
export interface BackwardLayout {
  readonly params: number;
  readonly positionOffsets: number;
  readonly keyLengths: number;
  readonly alibiSlopes: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly bias: number;
  readonly out: number;
  readonly dout: number;
  readonly lse: number;
  readonly dq: number;
  readonly dk: number;
  readonly dv: number;
  readonly dbias: number;
  readonly scratch: number;
}

/** Lays out `plan` from `base`. */
export function layoutBackward(plan: BackwardPlan, base: number): BackwardLayout {
  let cursor = align(base);
  const take = (elements: number) => {
    const at = cursor;
    cursor = align(cursor + elements * 4);
    return at;
  };
  return {
    params: take(BACKWARD_PARAM_BYTES / 4),
    positionOffsets: take(plan.batch),
    keyLengths: plan.keyLengths ? take(plan.batch) : 0,
    alibiSlopes: plan.alibiSlopes ? take(plan.qHeads) : 0,
    q: take(plan.q.length),
    k: take(plan.k.length),
    v: take(plan.v.length),
    bias: plan.bias ? take(plan.bias.length) : 0,
    out: take(plan.out.length),
    dout: take(plan.dout.length),
    lse: take(plan.lse.length),
    dq: take(plan.dq.length),
    dk: take(plan.dk.length),
    dv: take(plan.dv.length),
    dbias: plan.dbias ? take(plan.dbias.length) : 0,
    scratch: cursor,
  };
}

/** Writes the parameter block of `plan` at `layout.params` (forward fields, then the backward ones). */
export function writeBackwardParams(i32: Int32Array, f32: Float32Array, plan: BackwardPlan, layout: BackwardLayout, scratchBytes: number): void {
  writeParamBlock(i32, f32, layout.params, plan, {
    q: { ptr: layout.q, strides: plan.qStrides },
    k: { ptr: layout.k, strides: plan.kStrides },
    v: { ptr: layout.v, strides: plan.vStrides },
    out: { ptr: layout.out, strides: plan.outStrides },
    positionOffsetsPtr: layout.positionOffsets,
    alibiSlopesPtr: layout.alibiSlopes,
    keyLengthsPtr: layout.keyLengths,
    biasPtr: layout.bias,
    weightsPtr: 0,
    weightsStage: 'probs',
    scratchPtr: layout.scratch,
    scratchBytes,
  });
  const p = layout.params >>> 2;
  i32[p + BACKWARD_PARAM.DOUT_PTR] = layout.dout;
  i32[p + BACKWARD_PARAM.ROW_LSE_PTR] = layout.lse;
  i32[p + BACKWARD_PARAM.DQ_PTR] = layout.dq;
  i32[p + BACKWARD_PARAM.DK_PTR] = layout.dk;
  i32[p + BACKWARD_PARAM.DV_PTR] = layout.dv;
  i32[p + BACKWARD_PARAM.DBIAS_PTR] = layout.dbias;
}

/** Copies the plan's inputs in and zero-fills its gradient regions. */
export function copyBackwardInputs(i32: Int32Array, f32: Float32Array, plan: BackwardPlan, layout: BackwardLayout): void {
  i32.set(plan.positionOffsets, layout.positionOffsets >>> 2);
  if (plan.alibiSlopes) f32.set(plan.alibiSlopes, layout.alibiSlopes >>> 2);
  if (plan.keyLengths) i32.set(plan.keyLengths, layout.keyLengths >>> 2);
  f32.set(plan.q, layout.q >>> 2);
  f32.set(plan.k, layout.k >>> 2);
  f32.set(plan.v, layout.v >>> 2);
  if (plan.bias) f32.set(plan.bias, layout.bias >>> 2);
  f32.set(plan.out, layout.out >>> 2);
  f32.set(plan.dout, layout.dout >>> 2);
  f32.set(plan.lse, layout.lse >>> 2);
  // dq accumulates in place and untouched key blocks stay 0: the regions start at zero.
  f32.fill(0, layout.dq >>> 2, (layout.scratch >>> 2));
}

/** Copies the gradients (and the lse) out. */
export function copyBackwardOutputs(f32: Float32Array, plan: BackwardPlan, layout: BackwardLayout): void {
  const out = (dst: Float32Array, at: number) => dst.set(f32.subarray(at >>> 2, (at >>> 2) + dst.length));
  out(plan.dq, layout.dq);
  out(plan.dk, layout.dk);
  out(plan.dv, layout.dv);
  if (plan.dbias) out(plan.dbias, layout.dbias);
}

/** A backward backend on an instantiated backward build. */
export function createWasmBackward(module: WebAssembly.Module): BackwardBackend & { memoryBytes(): number } {
  const kernel = new WebAssembly.Instance(module, {}).exports as unknown as BackwardExports;
  const memory = kernel.memory;
  const heapBase = kernel.heapBase();
  let f32 = new Float32Array(memory.buffer);
  let i32 = new Int32Array(memory.buffer);

  function ensure(bytes: number): void {
    if (bytes > MAX_BYTES) throw rangeError('attentionBackward', `a call that fits in WASM memory (at most ${MAX_BYTES} bytes)`, `one that needs ${bytes} bytes`);
    if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE_BYTES));
    if (f32.buffer !== memory.buffer) {
      f32 = new Float32Array(memory.buffer);
      i32 = new Int32Array(memory.buffer);
    }
  }

  /** Lays out, sizes and fills memory for `plan`; returns the layout. */
  function prepare(plan: BackwardPlan): BackwardLayout {
    const layout = layoutBackward(plan, heapBase);
    ensure(layout.scratch);
    writeBackwardParams(i32, f32, plan, layout, 0);
    const scratchBytes = kernel.backwardScratchBytes(layout.params);
    ensure(layout.scratch + scratchBytes);
    writeBackwardParams(i32, f32, plan, layout, scratchBytes);
    copyBackwardInputs(i32, f32, plan, layout);
    return layout;
  }

  const units = (plan: BackwardPlan) => plan.batch * plan.kvHeads;
  return {
    name: kernel.kernelIsa() === 1 ? 'wasm-relaxed-simd' : 'wasm-simd',
    lse(plan) {
      const layout = prepare(plan);
      kernel.attentionLse(layout.params, 0, units(plan));
      plan.lse.set(f32.subarray(layout.lse >>> 2, (layout.lse >>> 2) + plan.lse.length));
    },
    run(plan) {
      const layout = prepare(plan);
      kernel.attentionBackward(layout.params, 0, units(plan));
      copyBackwardOutputs(f32, plan, layout);
    },
    memoryBytes: () => memory.buffer.byteLength,
  };
}
