/**
 * `KVCache`: per-sequence lengths over a backend's cache storage (src/cache/engine.ts).
 * Validates at the boundary and copies only the appended rows; every check happens before
 * the first write, so a rejected `append` leaves the cache exactly as it was.
 */
import { checkInteger, checkIntegerArray, formatShape, rangeError, typeError } from '../errors.js';
import { checkBytes } from '../limits.js';
import { callOptions, ownOptions, checkShape, checkTensor, type CheckedTensor } from '../tensor-input.js';
import type { Layout, Tensor } from '../types.js';
import { stridesFor } from '../layout.js';
import { halfDecodeTable } from '../float16.js';
import { readElements, writeElements } from './convert.js';
import { dequantizeRow, firstNonFinite, quantizeRow, scaleView } from './int8.js';
import type { CacheEngine, CacheShape, CacheStorage, StorageElements } from './engine.js';
import { InFlight } from './in-flight.js';
import { checkNotDetached } from './pinned.js';
import type { AppendOptions, CacheDtype, KVCache, KVCacheOptions } from './types.js';
import { maxPositions, resolveRotation } from '../positions/options.js';
import { gatherAngles, rotateHeads, type Rotation } from '../positions/rotate.js';
import { halfArrayToFloat32 } from '../float16.js';

/** Default growth: at least double, so a growing cache is copied O(log maxSeqLen) times. */
const GROWTH = 2;

function checkCacheOptions(options: unknown): Required<Omit<KVCacheOptions, 'rotary'>> & { rotation: Rotation | null } {
  if (typeof options !== 'object' || options === null) throw typeError('options', 'an object { batch, kvHeads, headDim, maxSeqLen }', options);
  const o = ownOptions<KVCacheOptions>('options', options, ['batch', 'kvHeads', 'headDim', 'valueDim', 'maxSeqLen', 'dtype', 'initialSeqLen', 'rotary']);
  const batch = checkInteger('options.batch', o.batch, 1);
  const kvHeads = checkInteger('options.kvHeads', o.kvHeads, 1);
  const headDim = checkInteger('options.headDim', o.headDim, 1);
  const valueDim = o.valueDim === undefined ? headDim : checkInteger('options.valueDim', o.valueDim, 1);
  const maxSeqLen = checkInteger('options.maxSeqLen', o.maxSeqLen, 1);
  if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'float16' && o.dtype !== 'int8') {
    throw typeError('options.dtype', "'float32' | 'float16' | 'int8'", o.dtype);
  }
  const dtype: CacheDtype = o.dtype ?? 'float32';
  const initialSeqLen = o.initialSeqLen === undefined ? maxSeqLen : checkInteger('options.initialSeqLen', o.initialSeqLen, 1, maxSeqLen);
  // The size limit of every backend (src/limits.ts), for K and V together at maxSeqLen,
  // counted as the WASM backends store them (rows padded to 16 bytes; int8: + the scale) on every backend.
  const elementBytes = dtype === 'float16' ? 2 : dtype === 'int8' ? 1 : 4;
  const rowBytes = (dim: number) => Math.ceil((dim * elementBytes) / 16) * 16 + (dtype === 'int8' ? 4 : 0);
  const bytes = batch * kvHeads * maxSeqLen * (rowBytes(headDim) + rowBytes(valueDim));
  checkBytes('options.maxSeqLen', 'a cache (K and V)', bytes, `${batch}·${kvHeads}·${maxSeqLen} rows of ${rowBytes(headDim)} + ${rowBytes(valueDim)} bytes`);
  const rotation = o.rotary === undefined ? null : resolveRotation('options.rotary', o.rotary, headDim).rotation;
  return { batch, kvHeads, headDim, valueDim, maxSeqLen, dtype, initialSeqLen, rotation };
}

interface SplitRows {
  readonly batch: number;
  readonly heads: number;
  readonly seqLen: number;
  readonly dim: number;
  /** Element strides of [batch, head, seq] (dim stride 1). */
  readonly strides: { batch: number; head: number; seq: number };
}

