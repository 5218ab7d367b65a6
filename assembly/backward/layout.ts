// The backward kernels' view of one call: the parameter block (assembly/abi.ts followed by
// ./abi.ts) read once into a struct, and the scratch regions, 16-byte aligned.
//
// Scratch, per call (each thread has its own call block and scratch: the threads builds,
// assembly/backward-threads.ts, run several calls on one shared memory at once):
//   call   the Call struct below, read from the parameter block ({@link callOf})
//   lims   [4] i32: the allowed key counts of gradRows4's four rows
//   kt     [headDim][BLOCK_KEYS]   the key block transposed (zero past the block's keys)
//   vt     [valueDim][BLOCK_KEYS]  the value block transposed
//   dk     [BLOCK_KEYS][headDim4]  the key block's dK accumulators (headDim4 = headDim rounded up to 4)
//   dv     [BLOCK_KEYS][valueDim4] its dV accumulators
//   s, p, dl, bias, dots  [4][BLOCK_KEYS] up to four rows' scores (then dS), probabilities, dlogits,
//          bias, and raw dot products (rows4.ts)
//   pChunk, dlChunk [CHUNK_ROWS][BLOCK_KEYS]  a chunk of rows' p and dl, for the dK/dV update
//   rowO, rowQ      [CHUNK_ROWS] usize        the chunk's dO and Q row addresses
//   delta  [qHeads/kvHeads][seqLenQ] rowsum(dO ∘ O) of the unit's query heads (the LSE pass: row maxima)
//   rowSum [qHeads/kvHeads][seqLenQ] the LSE pass's running sums
// 16 keys per block: four f32x4 lanes per row of kt/vt, so a row's scores are four
// accumulators held in registers across the headDim loop.
import {
  paramI32, paramF32, BATCH, Q_HEADS, KV_HEADS, SEQ_LEN_Q, SEQ_LEN_K, HEAD_DIM, VALUE_DIM,
  Q_PTR, Q_BATCH_STRIDE, Q_HEAD_STRIDE, Q_SEQ_STRIDE, K_PTR, K_BATCH_STRIDE, K_HEAD_STRIDE, K_SEQ_STRIDE,
  V_PTR, V_BATCH_STRIDE, V_HEAD_STRIDE, V_SEQ_STRIDE, OUT_PTR, OUT_BATCH_STRIDE, OUT_HEAD_STRIDE, OUT_SEQ_STRIDE,
  SCALE, SOFTCAP, WINDOW_LEFT, WINDOW_RIGHT, POSITION_OFFSETS_PTR, ALIBI_SLOPES_PTR, KEY_LENGTHS_PTR, BIAS_PTR, BIAS_BATCH_STRIDE, BIAS_HEAD_STRIDE,
  BIAS_QUERY_STRIDE, SCRATCH_PTR,
} from '../abi';
import { DOUT_PTR, ROW_LSE_PTR, DQ_PTR, DK_PTR, DV_PTR, DBIAS_PTR } from './abi';

export const BLOCK_KEYS: i32 = 16;
/**
 * Rows whose p and dl are gathered before dK and dV are updated (kv-tiles.ts): the update's
 * accumulator tiles are loaded and stored once per chunk. 64 rows: 4 KiB per buffer, and the
 * chunk's Q (or dO) rows, 16 KiB at D64, stay in L1 across the update's four key tiles.
 */
export const CHUNK_ROWS: i32 = 64;

@inline function align16(bytes: usize): usize {
  return (bytes + 15) & ~(<usize>15);
}

/** Scratch bytes of the Call struct and of the four rows' key counts (see the header). */
const CALL_BYTES: usize = (offsetof<Call>() + 15) & ~(<usize>15);
const LIMS_BYTES: usize = 16;

