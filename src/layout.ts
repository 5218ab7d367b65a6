/**
 * Resolves the shapes of q, k, v (4-D `bhsd` or `bshd`, or packed 3-D `[B, L, H·D]`) into
 * attention dimensions and the element strides of `[batch, head, seq, dim]` views. No data
 * is moved: every layout becomes strides, and the kernels read the caller's layout directly.
 */
import { checkInteger, formatShape, rangeError } from './errors.js';
import type { AttentionDims, HeadStrides } from './plan.js';

export type { AttentionDims };

/** How a tensor's axes map to [batch, head, seq, dim]. */
export type LayoutKind = 'bhsd' | 'bshd' | 'packed';

export interface ResolvedLayout {
  readonly kind: LayoutKind;
  readonly dims: AttentionDims;
  readonly qStrides: HeadStrides;
  readonly kStrides: HeadStrides;
  readonly vStrides: HeadStrides;
  readonly outStrides: HeadStrides;
  /** Shape of the output, in the layout of q. */
  readonly outShape: readonly number[];
}

/** Strides of a contiguous tensor of `heads` heads of `seqLen` rows of `dim`, in a layout. */
export function stridesFor(kind: LayoutKind, heads: number, seqLen: number, dim: number): HeadStrides {
  return kind === 'bhsd'
    ? { batch: heads * seqLen * dim, head: seqLen * dim, seq: dim }
    : { batch: seqLen * heads * dim, head: dim, seq: heads * dim };
}

/** Shape of a tensor of the given sizes, in a layout. */
export function shapeFor(kind: LayoutKind, batch: number, heads: number, seqLen: number, dim: number): number[] {
  if (kind === 'bhsd') return [batch, heads, seqLen, dim];
  if (kind === 'bshd') return [batch, seqLen, heads, dim];
  return [batch, seqLen, heads * dim];
}

/** The axis of a tensor in a layout that holds one of its sizes, to name it in errors. */
export function axisOf(kind: LayoutKind, field: 'batch' | 'heads' | 'seqLen' | 'dim'): number {
  return kind === 'bhsd' ? { batch: 0, heads: 1, seqLen: 2, dim: 3 }[field] : { batch: 0, seqLen: 1, heads: 2, dim: kind === 'bshd' ? 3 : 2 }[field];
}

interface SplitShape {
  batch: number;
  heads: number;
  seqLen: number;
  dim: number;
}

function split(name: string, kind: LayoutKind, shape: readonly number[], heads?: number, headsName?: string): SplitShape {
  if (kind === 'bhsd') return { batch: shape[0]!, heads: shape[1]!, seqLen: shape[2]!, dim: shape[3]! };
  if (kind === 'bshd') return { batch: shape[0]!, seqLen: shape[1]!, heads: shape[2]!, dim: shape[3]! };
  const hidden = shape[2]!;
  if (hidden % heads! !== 0) {
    throw rangeError(
      `${name}.shape[2]`,
      `a multiple of ${headsName} = ${heads} (packed [batch, seq, heads·dim])`,
      `${hidden} (shape ${formatShape(shape)})`,
    );
  }
  return { batch: shape[0]!, seqLen: shape[1]!, heads: heads!, dim: hidden / heads! };
}

/**
 * Resolves the layout of q, k, v. Shapes must already be arrays of positive integers.
 * @throws RangeError on mismatched ranks or dimensions, or `qHeads % kvHeads ≠ 0`.
 * @throws TypeError when 3-D inputs come without `numHeads`.
 */