/** Splits a k/v tensor shape by layout, checking it against the cache's heads and dim. */
function splitRows(name: string, tensor: CheckedTensor, layout: Layout | undefined, heads: number, dim: number, dimName: string): SplitRows {
  const shape = tensor.shape;
  let batch: number, seqLen: number, h: number, d: number;
  if (shape.length === 4) {
    if ((layout ?? 'bhsd') === 'bhsd') [batch, h, seqLen, d] = shape as [number, number, number, number];
    else [batch, seqLen, h, d] = shape as [number, number, number, number];
  } else if (shape.length === 3) {
    [batch, seqLen] = shape as [number, number];
    h = heads;
    d = shape[2]! / heads;
    if (shape[2] !== heads * dim) {
      throw rangeError(`${name}.shape[2]`, `kvHeads·${dimName} = ${heads}·${dim} = ${heads * dim} (packed [batch, seq, kvHeads·${dimName}])`, `${shape[2]} (shape ${formatShape(shape)})`);
    }
  } else {
    throw rangeError(`${name}.shape`, 'rank 4 ([batch, kvHeads, seq, dim] or [batch, seq, kvHeads, dim]) or rank 3 ([batch, seq, kvHeads·dim])', `rank ${shape.length} ${formatShape(shape)}`);
  }
  const headAxis = shape.length === 3 ? 2 : (layout ?? 'bhsd') === 'bhsd' ? 1 : 2;
  if (h !== heads) throw rangeError(`${name}.shape[${headAxis}]`, `the cache's kvHeads = ${heads}`, `${h} (shape ${formatShape(shape)})`);
  if (d !== dim) throw rangeError(`${name}.shape[${shape.length - 1}]`, `the cache's ${dimName} = ${dim}`, `${d} (shape ${formatShape(shape)})`);
  // Packed rows have the strides of bshd.
  const strides = stridesFor(shape.length === 4 && (layout ?? 'bhsd') === 'bhsd' ? 'bhsd' : 'bshd', heads, seqLen, dim);
  return { batch, heads, seqLen, dim, strides };
}

