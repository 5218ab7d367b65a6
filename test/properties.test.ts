/**
 * Property tests (fast-check): random valid calls agree with the float64 reference on every
 * backend; random bad calls (one aspect of a valid call broken) throw the documented error
 * class — TypeError for a wrong kind, RangeError for a wrong size or shape — with a
 * "NAME: expected X, got Y" message, never a wrong answer or a crash, and leave the
 * instance working.
 *
 * Seeds are fixed, so a run is reproducible; fast-check prints the seed and the shrunk
 * counterexample on failure. Set FC_SEED to explore other seeds.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type AttentionOptions } from '../src/index.js';
import { buildCase, expectResult, type BuiltCase, type CaseSpec, type MaskSpec, type TestLayout } from './helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 0x5eed2024;
const NUM_RUNS = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 60;

let instances: AttentionInstance[] = [];
beforeAll(async () => {
  instances = await Promise.all(BACKENDS.map((backend) => createAttention({ backend })));
});

// ---------------------------------------------------------------------------------------
// Random valid calls
// ---------------------------------------------------------------------------------------

const maskArb = fc.record({
  kind: fc.constantFrom('bool' as const, 'additive' as const),
  /** Which of [batch, qHeads, seqLenQ, seqLenK] the mask spans (the others broadcast). */
  spans: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean()),
  rank: fc.integer({ min: 1, max: 4 }),
  maskedFraction: fc.double({ min: 0, max: 1, noNaN: true }),
});

const validArb = fc.record({
  batch: fc.integer({ min: 1, max: 4 }),
  kvHeads: fc.integer({ min: 1, max: 3 }),
  group: fc.integer({ min: 1, max: 3 }), // qHeads = kvHeads·group: MHA, GQA and MQA
  seqLenQ: fc.integer({ min: 1, max: 40 }),
  seqLenK: fc.integer({ min: 1, max: 40 }),
  headDim: fc.integer({ min: 1, max: 20 }),
  valueDim: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
  layout: fc.constantFrom<TestLayout>('bhsd', 'bshd', 'packed'),
  dtype: fc.constantFrom('float32' as const, 'float32' as const, 'float16' as const),
  explicitDtype: fc.boolean(),
  causal: fc.constantFrom(undefined, false, true, 'top-left' as const, 'bottom-right' as const),
  mask: fc.option(maskArb, { nil: undefined }),
  keyLengthFractions: fc.option(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }), { nil: undefined }),
  softcap: fc.option(fc.oneof(fc.constant(0), fc.double({ min: 0.25, max: 50, noNaN: true })), { nil: undefined }),
  // Float options are float32 values (src/errors.ts checkFloat32): 0 or normal in float32.
  scale: fc.option(fc.double({ min: -3, max: 3, noNaN: true }).filter((x) => x === 0 || Math.abs(x) >= 2 ** -126), { nil: undefined }),
  range: fc.constantFrom(0.5, 1, 2),
  returnWeights: fc.boolean(),
  seed: fc.integer(),
});

type ValidDraw = typeof validArb extends fc.Arbitrary<infer T> ? T : never;

function toSpec(draw: ValidDraw): CaseSpec {
  const qHeads = draw.kvHeads * draw.group;
  const target = [draw.batch, qHeads, draw.seqLenQ, draw.seqLenK];
  let mask: MaskSpec | undefined;
  if (draw.mask) {
    const full = target.map((size, axis) => (draw.mask!.spans[axis] ? size : 1));
    mask = { kind: draw.mask.kind, shape: full.slice(4 - draw.mask.rank), maskedFraction: draw.mask.maskedFraction };
  }
  return {
    batch: draw.batch,
    qHeads,
    kvHeads: draw.kvHeads,
    seqLenQ: draw.seqLenQ,
    seqLenK: draw.seqLenK,
    headDim: draw.headDim,
    valueDim: draw.valueDim,
    layout: draw.layout,
    dtype: draw.dtype,
    explicitDtype: draw.explicitDtype,
    causal: draw.causal,
    mask,
    keyLengths: draw.keyLengthFractions?.slice(0, draw.batch).map((f) => Math.round(f * draw.seqLenK)),
    softcap: draw.softcap,
    scale: draw.scale,
    range: draw.range,
    returnWeights: draw.returnWeights,
    seed: draw.seed,
  };
}

