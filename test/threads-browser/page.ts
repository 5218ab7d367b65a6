/**
 * The browser page of test/threads-browser/run.mjs: a threaded instance in Chromium, its
 * result against a single-thread instance (bit for bit), and what it warned. Reports on
 * `window.__result`.
 */
import { createAttention } from '../../src/index.js';

const warnings: string[] = [];
const warn = console.warn;
console.warn = (...args: unknown[]) => {
  warnings.push(args.map(String).join(' '));
  warn(...args);
};

const tensor = (shape: number[], seed: number) => {
  const n = shape.reduce((a, b) => a * b);
  return { data: new Float32Array(n).map((_, i) => Math.sin(i * seed)), shape };
};

async function main() {
  const shape = [1, 8, 512, 64];
  const [q, k, v] = [tensor(shape, 1), tensor(shape, 2), tensor(shape, 3)];
  const single = await createAttention();
  const threaded = await createAttention({ threads: 2 });
  const again = await createAttention({ threads: 2 }); // a second instance: no second warning
  const want = single.attention(q, k, v, { causal: true }).output.data;
  const got = (await threaded.attentionAsync(q, k, v, { causal: true })).output.data;
  let identical = want.length === got.length;
  for (let i = 0; identical && i < want.length; i++) identical = Object.is(want[i], got[i]);
  const time = async (f: () => Promise<unknown>) => {
    for (let i = 0; i < 3; i++) await f();
    const start = performance.now();
    for (let i = 0; i < 10; i++) await f();
    return (performance.now() - start) / 10;
  };
  const ms1 = await time(() => single.attentionAsync(q, k, v));
  const ms2 = await time(() => threaded.attentionAsync(q, k, v));
  const result = {
    crossOriginIsolated: globalThis.crossOriginIsolated,
    backend: threaded.backend,
    threads: threaded.threads,
    threadsAgain: again.threads,
    identical,
    ms1,
    ms2,
    warnings,
  };
  threaded.dispose();
  again.dispose();
  return result;
}

(globalThis as { __result?: Promise<unknown> }).__result = main().catch((error: Error) => ({ error: String(error?.stack ?? error) }));
