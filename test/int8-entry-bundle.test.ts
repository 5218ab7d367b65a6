/**
 * `wasm-attention/int8` is a bundle of its own (dist/int8/index.js), apart from the default
 * entry (dist/index.js): its quantise-at-append glue reaches the default entry's cache
 * engine only through the module `int8Kernel()` returns (src/backends/wasm/backend.ts
 * `CacheEngineHook`), never through shared module state. Built here as scripts/build-dist.mjs
 * builds them, into a temporary folder, and imported side by side as an application would:
 * the int8 build's int8 caches quantise in the kernel (appendInt8 on their storage) and
 * store the same bytes as the default build's JS path.
 * On the code before the hook, `appendInt8` is absent and the first expectation fails.
 */
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, without declarations
import { ENTRIES, entryBuildOptions, kernelsBuildOptions, root } from '../scripts/build-dist.mjs';
import type * as Default from '../src/index.js';
import type * as Int8 from '../src/int8/index.js';
import { isBackendAvailable } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'wasm-attention-int8-bundle-'));
let main: typeof Default;
let int8: typeof Int8;

beforeAll(async () => {
  const entry = (ENTRIES as { outfile: string }[]).find((e) => e.outfile === 'index.js')!;
  await build({ ...entryBuildOptions(entry), outfile: join(dir, 'index.js') });
  await build({ ...kernelsBuildOptions(entry), outfile: join(dir, 'kernels.js') });
  await build({ ...entryBuildOptions({ format: 'esm' }), entryPoints: [join(root, 'src', 'int8', 'index.ts')], outfile: join(dir, 'int8', 'index.js') });
  main = await import(pathToFileURL(join(dir, 'index.js')).href);
  int8 = await import(pathToFileURL(join(dir, 'int8', 'index.js')).href);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!isBackendAvailable('wasm-simd'))('int8 entry bundled apart from the default entry', () => {
  it('int8_build_caches_quantise_in_the_kernel_same_bytes_as_js', async () => {
    const kernel = await main.createAttention({ backend: 'wasm-simd', module: int8.int8Kernel('wasm-simd') });
    const plain = await main.createAttention({ backend: 'wasm-simd' });
    const options = { batch: 1, kvHeads: 3, headDim: 40, maxSeqLen: 16, dtype: 'int8' } as const;
    const caches = [kernel, plain].map((attn) => attn.createKVCache(options));
    const storage = (cache: unknown) => (cache as { storage: { appendInt8?: unknown } }).storage;
    expect(typeof storage(caches[0]), 'the int8 build quantises in the kernel').toBe('object');
    expect(typeof storage(caches[0]).appendInt8, 'the int8 build quantises in the kernel').toBe('function');
    expect(storage(caches[1]).appendInt8, 'the default build quantises in JS').toBeUndefined();
    const rows = { data: Float32Array.from({ length: 3 * 9 * 40 }, (_, i) => Math.sin(i * 0.7) * (i % 40 === 5 ? 20 : 1)), shape: [1, 3, 9, 40] };
    for (const cache of caches) cache.append(rows, rows);
    const [a, b] = caches.map((cache) => cache.read());
    expect(Array.from(a!.k.data as Float32Array)).toEqual(Array.from(b!.k.data as Float32Array));
    expect(Array.from(a!.v.data as Float32Array)).toEqual(Array.from(b!.v.data as Float32Array));
    kernel.dispose();
    plain.dispose();
  });
});
