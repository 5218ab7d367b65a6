// Bundles a conformance entry of test/runtimes/entries/ for one runtime (and the threads page
// of test/threads-browser/ for Chromium), the way that runtime's users get the package:
// `wasm-attention` is resolved from the packed-and-installed copy in the matrix's project
// folder, with the runtime's `exports` conditions (as wrangler, Vercel or a browser bundler
// would), or left a bare import for runtimes that resolve packages themselves (Node, Deno, Bun).
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The ONNX vectors the repository carries (test/fixtures/conformance/SOURCES.md). */
export const VECTOR_DIR = resolve(root, 'test', 'fixtures', 'conformance', 'onnx-attention');

/**
 * Per target: entry file, esbuild format, `exports` conditions (null: keep the bare
 * import), and the glue that hands the imported package to the entry's `main`.
 */
const TARGETS = {
  cli: { entry: 'cli.ts', format: 'esm', conditions: null, glue: 'await main(lib);' },
  browser: { entry: 'browser.ts', format: 'esm', conditions: ['browser'], glue: 'await main(lib);' },
  workerd: { entry: 'workerd.ts', format: 'esm', conditions: ['workerd', 'worker', 'browser'], glue: 'export default main(lib);' },
  edge: { entry: 'edge.ts', format: 'iife', conditions: ['edge-light', 'worker', 'browser'], glue: 'main(lib);' },
};

/** `virtual:onnx-vectors`: every `*.json` of {@link VECTOR_DIR}, sorted, as one array literal. */
const onnxVectors = {
  name: 'onnx-vectors',
  setup(b) {
    b.onResolve({ filter: /^virtual:onnx-vectors$/ }, () => ({ path: VECTOR_DIR, namespace: 'onnx-vectors' }));
    b.onLoad({ filter: /.*/, namespace: 'onnx-vectors' }, () => {
      if (!existsSync(VECTOR_DIR)) throw new Error(`no ONNX conformance vectors at ${VECTOR_DIR}`);
      const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();
      const json = files.map((f) => readFileSync(join(VECTOR_DIR, f), 'utf8').trim());
      return { contents: `export default [\n${json.join(',\n')}\n];\n`, loader: 'js' };
    });
  },
};

/** Resolves `wasm-attention` from `project` (the packed install), or leaves it external. */
function packageUnderTest(project, bundled) {
  return {
    name: 'package-under-test',
    setup(b) {
      b.onResolve({ filter: /^wasm-attention$/ }, async (args) => {
        if (!bundled) return { path: args.path, external: true };
        if (args.pluginData === 'from-project') return undefined;
        const result = await b.resolve(args.path, { kind: args.kind, resolveDir: project, pluginData: 'from-project' });
        if (result.errors.length > 0) return { errors: result.errors };
        return { path: result.path };
      });
      // dist/workerd.js imports its kernels; they stay imports next to the bundle.
      b.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: args.path, external: true }));
      // dist/edge-light.js imports `.wasm?module`: the edge host compiled them already.
      b.onResolve({ filter: /\.wasm\?module$/ }, (args) => ({ path: basename(args.path, '?module'), namespace: 'edge-wasm' }));
      b.onLoad({ filter: /.*/, namespace: 'edge-wasm' }, (args) => ({
        contents: `export default globalThis.wasmModules[${JSON.stringify(args.path)}];`,
        loader: 'js',
      }));
    },
  };
}

/**
 * Bundles the conformance entry of `target` into `outfile`.
 * @param {'cli' | 'browser' | 'workerd' | 'edge'} target
 * @param {{ project: string, outfile: string }} where project: folder where `wasm-attention` is installed
 */
export async function bundleConformance(target, { project, outfile }) {
  const t = TARGETS[target];
  const entry = join(root, 'test', 'runtimes', 'entries', t.entry);
  await build({
    stdin: {
      contents: `import * as lib from 'wasm-attention';\nimport { main } from ${JSON.stringify(entry)};\n${t.glue}\n`,
      resolveDir: root,
      sourcefile: `${target}-glue.js`,
      loader: 'js',
    },
    outfile,
    bundle: true,
    format: t.format,
    platform: t.conditions?.includes('browser') ? 'browser' : 'neutral',
    mainFields: ['module', 'main'],
    conditions: t.conditions ?? [],
    // The CLI entry reads the packaged .wasm with node:fs (Node, Deno and Bun all have it).
    external: ['node:*'],
    target: 'es2022',
    logLevel: 'warning',
    plugins: [onnxVectors, packageUnderTest(project, t.conditions !== null)],
  });
}

/**
 * Bundles a browser test page for Chromium: `entry` exports `main(lib)`, and gets the package
 * as the `browser` condition resolves it in `project` (the packed install), or src/index.ts
 * when `project` is null (a quick run from source, without packing).
 * @param {string} entry absolute path of the page's module
 * @param {{ project: string | null, outfile: string }} where
 */
export async function bundleBrowserPage(entry, { project, outfile }) {
  const library = project ? 'wasm-attention' : join(root, 'src', 'index.ts');
  await build({
    stdin: {
      contents: `import * as lib from ${JSON.stringify(library)};\nimport { main } from ${JSON.stringify(entry)};\nmain(lib);\n`,
      resolveDir: root,
      sourcefile: `${basename(entry)}-glue.js`,
      loader: 'js',
    },
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    mainFields: ['module', 'main'],
    conditions: ['browser'],
    target: 'es2022',
    logLevel: 'warning',
    plugins: project ? [packageUnderTest(project, true)] : [],
  });
}
