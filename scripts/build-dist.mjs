// Builds the published package into dist/ (`npm run build`, and `npm pack` through
// `prepack`). Needs the kernels of `npm run build:wasm` (build/*.wasm, src/gen/kernels.ts).
//
//   dist/index.js        ESM (the node, browser, deno, bun and default conditions); it
//                        imports dist/kernels.js, both kernels as base64: no bundler,
//                        server or fetch to configure
//   dist/index.cjs       the same as CommonJS (`require`), with dist/kernels.cjs
//   dist/threads/index.js  the worker pool and its threads builds (`wasm-attention/threads`)
//   dist/backward/index.js the backward pass and its kernel builds (`wasm-attention/backward`)
//   dist/positions/index.js  standalone positional encodings (`wasm-attention/positions`)
//   dist/int8/index.js   the kernel builds with integer int8 decode (`wasm-attention/int8`)
//   dist/merge/index.js      mergeAttention (`wasm-attention/merge`)
//   dist/*.js.map, *.cjs.map  source maps of every entry (positions and names)
//   dist/workerd.js      Cloudflare Workers: imports ./attention-*.wasm as compiled modules
//   dist/edge-light.js   Vercel Edge: imports ./attention-*.wasm?module
//   dist/attention-{simd,relaxed}.wasm   the kernels, for those two and for `init({ module })`
//   dist/types/          declarations (.d.ts), and dist/types-cjs/ the same for `require`
//   dist/*.d.ts, dist/index.d.cts        one line each, next to each entry, re-exporting types/
//
// The entries are minified (names too) but broken into lines of about 160 characters,
// and ship source maps: an uncaught error prints one short line of source and a stack of
// `dist/index.js:LINE:COL` frames (`node --enable-source-maps` and browser devtools map them
// to src/ and its names). The kernels' text is a module of its own (dist/kernels.js) so
// that the line breaks do not split it: split, it gzips 2.5 KB worse. Measured 2026-12-04
// with the slim kernel builds (test/runtimes/size.test.ts), gzipped: one file, one line,
// every name kept 37,655 B; no whitespace minification 41,638 B; names minified,
// 120-character lines and the kernels apart (index.js + kernels.js) 34,192 B, on one
// line 33,102 B; the budget is 36 KB. With issue #12's features (positions, windows, ALiBi,
// lse, int8 caches), 120-character lines 36,980 B, 160 characters 36,675 B (the longest
// line, a string token, 389 characters; 200: 36,559 B but 544). Every top-level statement stays separate, so with
// `sideEffects: false` consumers' bundlers drop what is not imported
// (test/runtimes/size.test.ts checks that `floatToHalf` alone leaves the kernels out).
// `entryBuildOptions` and `kernelsBuildOptions` are exported for that test and for the
// size budget.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const KERNELS = ['attention-simd.wasm', 'attention-relaxed.wasm'];

/**
 * The dist entries: output file, format, and either the file that replaces
 * src/gen/kernels.ts or the dist module (`kernelsModule`, built from it) it imports instead.
 */
export const ENTRIES = [
  { outfile: 'index.js', format: 'esm', kernelsModule: 'kernels.js' },
  { outfile: 'index.cjs', format: 'cjs', kernelsModule: 'kernels.cjs' },
  { outfile: 'workerd.js', format: 'esm', kernels: 'src/entries/kernels-workerd.ts' },
  { outfile: 'edge-light.js', format: 'esm', kernels: 'src/entries/kernels-edge-light.ts' },
];

/**
 * esbuild plugin for the edge entries: src/gen/kernels.ts becomes `kernelsFile`, and its
 * `.wasm` imports stay imports (resolved by the runtime's bundler next to the entry).
 */