/** Bytes of scratch a call needs (see the header). */
export function backwardScratchBytes(params: usize): i32 {
  const headDim = paramI32(params, HEAD_DIM);
  const valueDim = paramI32(params, VALUE_DIM);
  const group = paramI32(params, Q_HEADS) / paramI32(params, KV_HEADS);
  const rows = <usize>(headDim + valueDim + ((headDim + 3) & ~3) + ((valueDim + 3) & ~3) + 20 + 2 * CHUNK_ROWS) * BLOCK_KEYS;
  const rowAddresses = align16(<usize>(2 * CHUNK_ROWS) * sizeof<usize>());
  return <i32>(CALL_BYTES + LIMS_BYTES + align16(rows * 4) + rowAddresses + 2 * align16(<usize>group * paramI32(params, SEQ_LEN_Q) * 4));
}

/**
 * One call's fields, read once per call. Pointers are byte addresses; strides are in bytes
 * here. Unmanaged and placed at the start of the call's scratch ({@link callOf}): not the
 * stub runtime's allocator (it would take memory from __heap_base, which belongs to the
 * host), and not a static data segment, which threads sharing one memory would share.
 */
@unmanaged @final export class Call {
  batch: i32; qHeads: i32; kvHeads: i32; seqLenQ: i32; seqLenK: i32; headDim: i32; valueDim: i32;
  q: usize; qB: usize; qH: usize; qS: usize;
  k: usize; kB: usize; kH: usize; kS: usize;
  v: usize; vB: usize; vH: usize; vS: usize;
  o: usize; oB: usize; oH: usize; oS: usize;
  dout: usize; lse: usize; dq: usize; dk: usize; dv: usize; dbias: usize;
  scale: f32; softcap: f32;
  /** Window bounds (-1 = unbounded; causal is right = min(right, 0)), src/key-range.ts. */
  left: i32; right: i32;
  positionOffsets: usize; alibiSlopes: usize; keyLengths: usize;
  bias: usize; biasB: usize; biasH: usize; biasQ: usize;
  // scratch
  lims: usize; kt: usize; vt: usize; dkAcc: usize; dvAcc: usize; sRow: usize; pRow: usize; dlRow: usize; biasRow: usize; dots: usize;
  pChunk: usize; dlChunk: usize; rowO: usize; rowQ: usize; delta: usize; rowSum: usize;

