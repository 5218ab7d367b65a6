// Keys outside a window are never read, proved by the memory itself: K and V rows are laid
// out R = 4 MiB apart (the seq stride), so that only the window's rows lie inside linear
// memory. Row addresses are u32 sums (wasm32 wraps them), so a row before the window lands
// at base − k·R mod 2^32 (near 4 GiB) and a row after it at base + k·R ≥ the memory's end:
// reading either traps ("memory access out of bounds") instead of returning a value. Each
// kernel path runs such a plan and must return the float64 answer over the window's keys:
// the fused prefill block, the decode rows (float32, float16 fast and
// exact) and the key-split decode (decodeRange × 2, merged by the host: mergeKeySplits).
import { describe, expect, it } from 'vitest';
import { PARAM, PARAM_BYTES } from '../../src/backends/wasm/abi';
import { floatToHalf } from '../../src/float16';
import { mergeKeySplits } from '../../src/threads/decode';
import type { CachedPlan } from '../../src/cache/engine';
import { BUILDS, loadKernel, rng } from './kernel-util';

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  scratchBytes(params: number): number;
  attention(params: number): number;
  decode(params: number, kvDtype: number): number;
  decodeScratchBytes(params: number, kvDtype: number): number;
  decodeRange(params: number, kvDtype: number, first: number, stride: number): number;
  decodePartialsBytes(params: number): number;
}

const MIB = 1 << 20;
const ROW_GAP = 4 * MIB; // R: the byte stride between consecutive key rows
const BASE = MIB; // byte address of the window's first K row (< R: a row before it wraps)
const V_SHIFT = 2 * MIB; // V row r sits V_SHIFT after K row r
const HEAD_DIM = 32;

interface WindowPlan {
  readonly name: string;
  readonly seqLenQ: number;
  readonly qHeads: number;
  readonly seqLenK: number;
  readonly offset: number;
  readonly window: [number, number];
  /** The union of the rows' key ranges: the only rows laid out in memory. */
  readonly keys: [number, number];
}

const PLANS: WindowPlan[] = [
  // Decode step at position 599 of 600 keys, window 15 back: keys [584, 600).
  { name: 'step_window_15_back', seqLenQ: 1, qHeads: 2, seqLenK: 600, offset: 599, window: [15, 0], keys: [584, 600] },
  // Four queries at positions 600..603 of 900 keys, 7 back and 5 ahead: keys [593, 609);
  // keys 609..899 exist and lie past the memory's end.
  { name: 'block_window_7_5_keys_after', seqLenQ: 4, qHeads: 1, seqLenK: 900, offset: 600, window: [7, 5], keys: [593, 609] },
];

