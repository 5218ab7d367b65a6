/**
 * The package's size budget (issues #4, #11): the whole default entry, `dist/index.js` and
 * the module of both kernels as hex text it imports (`dist/kernels.js`), at most 36 KB
 * gzipped (issue #12's features used the 4 KB left for them: 36,675 B on 2026-12-04, with the
 * standalone helpers in `wasm-attention/positions` and `/merge`; 36,561 B on 2026-12-05, after
 * later features reached 36,937 B and shared validation helpers took 376 B off); and
 * tree-shaking: a consumer that imports only `floatToHalf` gets neither kernel nor the
 * attention code. Both build the entry in memory with scripts/build-dist.mjs's own options,
 * so they need no `npm run build`.
 */
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, without declarations
import { ENTRIES, entryBuildOptions, kernelsBuildOptions } from '../../scripts/build-dist.mjs';
import { relaxedKernel, simdKernel } from '../../src/gen/kernels.js';

const BUDGET_GZIP_BYTES = 36 * 1024;

interface Entry {
  readonly outfile: string;
  readonly format: string;
  readonly kernelsModule?: string;
}

const entryNamed = (outfile: string) => (ENTRIES as Entry[]).find((e) => e.outfile === outfile)!;

async function buildInMemory(outfile: string): Promise<string> {
  const result = await build({ ...entryBuildOptions(entryNamed(outfile)), write: false, outfile: `/virtual/${outfile}` });
  return result.outputFiles![0]!.text;
}

/** The kernels module (dist/kernels.js) the entry `outfile` imports. */
async function buildKernelsInMemory(outfile: string): Promise<string> {
  const entry = entryNamed(outfile);
  const result = await build({ ...kernelsBuildOptions(entry), write: false, outfile: `/virtual/${entry.kernelsModule}` });
  return result.outputFiles![0]!.text;
}

describe('package size', () => {
  it('default_entry_gzipped_at_most_36_kb', async () => {
    const code = await buildInMemory('index.js');
    const kernels = await buildKernelsInMemory('index.js');
    const gzipped = gzipSync(code, { level: 9 }).length + gzipSync(kernels, { level: 9 }).length;
    expect(code).toContain('"./kernels.js"');
    expect(kernels).toContain(simdKernel.slice(0, 64));
    expect(kernels).toContain(relaxedKernel.slice(1000, 1064));
    const sizes = `dist/index.js is ${code.length} bytes, dist/kernels.js ${kernels.length}; ${gzipped} gzipped together`;
    expect(gzipped, `${sizes}; budget ${BUDGET_GZIP_BYTES}`).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });

  it('default_kernel_builds_export_only_what_the_default_entry_calls', () => {
    // assembly/index.ts: thread ranges and test hooks live in builds of their own. `_start`
    // is the (empty) start function that asconfig.json's `exportStart` exports instead of running.
    for (const hex of [simdKernel, relaxedKernel]) {
      const module = new WebAssembly.Module(Buffer.from(hex, 'hex'));
      const names = WebAssembly.Module.exports(module).map((e) => e.name).sort();
      expect(names).toEqual(['_start', 'attention', 'decode', 'decodeScratchBytes', 'heapBase', 'kernelIsa', 'memory', 'rotary', 'scratchBytes']);
    }
  });

  it('entry_lines_are_short_outside_the_kernels_module', async () => {
    // One uncaught error prints the source line it was thrown on (issue #11: one line of
    // 150 KB); the 160-character limit is esbuild's `lineLimit`, which may overrun it by a token.
    for (const { outfile } of ENTRIES as Entry[]) {
      const lines = (await buildInMemory(outfile)).split('\n');
      const longest = Math.max(...lines.map((line) => line.length));
      expect(longest, `${outfile}: longest of ${lines.length} lines`).toBeLessThan(400);
    }
  });

  it('default_entry_bundles_no_assemblyscript_loader', async () => {
    // The kernel imports nothing and exchanges numbers only: a plain WebAssembly.Instance
    // (src/backends/wasm/backend.ts). The loader was 5.3 KB of dist/index.js, parsed at every
    // import (issue #15's start-up); `__rtti_base` is a name only its bindings read.
    const code = await buildInMemory('index.js');
    expect(code).not.toContain('__rtti_base');
    expect(code).toContain('WebAssembly.Instance');
  });

  it('edge_entries_import_the_kernels_instead_of_inlining_them', async () => {
    for (const [outfile, suffix] of [['workerd.js', ''], ['edge-light.js', '?module']] as const) {
      const code = await buildInMemory(outfile);
      expect(code).not.toContain(simdKernel.slice(0, 64));
      for (const kernel of ['attention-relaxed.wasm', 'attention-simd.wasm']) {
        expect(code.replace(/\s/g, '')).toContain(`from"./${kernel}${suffix}"`);
      }
    }
  });

  it('tree_shaking_drops_the_kernels_when_only_float16_helpers_are_used', async () => {
    const entry = await buildInMemory('index.js');
    const kernels = await buildKernelsInMemory('index.js');
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
            b.onResolve({ filter: /^\.\/kernels\.js$/ }, () => ({ path: 'dist/kernels.js', namespace: 'dist' }));
            // sideEffects: false, as package.json declares for the real package.
            b.onLoad({ filter: /.*/, namespace: 'dist' }, (args) => ({ contents: args.path === 'dist/index.js' ? entry : kernels, loader: 'js' }));
          },
        },
      ],
    });
    const code = consumer.outputFiles![0]!.text;
    expect(code).not.toContain(simdKernel.slice(0, 64));
    expect(code).not.toContain('WebAssembly.Instance');
    expect(code.length, `a consumer of floatToHalf alone bundles ${code.length} bytes`).toBeLessThan(4000);
  });
});