  init(params: usize): Call {
    this.batch = paramI32(params, BATCH);
    this.qHeads = paramI32(params, Q_HEADS);
    this.kvHeads = paramI32(params, KV_HEADS);
    this.seqLenQ = paramI32(params, SEQ_LEN_Q);
    this.seqLenK = paramI32(params, SEQ_LEN_K);
    this.headDim = paramI32(params, HEAD_DIM);
    this.valueDim = paramI32(params, VALUE_DIM);
    this.q = <usize>paramI32(params, Q_PTR);
    this.qB = <usize>paramI32(params, Q_BATCH_STRIDE) << 2;
    this.qH = <usize>paramI32(params, Q_HEAD_STRIDE) << 2;
    this.qS = <usize>paramI32(params, Q_SEQ_STRIDE) << 2;
    this.k = <usize>paramI32(params, K_PTR);
    this.kB = <usize>paramI32(params, K_BATCH_STRIDE) << 2;
    this.kH = <usize>paramI32(params, K_HEAD_STRIDE) << 2;
    this.kS = <usize>paramI32(params, K_SEQ_STRIDE) << 2;
    this.v = <usize>paramI32(params, V_PTR);
    this.vB = <usize>paramI32(params, V_BATCH_STRIDE) << 2;
    this.vH = <usize>paramI32(params, V_HEAD_STRIDE) << 2;
    this.vS = <usize>paramI32(params, V_SEQ_STRIDE) << 2;
    this.o = <usize>paramI32(params, OUT_PTR);
    this.oB = <usize>paramI32(params, OUT_BATCH_STRIDE) << 2;
    this.oH = <usize>paramI32(params, OUT_HEAD_STRIDE) << 2;
    this.oS = <usize>paramI32(params, OUT_SEQ_STRIDE) << 2;
    this.dout = <usize>paramI32(params, DOUT_PTR);
    this.lse = <usize>paramI32(params, ROW_LSE_PTR);
    this.dq = <usize>paramI32(params, DQ_PTR);
    this.dk = <usize>paramI32(params, DK_PTR);
    this.dv = <usize>paramI32(params, DV_PTR);
    this.dbias = <usize>paramI32(params, DBIAS_PTR);
    this.scale = paramF32(params, SCALE);
    this.softcap = paramF32(params, SOFTCAP);
    this.left = paramI32(params, WINDOW_LEFT);
    this.right = paramI32(params, WINDOW_RIGHT);
    this.positionOffsets = <usize>paramI32(params, POSITION_OFFSETS_PTR);
    this.alibiSlopes = <usize>paramI32(params, ALIBI_SLOPES_PTR);
    this.keyLengths = <usize>paramI32(params, KEY_LENGTHS_PTR);
    this.bias = <usize>paramI32(params, BIAS_PTR);
    this.biasB = <usize>paramI32(params, BIAS_BATCH_STRIDE) << 2;
    this.biasH = <usize>paramI32(params, BIAS_HEAD_STRIDE) << 2;
    this.biasQ = <usize>paramI32(params, BIAS_QUERY_STRIDE) << 2;
    const scratch = <usize>paramI32(params, SCRATCH_PTR);
    this.lims = scratch + CALL_BYTES;
    const keys = <usize>BLOCK_KEYS << 2;
    const rowsOf4 = keys << 2;
    this.kt = this.lims + LIMS_BYTES;
    this.vt = this.kt + <usize>this.headDim * keys;
    this.dkAcc = this.vt + <usize>this.valueDim * keys;
    this.dvAcc = this.dkAcc + <usize>((this.headDim + 3) & ~3) * keys;
    this.sRow = this.dvAcc + <usize>((this.valueDim + 3) & ~3) * keys;
    this.pRow = this.sRow + rowsOf4;
    this.dlRow = this.pRow + rowsOf4;
    this.biasRow = this.dlRow + rowsOf4;
    this.dots = this.biasRow + rowsOf4;
    this.pChunk = this.dots + rowsOf4;
    this.dlChunk = this.pChunk + <usize>CHUNK_ROWS * keys;
    this.rowO = this.dlChunk + <usize>CHUNK_ROWS * keys;
    this.rowQ = this.rowO + <usize>CHUNK_ROWS * sizeof<usize>();
    this.delta = align16(this.rowQ + <usize>CHUNK_ROWS * sizeof<usize>());
    this.rowSum = this.delta + align16(<usize>(this.qHeads / this.kvHeads) * this.seqLenQ * 4);
    return this;
  }

  /** Keys of batch item b: [0, keyLength). */
  @inline keyLength(b: i32): i32 {
    return this.keyLengths != 0 ? load<i32>(this.keyLengths + (<usize>b << 2)) : this.seqLenK;
  }

  /** Query i of item b sits at key position i + offset(b) (always filled by the host). */
  @inline offset(b: i32): i32 {
    return load<i32>(this.positionOffsets + (<usize>b << 2));
  }

  /** ALiBi slope of query head h, 0 without ALiBi. */
  @inline slope(h: i32): f32 {
    return this.alibiSlopes != 0 ? load<f32>(this.alibiSlopes + (<usize>h << 2)) : 0;
  }

  /** First query row whose keys reach key j0 (end(i) > j0): 0 unless the right bound is finite. */
  @inline firstRow(j0: i32, offset: i32): i32 {
    return this.right < 0 ? 0 : <i32>max<i64>(0, <i64>j0 - <i64>offset - <i64>this.right);
  }
}

/** The call block `params`, read into the Call at the start of its scratch (SCRATCH_PTR). */
export function callOf(params: usize): Call {
  return changetype<Call>(<usize>paramI32(params, SCRATCH_PTR)).init(params);
}
