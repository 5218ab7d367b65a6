// Builds the demo page into a folder that any static host can serve as is: index.html,
// style.css and one main.js with the library and both kernels inlined (no .wasm to fetch,
// no server configuration). `npm run build:demo [-- OUTDIR]` (default build/demo/).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureKernels } from '../scripts/build-dist.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_OUTDIR = join(here, '..', 'build', 'demo');

/**
 * Builds the page into `outdir`.
 * @param {string} [outdir]
 * @returns {Promise<string>} the folder
 */
export async function buildDemo(outdir = DEFAULT_OUTDIR) {
  ensureKernels();
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile: join(outdir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) copyFileSync(join(here, file), join(outdir, file));
  return outdir;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outdir = await buildDemo(process.argv[2] ? resolve(process.argv[2]) : DEFAULT_OUTDIR);
  console.log(`demo built in ${outdir}: serve the folder from any static host`);
}
