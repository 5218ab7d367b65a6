// Builds the published package into dist/ (`npm run build`, and `npm pack` through
// `prepack`). Needs the kernels of `npm run build:wasm` (build/*.wasm, src/gen/kernels.ts).
//
//   dist/index.js        ESM, both kernels inlined as base64: no bundler, server or
//                        fetch to configure (the node, browser, deno, bun and default conditions)
//   dist/index.cjs       the same as CommonJS (`require`)
//   dist/workerd.js      Cloudflare Workers: imports ./attention-*.wasm as compiled modules
//   dist/edge-light.js   Vercel Edge: imports ./attention-*.wasm?module
//   dist/attention-{simd,relaxed}.wasm   the kernels, for those two and for `init({ module })`
//   dist/types/          declarations (.d.ts), and dist/types-cjs/ the same for `require`
//   dist/*.d.ts, dist/index.d.cts        one line each, next to each entry, re-exporting types/
//
// The entries are single files, with whitespace and syntax minified but every name kept
// (stack traces stay readable; 38.4 KB → 35.1 KB gzipped when measured on 2026-11-29, of a
// 40 KB budget). Every top-level statement stays separate, so with `sideEffects: false`
// consumers' bundlers drop what is not imported (test/runtimes/size.test.ts checks that
// `floatToHalf` alone leaves the kernels out). `entryBuildOptions` is exported for that
// test and for the size budget.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const KERNELS = ['attention-simd.wasm', 'attention-relaxed.wasm'];

/** The dist entries: output file, format, and the file that replaces src/gen/kernels.ts. */
export const ENTRIES = [
  { outfile: 'index.js', format: 'esm' },
  { outfile: 'index.cjs', format: 'cjs' },
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
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: entry.kernels ? [swapKernels(entry.kernels)] : [],
  };
}

/** Emits declarations for src/index.ts into `outDir` with the TypeScript API. */
async function emitDeclarations(outDir) {
  const { default: ts } = await import('typescript'); // only here: the size test imports this file too
  const program = ts.createProgram([join(root, 'src', 'index.ts')], {
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
  const outputs = [...KERNELS.map((k) => join(root, 'build', k)), join(root, 'src', 'gen', 'kernels.ts')];
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

  await Promise.all(ENTRIES.map((entry) => build({ ...entryBuildOptions(entry), outfile: join(dist, entry.outfile) })));
  // The worker pool and its shared-memory kernels, loaded by `import('./threads/index.js')`
  // only when an instance asks for threads: kept out of the default entry's size budget.
  await build({
    ...entryBuildOptions({ format: 'esm' }),
    entryPoints: [join(root, 'src', 'threads', 'index.ts')],
    outfile: join(dist, 'threads', 'index.js'),
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
  return ENTRIES.map((e) => e.outfile).concat(KERNELS, ['threads/index.js']);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = performance.now();
  const files = await buildDist();
  console.log(`dist/: ${files.join(', ')}, types/ (${Math.round(performance.now() - started)} ms)`);
}