export function resolveLayout(
  qShape: readonly number[],
  kShape: readonly number[],
  vShape: readonly number[],
  options: { layout?: 'bhsd' | 'bshd'; numHeads?: number; kvHeads?: number },
): ResolvedLayout {
  const rank = qShape.length;
  if (rank !== 3 && rank !== 4) {
    throw rangeError('q.shape', 'rank 4 ([batch, heads, seq, dim] or [batch, seq, heads, dim]) or rank 3 ([batch, seq, heads·dim])', `rank ${rank} ${formatShape(qShape)}`);
  }
  if (kShape.length !== rank) throw rangeError('k.shape', `rank ${rank} like q`, `rank ${kShape.length} ${formatShape(kShape)}`);
  if (vShape.length !== rank) throw rangeError('v.shape', `rank ${rank} like q`, `rank ${vShape.length} ${formatShape(vShape)}`);

  let kind: LayoutKind;
  let qHeadsOption: number | undefined;
  let kvHeadsOption: number | undefined;
  if (rank === 3) {
    kind = 'packed';
    if (options.numHeads === undefined) {
      throw new TypeError('options.numHeads: expected a positive integer for 3-D (packed [batch, seq, heads·dim]) inputs, got undefined');
    }
    qHeadsOption = checkInteger('options.numHeads', options.numHeads, 1);
    kvHeadsOption = options.kvHeads === undefined ? qHeadsOption : checkInteger('options.kvHeads', options.kvHeads, 1);
  } else {
    kind = options.layout ?? 'bhsd';
  }

  const q = split('q', kind, qShape, qHeadsOption, 'options.numHeads');
  const k = split('k', kind, kShape, kvHeadsOption, 'options.kvHeads');
  const v = split('v', kind, vShape, kvHeadsOption, 'options.kvHeads');
  if (rank === 4) {
    if (options.numHeads !== undefined && options.numHeads !== q.heads) {
      throw rangeError('options.numHeads', `the head count of q (${q.heads})`, `${options.numHeads}`);
    }
    if (options.kvHeads !== undefined && options.kvHeads !== k.heads) {
      throw rangeError('options.kvHeads', `the head count of k (${k.heads})`, `${options.kvHeads}`);
    }
  }
  const axis = (field: keyof SplitShape) => axisOf(kind, field);
  const same = (field: keyof SplitShape, aName: string, a: SplitShape, bName: string, b: SplitShape, what: string) => {
    if (a[field] !== b[field]) {
      const i = axis(field);
      throw rangeError(`${bName}.shape[${i}]`, `${a[field]} (${what} of ${aName})`, `${b[field]} (${bName}.shape ${formatShape(bName === 'k' ? kShape : vShape)})`);
    }
  };
  same('batch', 'q', q, 'k', k, 'batch');
  same('batch', 'q', q, 'v', v, 'batch');
  same('dim', 'q', q, 'k', k, 'head dim');
  same('heads', 'k', k, 'v', v, 'heads');
  same('seqLen', 'k', k, 'v', v, 'sequence length');
  if (q.heads % k.heads !== 0) {
    const kvHeadsName = kind === 'packed' ? 'options.kvHeads' : `k.shape[${axis('heads')}]`;
    throw rangeError(kvHeadsName, `a divisor of the ${q.heads} query heads (grouped-query attention)`, `${k.heads}`);
  }
  const dims: AttentionDims = {
    batch: q.batch,
    qHeads: q.heads,
    kvHeads: k.heads,
    seqLenQ: q.seqLen,
    seqLenK: k.seqLen,
    headDim: q.dim,
    valueDim: v.dim,
  };
  // Which tensor axis holds each size, to name it in errors (packed heads come from options, already >= 1).
  const source: Record<keyof AttentionDims, [string, keyof SplitShape]> = {
    batch: ['q', 'batch'],
    qHeads: ['q', 'heads'],
    kvHeads: ['k', 'heads'],
    seqLenQ: ['q', 'seqLen'],
    seqLenK: ['k', 'seqLen'],
    headDim: ['q', 'dim'],
    valueDim: ['v', 'dim'],
  };
  for (const [field, value] of Object.entries(dims) as [keyof AttentionDims, number][]) {
    if (value < 1) {
      const [tensor, part] = source[field];
      throw rangeError(`${tensor}.shape[${axis(part)}]`, `a size >= 1 (${field})`, `${value} (q ${formatShape(qShape)}, k ${formatShape(kShape)}, v ${formatShape(vShape)})`);
    }
  }
  return {
    kind,
    dims,
    qStrides: stridesFor(kind, dims.qHeads, dims.seqLenQ, dims.headDim),
    kStrides: stridesFor(kind, dims.kvHeads, dims.seqLenK, dims.headDim),
    vStrides: stridesFor(kind, dims.kvHeads, dims.seqLenK, dims.valueDim),
    outStrides: stridesFor(kind, dims.qHeads, dims.seqLenQ, dims.valueDim),
    outShape: shapeFor(kind, dims.batch, dims.qHeads, dims.seqLenQ, dims.valueDim),
  };
}