describe.each(BUILDS)('window reads only its keys (%s)', (build) => {
  const run = (plan: WindowPlan, path: 'fused' | 'decode-f32' | 'decode-f16' | 'decode-f16-exact' | 'split') => {
    const kernel = loadKernel(build) as unknown as Exports;
    const half = path === 'decode-f16' || path === 'decode-f16-exact';
    const [first, end] = plan.keys;
    const windowRows = end - first;
    const memoryEnd = BASE + windowRows * ROW_GAP; // row `end` starts exactly here
    kernel.memory.grow(Math.ceil((memoryEnd - kernel.memory.buffer.byteLength) / 65536));
    expect(kernel.memory.buffer.byteLength, 'memory ends where row `end` would start').toBe(memoryEnd);

    // Inputs: exact halves (multiples of 2^-10 in [-1, 1]), so float16 rows hold them exactly.
    const random = rng(first + plan.seqLenQ);
    const value = () => Math.round((random() * 2 - 1) * 1024) / 1024;
    const rows = (count: number) => Array.from({ length: count }, () => Float64Array.from({ length: HEAD_DIM }, value));
    const kRows = rows(windowRows), vRows = rows(windowRows), qRows = rows(plan.qHeads * plan.seqLenQ);

    let at = kernel.heapBase();
    const take = (bytes: number) => {
      const ptr = Math.ceil(at / 16) * 16;
      at = ptr + bytes;
      return ptr;
    };
    const params = take(PARAM_BYTES), q = take(qRows.length * HEAD_DIM * 4), out = take(qRows.length * HEAD_DIM * 4);
    const offsets = take(4);
    const weightsLength = plan.qHeads * plan.seqLenQ * plan.seqLenK;
    // Weights (stage 'probs') from the decode kernel: 0 outside the range, never visited there.
    const weights = path === 'decode-f32' || path === 'split' ? take(weightsLength * 4) : 0;
    const i32 = new Int32Array(kernel.memory.buffer), f32 = new Float32Array(kernel.memory.buffer);
    const u16 = new Uint16Array(kernel.memory.buffer);
    const set = (field: number, x: number) => (i32[params / 4 + field] = x);
    i32.fill(0, params / 4, (params + PARAM_BYTES) / 4);
    set(PARAM.BATCH, 1); set(PARAM.Q_HEADS, plan.qHeads); set(PARAM.KV_HEADS, 1);
    set(PARAM.SEQ_LEN_Q, plan.seqLenQ); set(PARAM.SEQ_LEN_K, plan.seqLenK);
    set(PARAM.HEAD_DIM, HEAD_DIM); set(PARAM.VALUE_DIM, HEAD_DIM);
    // K/V pointers: row j at BASE + (j − first)·R (mod 2^32), so row `first` is at BASE.
    const elementBytes = half ? 2 : 4;
    const kPtr = (BASE - first * ROW_GAP) >>> 0;
    set(PARAM.K_PTR, kPtr | 0); set(PARAM.K_SEQ_STRIDE, ROW_GAP / elementBytes);
    set(PARAM.V_PTR, ((kPtr + V_SHIFT) >>> 0) | 0); set(PARAM.V_SEQ_STRIDE, ROW_GAP / elementBytes);
    set(PARAM.Q_PTR, q); set(PARAM.Q_HEAD_STRIDE, plan.seqLenQ * HEAD_DIM); set(PARAM.Q_SEQ_STRIDE, HEAD_DIM);
    set(PARAM.OUT_PTR, out); set(PARAM.OUT_HEAD_STRIDE, plan.seqLenQ * HEAD_DIM); set(PARAM.OUT_SEQ_STRIDE, HEAD_DIM);
    new Float32Array(kernel.memory.buffer, params + PARAM.SCALE * 4, 1)[0] = 1 / Math.sqrt(HEAD_DIM);
    set(PARAM.WINDOW_LEFT, plan.window[0]); set(PARAM.WINDOW_RIGHT, plan.window[1]);
    set(PARAM.POSITION_OFFSETS_PTR, offsets); i32[offsets / 4] = plan.offset;
    set(PARAM.WEIGHTS_PTR, weights); set(PARAM.WEIGHTS_STAGE, 3);
    for (let r = 0; r < windowRows; r++) {
      for (let d = 0; d < HEAD_DIM; d++) {
        const kAt = BASE + r * ROW_GAP, vAt = BASE + V_SHIFT + r * ROW_GAP;
        if (half) {
          u16[kAt / 2 + d] = floatToHalf(kRows[r]![d]!);
          u16[vAt / 2 + d] = floatToHalf(vRows[r]![d]!);
        } else {
          f32[kAt / 4 + d] = kRows[r]![d]!;
          f32[vAt / 4 + d] = vRows[r]![d]!;
        }
      }
    }
    qRows.forEach((row, n) => f32.set(row, q / 4 + n * HEAD_DIM));
    if (weights) f32.fill(12345, weights / 4, weights / 4 + weightsLength);

    const kvDtype = path === 'decode-f16' ? 1 : path === 'decode-f16-exact' ? 2 : 0;
    const decodeKernel = path !== 'fused';
    if (path === 'split') set(PARAM.KEY_SPLITS, 2);
    const partialsBytes = path === 'split' ? kernel.decodePartialsBytes(params) : 0;
    if (path === 'split') set(PARAM.PARTIALS_PTR, take(partialsBytes));
    const scratchBytes = decodeKernel ? kernel.decodeScratchBytes(params, kvDtype) : kernel.scratchBytes(params);
    const scratch = take(scratchBytes);
    expect(at, 'the small regions fit below the window rows').toBeLessThan(BASE);
    set(PARAM.SCRATCH_PTR, scratch); set(PARAM.SCRATCH_BYTES, scratchBytes);

    // Runs; a read outside the window traps (RuntimeError), failing the test.
    if (path === 'split') {
      expect(kernel.decodeRange(params, 0, 0, 2)).toBe(0);
      expect(kernel.decodeRange(params, 0, 1, 2)).toBe(0);
      // The host's merge of the two ranges' partial states (src/threads/decode.ts): it reads no K or V.
      const outStrides = { batch: plan.qHeads * plan.seqLenQ * HEAD_DIM, head: plan.seqLenQ * HEAD_DIM, seq: HEAD_DIM };
      const merged = { batch: 1, qHeads: plan.qHeads, kvHeads: 1, seqLenQ: plan.seqLenQ, seqLenK: plan.seqLenK, valueDim: HEAD_DIM, outStrides } as CachedPlan;
      mergeKeySplits(kernel.memory.buffer, merged, { layout: { out, weights, lse: 0 } as never, partialsPtr: i32[params / 4 + PARAM.PARTIALS_PTR]!, keySplits: 2 });
    } else if (decodeKernel) {
      expect(kernel.decode(params, kvDtype)).toBe(0);
    } else {
      expect(kernel.attention(params)).toBe(0);
    }

    // float64 answer over each row's own range (the key-range rule, written out).
    const got = new Float32Array(kernel.memory.buffer, out, qRows.length * HEAD_DIM);
    for (let h = 0; h < plan.qHeads; h++) {
      for (let i = 0; i < plan.seqLenQ; i++) {
        const position = i + plan.offset;
        const lo = Math.max(0, position - plan.window[0]), hi = Math.min(plan.seqLenK, position + plan.window[1] + 1);
        const qRow = qRows[h * plan.seqLenQ + i]!;
        const scores: number[] = [];
        for (let j = lo; j < hi; j++) scores.push(qRow.reduce((sum, x, d) => sum + x * kRows[j - first]![d]!, 0) / Math.sqrt(HEAD_DIM));
        const max = Math.max(...scores);
        const p = scores.map((s) => Math.exp(s - max));
        const total = p.reduce((a, b) => a + b, 0);
        for (let d = 0; d < HEAD_DIM; d++) {
          const want = p.reduce((sum, pj, n) => sum + pj * vRows[lo + n - first]![d]!, 0) / total;
          const index = (h * plan.seqLenQ + i) * HEAD_DIM + d;
          expect(Math.abs(got[index]! - want), `${plan.name} ${path} h${h} i${i} d${d}: got ${got[index]}, want ${want}`).toBeLessThanOrEqual(2e-5 + 1e-4 * Math.abs(want));
        }
        if (weights) {
          const row = new Float32Array(kernel.memory.buffer, weights + (h * plan.seqLenQ + i) * plan.seqLenK * 4, plan.seqLenK);
          for (let j = 0; j < plan.seqLenK; j++) {
            const want = j >= lo && j < hi ? p[j - lo]! / total : 0;
            expect(Math.abs(row[j]! - want), `${plan.name} weights h${h} i${i} j${j}`).toBeLessThanOrEqual(1e-6 + 1e-4 * want);
          }
        }
      }
    }
  };

  for (const plan of PLANS) {
    it(`${plan.name}: fused prefill block`, () => run(plan, 'fused'));
    it(`${plan.name}: decode rows, float32`, () => run(plan, 'decode-f32'));
    it(`${plan.name}: decode rows, float16 fast`, () => run(plan, 'decode-f16'));
    it(`${plan.name}: decode rows, float16 exact`, () => run(plan, 'decode-f16-exact'));
    it(`${plan.name}: decode key split × 2 + merge`, () => run(plan, 'split'));
  }
  // Not the weights path (assembly/weights/row.ts): it scores every key for its 'logits'
  // stage, so it reads K everywhere by design (a diagnostic path).
});
