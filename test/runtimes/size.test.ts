/**
 * The package's size budget (issue #4): the whole default entry, `dist/index.js` with both
 * kernels inlined as base64, under 40 KB gzipped; and tree-shaking: a consumer that imports
 * only `floatToHalf` gets neither kernel nor the attention code. Both build the entry in
 * memory with scripts/build-dist.mjs's own options, so they need no `npm run build`.
 */
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, without declarations
import { ENTRIES, entryBuildOptions } from '../../scripts/build-dist.mjs';
import { relaxedBase64, simdBase64 } from '../../src/gen/kernels.js';

const BUDGET_GZIP_BYTES = 40 * 1024;

interface Entry {
  readonly outfile: string;
  readonly format: string;
}

async function buildInMemory(outfile: string): Promise<string> {
  const entry = (ENTRIES as Entry[]).find((e) => e.outfile === outfile)!;
  const result = await build({ ...entryBuildOptions(entry), write: false, outfile: `/virtual/${outfile}` });
  return result.outputFiles![0]!.text;
}

describe('package size', () => {
  it('default_entry_gzipped_under_40_kb', async () => {
    const code = await buildInMemory('index.js');
    const gzipped = gzipSync(code, { level: 9 }).length;
    expect(code).toContain(simdBase64.slice(0, 64));
    expect(code).toContain(relaxedBase64.slice(0, 64));
    expect(gzipped, `dist/index.js is ${code.length} bytes, ${gzipped} gzipped; budget ${BUDGET_GZIP_BYTES}`).toBeLessThan(BUDGET_GZIP_BYTES);
  });

  it('edge_entries_import_the_kernels_instead_of_inlining_them', async () => {
    for (const [outfile, suffix] of [['workerd.js', ''], ['edge-light.js', '?module']] as const) {
      const code = await buildInMemory(outfile);
      expect(code).not.toContain(simdBase64.slice(0, 64));
      for (const kernel of ['attention-relaxed.wasm', 'attention-simd.wasm']) {
        expect(code.replace(/\s/g, '')).toContain(`from"./${kernel}${suffix}"`);
      }
    }
  });

  it('tree_shaking_drops_the_kernels_when_only_float16_helpers_are_used', async () => {
    const entry = await buildInMemory('index.js');
    const consumer = await build({
      stdin: { contents: "import { floatToHalf } from 'wasm-attention'; console.log(floatToHalf(1));", loader: 'js' },
      bundle: true,
      write: false,
      format: 'esm',
      minify: true,
      plugins: [
        {
          name: 'dist-in-memory',
          setup(b) {
            b.onResolve({ filter: /^wasm-attention$/ }, () => ({ path: 'dist/index.js', namespace: 'dist' }));
            // sideEffects: false, as package.json declares for the real package.
            b.onLoad({ filter: /.*/, namespace: 'dist' }, () => ({ contents: entry, loader: 'js' }));
          },
        },
      ],
    });
    const code = consumer.outputFiles![0]!.text;
    expect(code).not.toContain(simdBase64.slice(0, 64));
    expect(code).not.toContain('WebAssembly.Instance');
    expect(code.length, `a consumer of floatToHalf alone bundles ${code.length} bytes`).toBeLessThan(4000);
  });
});
