/**
 * The browser page of test/threads-browser/run.mjs. `main(lib)` gets the library (the packed
 * package in the runtime matrix, src/ when run alone) and sets `window.threadsPage`:
 * - `ran`: two instances asking for 2 threads (a second one must not warn again), each
 *   threaded call (plain, causal, GQA) against a one-thread instance, bit for bit;
 * - `dispose()`: disposes both, then shows that a later threaded call rejects.
 * Between the two, run.mjs counts the page's live workers from outside (Playwright).
 */
type Library = typeof import('../../src/index.js');
type Tensor = { data: Float32Array; shape: number[] };

const tensor = (shape: number[], seed: number): Tensor => {
  const n = shape.reduce((a, b) => a * b);
  return { data: new Float32Array(n).map((_, i) => Math.sin(i * seed)), shape };
};

// L512 H8 D64: 2^28 multiply-adds, far above the split threshold (2^20 per thread,
// src/threads/backend.ts), so every call is split over both threads.
const FULL = [1, 8, 512, 64];
const GQA_KV = [1, 2, 512, 64]; // 8 query heads reading 2 key/value heads
const CASES = [
  { name: 'plain', q: tensor(FULL, 1), k: tensor(FULL, 2), v: tensor(FULL, 3), options: {} },
  { name: 'causal', q: tensor(FULL, 1), k: tensor(FULL, 2), v: tensor(FULL, 3), options: { causal: true } },
  { name: 'gqa causal', q: tensor(FULL, 4), k: tensor(GQA_KV, 5), v: tensor(GQA_KV, 6), options: { causal: true } },
];

/** null when bit-identical (Object.is, so -0 and NaN count), else where they first differ. */
function firstDifference(want: Float32Array, got: Float32Array): string | null {
  if (want.length !== got.length) return `length: expected ${want.length}, got ${got.length}`;
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(want[i], got[i])) return `index ${i}: expected ${want[i]}, got ${got[i]}`;
  }
  return null;
}

/** Mean milliseconds of `f` over 5 runs after 2 warm-ups: reported, not judged (shared cores). */
async function time(f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2; i++) await f();
  const start = performance.now();
  for (let i = 0; i < 5; i++) await f();
  return (performance.now() - start) / 5;
}

type Instance = Awaited<ReturnType<Library['createAttention']>>;
interface Instances {
  single: Instance;
  threaded: Instance;
  again: Instance;
}

async function run({ single, threaded, again }: Instances) {
  const differences: Record<string, string | null> = {};
  for (const c of CASES) {
    const want = single.attention(c.q, c.k, c.v, c.options).output.data as Float32Array;
    const got = (await threaded.attentionAsync(c.q, c.k, c.v, c.options)).output.data as Float32Array;
    differences[c.name] = firstDifference(want, got);
  }
  const { q, k, v } = CASES[0]!;
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated,
    backend: threaded.backend,
    threads: [threaded.threads, again.threads],
    differences,
    ms1: await time(() => single.attentionAsync(q, k, v)),
    ms2: await time(() => threaded.attentionAsync(q, k, v)),
  };
}

async function dispose({ threaded, again }: Instances) {
  threaded.dispose();
  again.dispose();
  const { q, k, v } = CASES[0]!;
  try {
    await threaded.attentionAsync(q, k, v);
    return { threads: threaded.threads, afterDispose: 'resolved' };
  } catch (error) {
    return { threads: threaded.threads, afterDispose: `rejected: ${(error as Error).message}` };
  }
}

export function main(lib: Library): void {
  const created = (async (): Promise<Instances> => {
    const single = await lib.createAttention();
    const threaded = await lib.createAttention({ threads: 2 });
    const again = await lib.createAttention({ threads: 2 }); // must not warn a second time
    return { single, threaded, again };
  })();
  const asReport = (error: unknown) => ({ error: String((error as Error)?.stack ?? error) });
  (globalThis as { threadsPage?: unknown }).threadsPage = {
    ran: created.then(run).catch(asReport),
    dispose: () => created.then(dispose).catch(asReport),
  };
}