describe('properties', () => {
  it(`random valid calls match the float64 reference on every backend (${BACKENDS.join(', ')}; seed ${SEED})`, () => {
    fc.assert(
      fc.property(validArb, (draw) => {
        const c = buildCase(toSpec(draw));
        for (const attn of instances) expectResult(attn.attention(c.q, c.k, c.v, c.options), c, attn.backend);
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  });

  // -------------------------------------------------------------------------------------
  // Random bad calls: a valid call with exactly one aspect broken
  // -------------------------------------------------------------------------------------

  type Call = { q: unknown; k: unknown; v: unknown; options: Record<string, unknown> };
  interface Mutation {
    readonly name: string;
    readonly error: typeof TypeError | typeof RangeError;
    /** Breaks the call (given a fresh copy); `pick` is a random integer for the mutation's own choices. */
    apply(call: Call, c: BuiltCase, pick: number): void;
  }

  const tensorNames = ['q', 'k', 'v'] as const;
  const tensorOf = (call: Call, pick: number) => tensorNames[pick % 3]!;
  const sized = (shape: number[], like: unknown) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return { data: like instanceof Uint16Array ? new Uint16Array(size) : new Float32Array(size), shape };
  };
  /** Axis of each part of a `[batch, heads, seq, dim]` tensor in the case's layout. */
  const axisOf = (c: BuiltCase, part: 'batch' | 'heads' | 'seq' | 'dim') => {
    const layout = c.spec.layout ?? 'bhsd';
    if (layout === 'bhsd') return { batch: 0, heads: 1, seq: 2, dim: 3 }[part];
    return { batch: 0, seq: 1, heads: 2, dim: layout === 'bshd' ? 3 : 2 }[part];
  };
  const reshaped = (tensor: unknown, axis: number, size: number) => {
    const { data, shape } = tensor as { data: unknown; shape: number[] };
    const next = [...shape];
    next[axis] = size;
    return sized(next, data);
  };

  const mutations: Mutation[] = [
    { name: 'tensor not an object', error: TypeError, apply: (call, _, pick) => void (call[tensorOf(call, pick)] = [null, undefined, 3, 'q', true][pick % 5]) },
    { name: 'tensor without data', error: TypeError, apply: (call, _, pick) => void (call[tensorOf(call, pick)] = { shape: (call[tensorOf(call, pick)] as { shape: number[] }).shape }) },
    {
      name: 'data not a float typed array', error: TypeError, apply: (call, _, pick) => {
        const name = tensorOf(call, pick);
        const { data, shape } = call[name] as { data: ArrayLike<number>; shape: number[] };
        const kinds = [(n: number) => new Array(n).fill(0), (n: number) => new Float64Array(n), (n: number) => new Int32Array(n), (n: number) => new Int8Array(n), (n: number) => new Uint8Array(n)];
        call[name] = { data: kinds[Math.floor(pick / 3) % kinds.length]!(data.length), shape };
      },
    },
    {
      name: 'data length != product of shape', error: RangeError, apply: (call, _, pick) => {
        const name = tensorOf(call, pick);
        const { data, shape } = call[name] as { data: Float32Array; shape: number[] };
        const delta = (Math.floor(pick / 3) % 5) + 1;
        const length = pick % 2 && data.length > delta ? data.length - delta : data.length + delta;
        call[name] = { data: new (data.constructor as Float32ArrayConstructor)(length), shape };
      },
    },
    {
      name: 'wrong rank', error: RangeError, apply: (call, _, pick) => {
        const name = tensorOf(call, pick);
        const { data, shape } = call[name] as { data: Float32Array; shape: number[] };
        // One more leading axis of 1, or flattened to rank 1: the product is kept, only the rank is wrong.
        call[name] = { data, shape: pick % 2 ? [1, ...shape] : [data.length] };
      },
    },
    { name: 'batch mismatch', error: RangeError, apply: (call, c, pick) => void (call[pick % 2 ? 'k' : 'v'] = reshaped(call[pick % 2 ? 'k' : 'v'], 0, c.spec.batch + 1 + (pick % 3))) },
    { name: 'head dim mismatch', error: RangeError, apply: (call, c, pick) => {
      const layout = c.spec.layout ?? 'bhsd';
      // Packed: k's hidden size becomes kvHeads·(D + 1), a valid split with the wrong head dim.
      const size = layout === 'packed' ? (c.spec.kvHeads ?? c.spec.qHeads) * (c.spec.headDim + 1 + (pick % 3)) : c.spec.headDim + 1 + (pick % 3);
      call.k = reshaped(call.k, axisOf(c, 'dim'), size);
    } },
    { name: 'k/v length mismatch', error: RangeError, apply: (call, c, pick) => void (call.v = reshaped(call.v, axisOf(c, 'seq'), c.spec.seqLenK + 1 + (pick % 4))) },
    { name: 'qHeads % kvHeads != 0', error: RangeError, apply: (call, c) => {
      const kvHeads = c.spec.qHeads + 1; // never a divisor of qHeads
      if ((c.spec.layout ?? 'bhsd') === 'packed') {
        call.options.kvHeads = kvHeads;
        call.k = reshaped(call.k, 2, kvHeads * c.spec.headDim);
        call.v = reshaped(call.v, 2, kvHeads * (c.spec.valueDim ?? c.spec.headDim));
      } else {
        call.k = reshaped(call.k, axisOf(c, 'heads'), kvHeads);
        call.v = reshaped(call.v, axisOf(c, 'heads'), kvHeads);
      }
    } },
    { name: 'mask not broadcastable', error: RangeError, apply: (call, c, pick) => {
      const target = [c.spec.batch, c.spec.qHeads, c.spec.seqLenQ, c.spec.seqLenK];
      const axis = pick % 4;
      const shape = [...target];
      shape[axis] = target[axis]! + 1; // neither 1 nor the target size
      call.options.mask = { data: new Uint8Array(shape.reduce((a, b) => a * b, 1)), shape };
    } },
    { name: 'mask data of a wrong kind', error: TypeError, apply: (call, c, pick) => {
      const n = c.spec.seqLenK;
      call.options.mask = { data: [new Int32Array(n), new Float64Array(n), new Array(n).fill(1), new Int8Array(n)][pick % 4], shape: [n] };
    } },
    { name: 'keyLengths of a wrong length', error: RangeError, apply: (call, c, pick) => void (call.options.keyLengths = new Array(c.spec.batch + 1 + (pick % 2)).fill(0)) },
    { name: 'keyLengths out of range', error: RangeError, apply: (call, c, pick) => {
      const lengths = new Array(c.spec.batch).fill(c.spec.seqLenK);
      lengths[pick % c.spec.batch] = [-1, c.spec.seqLenK + 1, 0.5, NaN, Infinity][pick % 5];
      call.options.keyLengths = lengths;
    } },
    { name: 'bad causal value', error: TypeError, apply: (call, _, pick) => void (call.options.causal = ['yes', 1, 0, 'bottom_right', 'topleft', null, {}][pick % 7]) },
    { name: 'unknown option', error: TypeError, apply: (call, _, pick) => void (call.options[['casual', 'mask_', 'Scale', 'key_lengths', 'weights', 'heads'][pick % 6]!] = true) },
    { name: 'scale not finite', error: RangeError, apply: (call, _, pick) => void (call.options.scale = [NaN, Infinity, -Infinity][pick % 3]) },
    { name: 'scale not a number', error: TypeError, apply: (call, _, pick) => void (call.options.scale = ['1', null, 1n, [1]][pick % 4]) },
    { name: 'scale or softcap not a float32 value', error: RangeError, apply: (call, _, pick) => void (call.options[pick % 2 ? 'scale' : 'softcap'] = [1e39, 1e-46, 1e-40][pick % 3]) },
    { name: 'softcap negative or NaN', error: RangeError, apply: (call, _, pick) => void (call.options.softcap = [-1, -1e-9, NaN, Infinity][pick % 4]) },
    { name: 'out of a wrong length', error: RangeError, apply: (call, c, pick) => {
      const like = (call.q as { data: unknown }).data;
      call.options.out = like instanceof Uint16Array ? new Uint16Array(c.wantOut.length + 1 + (pick % 3)) : new Float32Array(Math.max(0, c.wantOut.length - 1 - (pick % 3)));
    } },
    { name: 'out of a wrong kind', error: TypeError, apply: (call, c, pick) => {
      const half = (call.q as { data: unknown }).data instanceof Uint16Array;
      const n = c.wantOut.length;
      call.options.out = [half ? new Float32Array(n) : new Uint16Array(n), new Float64Array(n), new Array(n).fill(0)][pick % 3];
    } },
    { name: 'mixed dtypes', error: TypeError, apply: (call, _, pick) => {
      const name = pick % 2 ? 'k' : 'v';
      const { data, shape } = call[name] as { data: Float32Array | Uint16Array; shape: number[] };
      call[name] = { data: data instanceof Uint16Array ? new Float32Array(data.length) : new Uint16Array(data.length), shape };
    } },
    { name: 'dtype option contradicts the data', error: TypeError, apply: (call) => {
      call.options.dtype = (call.q as { data: unknown }).data instanceof Uint16Array ? 'float32' : 'float16';
    } },
    { name: 'returnWeights not a boolean', error: TypeError, apply: (call, _, pick) => void (call.options.returnWeights = [1, 'true', null][pick % 3]) },
    { name: 'bad layout', error: TypeError, apply: (call, _, pick) => void (call.options.layout = ['bsdh', 'BHSD', 1][pick % 3]) },
  ];

  const badArb = fc.record({
    valid: validArb.map((draw) => ({ ...draw, seqLenQ: Math.min(draw.seqLenQ, 12), seqLenK: Math.min(draw.seqLenK, 12) })),
    mutation: fc.integer({ min: 0, max: mutations.length - 1 + 2 }),
    pick: fc.nat({ max: 1000 }),
  });
  const MESSAGE = /^[\w.[\], ]+: expected .+, got .+/s;

  it(`random bad calls throw the right error class and leave the instance working (seed ${SEED})`, () => {
    // Mutations only valid for some layouts are appended here and drawn like the others.
    const packedOnly: Mutation[] = [
      { name: '3-D without numHeads', error: TypeError, apply: (call) => void delete call.options.numHeads },
      { name: 'hidden not divisible by numHeads', error: RangeError, apply: (call, c) => void (call.options.numHeads = c.spec.qHeads * (c.spec.headDim + 1) + 1) },
    ];
    const seen = new Set<string>();
    fc.assert(
      fc.property(badArb, ({ valid, mutation: index, pick }) => {
        const spec = toSpec(valid);
        const all = [...mutations, ...packedOnly];
        let mutation = all[index]!;
        // A packed-only mutation on a 4-D case falls back to the first generic one.
        if (packedOnly.includes(mutation) && spec.layout !== 'packed') mutation = mutations[pick % mutations.length]!;
        const c = buildCase(spec);
        seen.add(mutation.name);
        for (const attn of instances) {
          const call: Call = { q: c.q, k: c.k, v: c.v, options: { ...(c.options as Record<string, unknown>) } };
          mutation.apply(call, c, pick);
          let error: unknown;
          try {
            attn.attention(call.q as never, call.k as never, call.v as never, call.options as AttentionOptions);
          } catch (caught) {
            error = caught;
          }
          const what = `${attn.backend}, mutation "${mutation.name}" (pick ${pick}) of [${c.label}]`;
          if (error === undefined) expect.fail(`${what}: expected a ${mutation.error.name}, got a result`);
          if (!(error instanceof Error) || error.constructor !== mutation.error) {
            expect.fail(`${what}: expected a ${mutation.error.name}, got ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`);
          }
          expect((error as Error).message, `${what}: message format`).toMatch(MESSAGE);
          // Never a broken instance: the unmutated call is right afterwards.
          expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${what}, then the valid call`);
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS * 2 },
    );
    // Not a test of fast-check: a guard that the draw above exercises most mutations.
    expect(seen.size, `mutations exercised: ${[...seen].join('; ')}`).toBeGreaterThan(mutations.length * 0.7);
  });
});