function swapKernels(kernelsFile) {
  return {
    name: 'swap-kernels',
    setup(b) {
      b.onResolve({ filter: /\/gen\/kernels\.js$/ }, () => ({ path: join(root, kernelsFile) }));
      b.onResolve({ filter: /\.wasm(\?module)?$/ }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/** esbuild plugin: src/gen/kernels.ts becomes an import of `./${file}` next to the entry. */
function externalKernels(file) {
  return {
    name: 'external-kernels',
    setup(b) {
      b.onResolve({ filter: /\/gen\/kernels\.js$/ }, () => ({ path: `./${file}`, external: true }));
    },
  };
}

/**
 * esbuild options of one dist entry (without `outfile`, so a caller can build it in memory).
 * @param entry one of {@link ENTRIES}
 */
export function entryBuildOptions(entry) {
  return {
    absWorkingDir: root,
    entryPoints: [join(root, 'src', 'index.ts')],
    bundle: true,
    format: entry.format,
    platform: 'neutral',
    // WASM SIMD needs Chrome 91 / Firefox 89 / Safari 16.4 / Node 16.4 anyway, and all of
    // them run ES2022 natively: no down-levelling helpers in the output.
    target: 'es2022',
    // `platform: 'neutral'` sets no main fields; the library imports nothing from node_modules.
    mainFields: ['module', 'main'],
    minify: true,
    lineLimit: 160,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: entry.kernels ? [swapKernels(entry.kernels)] : entry.kernelsModule ? [externalKernels(entry.kernelsModule)] : [],
  };
}

/**
 * esbuild options of the kernels module an entry imports (`entry.kernelsModule`): the
 * hex chunks of src/gen/kernels.ts (scripts/build-wasm.mjs), each on a line of its own.
 * @param entry one of {@link ENTRIES} with a `kernelsModule`
 */
export function kernelsBuildOptions(entry) {
  return {
    absWorkingDir: root,
    entryPoints: [join(root, 'src', 'gen', 'kernels.ts')],
    format: entry.format,
    platform: 'neutral',
    target: 'es2022',
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  };
}

/**
 * Source maps of the dist entries: positions and names, not the sources' text (which would
 * take the tarball from 0.33 to 0.62 MB packed, measured 2026-12-04): a stack trace
 * mapped by `node --enable-source-maps` or a browser's devtools names src/ files, lines and
 * functions.
 */
const SOURCE_MAPS = { sourcemap: true, sourcesContent: false };

/** Emits declarations for src/index.ts, src/threads/index.ts and src/backward/index.ts into `outDir` with the TypeScript API. */
async function emitDeclarations(outDir) {
  const { default: ts } = await import('typescript'); // only here: the size test imports this file too
  const program = ts.createProgram([join(root, 'src', 'index.ts'), join(root, 'src', 'threads', 'index.ts'), join(root, 'src', 'backward', 'index.ts'), join(root, 'src', 'positions', 'index.ts'), join(root, 'src', 'merge.ts'), join(root, 'src', 'int8', 'index.ts')], {
    declaration: true,
    emitDeclarationOnly: true,
    outDir,
    rootDir: join(root, 'src'),
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: [],
    strict: true,
    skipLibCheck: true,
    stripInternal: true,
  });
  const { diagnostics } = program.emit();
  const errors = [...ts.getPreEmitDiagnostics(program), ...diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    throw new Error(`declarations: ${ts.formatDiagnostics(errors, host)}`);
  }
}

/** Newest modification time of the files under a folder. */
function newest(dir) {
  return readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
    const path = join(dir, entry.name);
    return Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);
}

/**
 * Runs scripts/build-wasm.mjs when its outputs are missing or older than assembly/, for
 * the commands that need the kernels but are not preceded by `npm run build:wasm`
 * (`npm run test:runtimes`, `npm run demo`).
 */
export function ensureKernels() {
  const generated = ['kernels.ts', 'threads-kernels.ts', 'testing-kernels.ts', 'backward-kernels.ts'].map((file) => join(root, 'src', 'gen', file));
  const outputs = [...KERNELS.map((k) => join(root, 'build', k)), ...generated];
  const assembly = newest(join(root, 'assembly'));
  if (outputs.some((p) => !existsSync(p) || statSync(p).mtimeMs < assembly)) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build-wasm.mjs')], { cwd: root, stdio: 'inherit' });
  }
}

/** Builds dist/ from scratch. Returns the list of files written (relative to dist/). */
export async function buildDist() {
  for (const kernel of KERNELS) {
    if (!existsSync(join(root, 'build', kernel))) throw new Error(`build/${kernel} is missing: run \`npm run build:wasm\` first`);
  }
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });

  await Promise.all(ENTRIES.map((entry) => build({ ...entryBuildOptions(entry), ...SOURCE_MAPS, outfile: join(dist, entry.outfile) })));
  const kernelModules = ENTRIES.filter((entry) => entry.kernelsModule);
  await Promise.all(kernelModules.map((entry) => build({ ...kernelsBuildOptions(entry), outfile: join(dist, entry.kernelsModule) })));
  // The worker pool and its shared-memory kernels (`wasm-attention/threads`), loaded by
  // `import('./threads/index.js')`, or by the app's `threadsModule`, only when an instance
  // asks for threads: kept out of the default entry's size budget.
  await build({
    ...entryBuildOptions({ format: 'esm' }),
    entryPoints: [join(root, 'src', 'threads', 'index.ts')],
    ...SOURCE_MAPS,
    outfile: join(dist, 'threads', 'index.js'),
  });
  // The backward pass (`wasm-attention/backward`, issue #13): its kernel builds are loaded
  // only by applications that import it, outside the default entry's size budget.
  await build({
    ...entryBuildOptions({ format: 'esm' }),
    entryPoints: [join(root, 'src', 'backward', 'index.ts')],
    ...SOURCE_MAPS,
    outfile: join(dist, 'backward', 'index.js'),
  });
  // Standalone positional encodings (`wasm-attention/positions`, issue #12): host code only,
  // outside the default entry's size budget (1.3 KB gzipped).
  await build({
    ...entryBuildOptions({ format: 'esm' }),
    entryPoints: [join(root, 'src', 'positions', 'index.ts')],
    ...SOURCE_MAPS,
    outfile: join(dist, 'positions', 'index.js'),
  });
  // mergeAttention (`wasm-attention/merge`, issue #12), outside the budget too (0.8 KB gzipped).
  await build({
    ...entryBuildOptions({ format: 'esm' }),
    entryPoints: [join(root, 'src', 'merge.ts')],
    ...SOURCE_MAPS,
    outfile: join(dist, 'merge', 'index.js'),
  });
  // The int8 decode kernels (`wasm-attention/int8`, issue #15): two whole kernel builds,
  // outside the default entry's size budget; passed to createAttention({ module }).
  await build({
    ...entryBuildOptions({ format: 'esm' }),
    entryPoints: [join(root, 'src', 'int8', 'index.ts')],
    ...SOURCE_MAPS,
    outfile: join(dist, 'int8', 'index.js'),
  });
  for (const kernel of KERNELS) copyFileSync(join(root, 'build', kernel), join(dist, kernel));

  await emitDeclarations(join(dist, 'types'));
  // The same declarations under a `"type": "commonjs"` folder, so TypeScript reads them as
  // CommonJS for `require` (node16/nodenext resolution) instead of reporting ESM-from-CJS.
  cpSync(join(dist, 'types'), join(dist, 'types-cjs'), { recursive: true });
  writeFileSync(join(dist, 'types-cjs', 'package.json'), '{ "type": "commonjs" }\n');
  const reexport = (from) => `export * from '${from}';\n`;
  for (const entry of ENTRIES) {
    if (entry.format === 'cjs') writeFileSync(join(dist, entry.outfile.replace(/\.cjs$/, '.d.cts')), reexport('./types-cjs/index.js'));
    else writeFileSync(join(dist, entry.outfile.replace(/\.js$/, '.d.ts')), reexport('./types/index.js'));
  }
  return ENTRIES.map((e) => e.outfile).concat(kernelModules.map((e) => e.kernelsModule), KERNELS, ['threads/index.js', 'backward/index.js', 'positions/index.js', 'merge/index.js', 'int8/index.js', '*.map']);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const files = await buildDist();
  console.log(`dist/: ${files.join(', ')}, types/ (${Math.round(performance.now() - started)} ms)`);
}