export class KVCacheImpl implements KVCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly maxSeqLen: number;
  readonly dtype: CacheDtype;
  private storage: CacheStorage | null;
  private readonly seqLengths: Int32Array;
  /** Some stored half is Inf or NaN (float16 storage only): the kernel must convert exactly. Cleared by reset(). */
  nonFinite = false;
  /** `decodeAsync` calls using this cache (src/cache/in-flight.ts). */
  readonly inFlight = new InFlight();
  /** The rotary embedding of the keys (applied at append) and of decode's queries, or null. */
  readonly rotation: Rotation | null;

  constructor(readonly engine: CacheEngine, options: unknown) {
    const o = checkCacheOptions(options);
    this.batch = o.batch;
    this.kvHeads = o.kvHeads;
    this.headDim = o.headDim;
    this.valueDim = o.valueDim;
    this.maxSeqLen = o.maxSeqLen;
    this.dtype = o.dtype;
    this.rotation = o.rotation;
    this.seqLengths = new Int32Array(o.batch);
    const shape: CacheShape = { batch: o.batch, kvHeads: o.kvHeads, headDim: o.headDim, valueDim: o.valueDim, dtype: o.dtype };
    this.storage = engine.createCache(shape, o.initialSeqLen);
  }

  /** The storage, or a TypeError naming `name` when the cache was disposed. */
  live(name: string): CacheStorage {
    if (!this.storage) throw new TypeError(`${name}: expected a live KVCache, got a disposed KVCache`);
    return this.storage;
  }

  /** The lengths array itself (no copy), for plans. */
  get lengthsView(): Int32Array {
    return this.seqLengths;
  }

  get length(): number {
    let longest = 0;
    for (const length of this.seqLengths) longest = Math.max(longest, length);
    return longest;
  }

  get lengths(): Int32Array {
    return this.seqLengths.slice();
  }

  get capacity(): number {
    return this.storage?.capacity ?? 0;
  }

  get byteLength(): number {
    return this.storage?.byteLength ?? 0;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  append(k: Tensor, v: Tensor, options?: AppendOptions): void {
    const storage = this.live('cache');
    this.inFlight.checkIdle('cache.append', 'cache');
    const opts = callOptions<AppendOptions>(options, ['layout', 'lengths']);
    const layout = opts.layout;
    if (layout !== undefined && layout !== 'bhsd' && layout !== 'bshd') throw typeError('options.layout', "'bhsd' | 'bshd'", layout);
    checkNotDetached('k', k);
    checkNotDetached('v', v);
    let key = checkTensor('k', k, undefined);
    let value = checkTensor('v', v, key.dtype);
    if (value.shape.length !== key.shape.length) {
      throw rangeError('v.shape', `rank ${key.shape.length} like k`, `rank ${value.shape.length} ${formatShape(value.shape)}`);
    }
    const kRows = splitRows('k', key, layout, this.kvHeads, this.headDim, 'headDim');
    const vRows = splitRows('v', value, layout, this.kvHeads, this.valueDim, 'valueDim');
    if (kRows.batch !== this.batch) throw rangeError('k.shape[0]', `the cache's batch = ${this.batch}`, `${kRows.batch}`);
    if (vRows.batch !== this.batch) throw rangeError('v.shape[0]', `the cache's batch = ${this.batch}`, `${vRows.batch}`);
    if (vRows.seqLen !== kRows.seqLen) {
      throw rangeError(`v.shape[${key.shape.length === 4 && (layout ?? 'bhsd') === 'bhsd' ? 2 : 1}]`, `${kRows.seqLen} (the rows of k)`, `${vRows.seqLen}`);
    }
    const newRows = this.checkAppendLengths(opts.lengths, kRows.seqLen);
    if (this.dtype === 'int8') {
      for (const [name, t] of [['k', key], ['v', value]] as const) {
        const at = firstNonFinite(t.data as Float32Array | Uint16Array, t.dtype === 'float16');
        if (at >= 0) throw rangeError(`${name}.data[${at}]`, 'a finite value (an int8 cache stores no Inf/NaN)', `${t.data[at]}`);
      }
    }
    if (this.rotation) key = this.rotateKeys(key, kRows, newRows, this.rotation);

    // Grow first (the only step that may fail after validation: a refused memory growth
    // leaves the old storage in place), then write.
    let need = 0;
    for (let b = 0; b < this.batch; b++) need = Math.max(need, this.seqLengths[b]! + newRows[b]!);
    if (need > storage.capacity) {
      // Growing the storage may grow WASM memory, which detaches every view of it: k or v
      // there (this instance's PinnedTensors, or views of them) are copied first. Rare (a
      // growth copies the whole cache anyway), and off the per-token path.
      if (storage.inMemory(key.data)) key = { ...key, data: key.data.slice() };
      if (storage.inMemory(value.data)) value = { ...value, data: value.data.slice() };
      storage.resize(Math.min(this.maxSeqLen, Math.max(need, Math.ceil(storage.capacity * GROWTH))), this.seqLengths);
    }
    // int8 storages of the int8 and threads builds quantise in the kernel (appendInt8).
    if (!storage.appendInt8?.(key, value, kRows, vRows, newRows, this.seqLengths)) {
      const nonFiniteK = this.writeRows(storage.keys(), storage.keyRowStride, key, kRows, newRows);
      const nonFiniteV = this.writeRows(storage.values(), storage.valueRowStride, value, vRows, newRows);
      this.nonFinite ||= nonFiniteK || nonFiniteV;
    }
    for (let b = 0; b < this.batch; b++) this.seqLengths[b]! += newRows[b]!;
  }

  /**
   * The keys rotated at their cache positions (row t of sequence b at lengths[b] + t), in
   * a new f32 array of the same strides: once per appended row, never at decode time.
   * @throws RangeError when a position falls outside the cos/sin tables (before any write)
   */
  private rotateKeys(key: CheckedTensor, rows: SplitRows, newRows: Int32Array, rotation: Rotation): CheckedTensor {
    const tableRows = maxPositions(rotation);
    for (let b = 0; b < this.batch; b++) {
      const last = this.seqLengths[b]! + newRows[b]! - 1;
      if (newRows[b]! > 0 && last >= tableRows) {
        throw rangeError('k', `rows whose cache positions are rows of the rotary cos/sin tables, in [0, ${tableRows - 1}]`, `position ${last} (sequence ${b})`);
      }
    }
    const positions = new Int32Array(this.batch * rows.seqLen);
    for (let b = 0; b < this.batch; b++) {
      // Rows past newRows[b] are not stored: any position in the tables will do for them.
      for (let t = 0; t < rows.seqLen; t++) positions[b * rows.seqLen + t] = t < newRows[b]! ? this.seqLengths[b]! + t : 0;
    }
    const src = key.dtype === 'float16' ? halfArrayToFloat32(key.data as Uint16Array) : key.data;
    const rotated = new Float32Array(src.length);
    rotateHeads(rotated, src, { batch: this.batch, heads: this.kvHeads, seqLen: rows.seqLen, headDim: this.headDim }, rows.strides, rotation, gatherAngles(rotation, positions));
    return { dtype: 'float32', data: rotated, shape: key.shape };
  }

  private checkAppendLengths(value: unknown, seqLen: number): Int32Array {
    // Plain numbers only (no bigint entries, unlike keyLengths).
    const rows = value == null ? new Int32Array(this.batch).fill(seqLen) : checkIntegerArray('options.lengths', value, this.batch, 'one per sequence', seqLen, false);
    for (let b = 0; b < this.batch; b++) {
      const after = this.seqLengths[b]! + rows[b]!;
      if (after > this.maxSeqLen) {
        throw rangeError(
          'k',
          `at most ${this.maxSeqLen - this.seqLengths[b]!} new rows for sequence ${b} (maxSeqLen ${this.maxSeqLen}, length ${this.seqLengths[b]})`,
          `${rows[b]} rows`,
        );
      }
    }
    return rows;
  }

  /**
   * Writes the new rows, converted to the storage's dtype (an int8 row quantised with its
   * scale, src/cache/int8.ts); returns true when a written half is Inf/NaN.
   */
  private writeRows(dst: StorageElements, rowStride: number, src: CheckedTensor, rows: SplitRows, newRows: Int32Array): boolean {
    let nonFinite = false;
    const capacity = this.storage!.capacity;
    const dim = rows.dim;
    const srcHalf = src.dtype === 'float16';
    const half = this.dtype === 'float16';
    const scales = this.dtype === 'int8' ? scaleView(dst as Int8Array) : null;
    const table = scales && srcHalf ? halfDecodeTable() : null;
    for (let b = 0; b < this.batch; b++) {
      const count = newRows[b]!;
      for (let h = 0; h < this.kvHeads; h++) {
        const dstRow0 = ((b * this.kvHeads + h) * capacity + this.seqLengths[b]!) * rowStride;
        const srcRow0 = b * rows.strides.batch + h * rows.strides.head;
        if (rowStride === dim && rows.strides.seq === dim) {
          // Rows contiguous on both sides: one copy for the head (never int8: its rows end in a scale).
          nonFinite = writeElements(dst, dstRow0, src.data, srcRow0, count * dim, srcHalf, half) || nonFinite;
          continue;
        }
        for (let s = 0; s < count; s++) {
          const at = srcRow0 + s * rows.strides.seq;
          if (scales) quantizeRow(dst as Int8Array, scales, dstRow0 + s * rowStride, rowStride - 4, src.data, at, dim, table);
          else nonFinite = writeElements(dst, dstRow0 + s * rowStride, src.data, at, dim, srcHalf, half) || nonFinite;
        }
      }
    }
    return nonFinite;
  }

  reset(): void {
    this.live('cache');
    this.inFlight.checkIdle('cache.reset', 'cache');
    this.seqLengths.fill(0);
    this.nonFinite = false;
  }

  truncate(length: number): void {
    this.live('cache');
    this.inFlight.checkIdle('cache.truncate', 'cache');
    const rows = checkInteger('length', length, 0, this.maxSeqLen);
    for (let b = 0; b < this.batch; b++) this.seqLengths[b] = Math.min(this.seqLengths[b]!, rows);
  }

  dispose(): void {
    if (!this.storage) return;
    this.inFlight.checkIdle('cache.dispose', 'cache');
    this.storage.free();
    this.storage = null;
  }

  read(start?: number, end?: number): { k: Tensor; v: Tensor } {
    const storage = this.live('cache');
    const length = this.length;
    const first = start === undefined ? 0 : checkInteger('start', start, 0, length);
    const last = end === undefined ? length : checkInteger('end', end, first, length);
    const rows = last - first;
    const half = this.dtype === 'float16';
    const int8 = this.dtype === 'int8';
    const readOut = (src: Float32Array | Uint16Array | Int8Array, rowStride: number, dim: number): Tensor => {
      const scales = int8 ? scaleView(src as Int8Array) : null;
      const out = half ? new Uint16Array(this.batch * this.kvHeads * rows * dim) : new Float32Array(this.batch * this.kvHeads * rows * dim);
      for (let b = 0; b < this.batch; b++) {
        const valid = Math.max(0, Math.min(last, this.seqLengths[b]!) - first);
        for (let h = 0; h < this.kvHeads; h++) {
          const head = b * this.kvHeads + h;
          for (let s = 0; s < valid; s++) {
            const row = (head * storage.capacity + first + s) * rowStride;
            if (scales) dequantizeRow(out as Float32Array, (head * rows + s) * dim, src as Int8Array, scales, row, rowStride - 4, dim);
            else readElements(out, (head * rows + s) * dim, src as Float32Array | Uint16Array, row, dim);
          }
        }
      }
      return { data: out, shape: [this.batch, this.kvHeads, rows, dim] };
    };
    return {
      k: readOut(storage.keys(), storage.keyRowStride, this.headDim),
      v: readOut(storage.values(), storage.valueRowStride, this.valueDim),
    };
  }
}

/** Checks a `shape` for `createTensor`: an array of positive integers. */
export function checkTensorShape(shape: unknown): number[] {
  // Positive, as documented: a PinnedTensor of no elements has no storage to pin.
  const dims = checkShape('shape', shape, 1);
  if (dims.length === 0) throw rangeError('shape', 'at least one dimension', '[]');
  return dims;
}
