// Runs a TypeScript entry point under plain Node: esbuild bundles it (and the library
// sources it imports) into build/, then runs the bundle in a child of this same Node with
// the flags that version needs (scripts/node-flags.mjs: relaxed SIMD on Node 20, none on
// 22+). Arguments after the entry are passed through. Keeps `npm run bench` /
// `npm run conformance` free of any TypeScript runtime loader.
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFlags } from './node-flags.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs ENTRY.ts [ARGS...]');
  process.exit(2);
}
mkdirSync(join(root, 'build'), { recursive: true });
const outfile = join(root, 'build', `${basename(entry, '.ts')}.run.mjs`);
await build({
  entryPoints: [join(root, entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
// The library loads its worker pool with `import('./threads/index.js')` relative to the
// bundle, only when threads are asked for: build it beside the bundle.
await build({
  entryPoints: [join(root, 'src', 'threads', 'index.ts')],
  outfile: join(root, 'build', 'threads', 'index.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
// A child, not an import: a V8 flag must be given before the engine starts to be sure it
// holds (node's docs call v8.setFlagsFromString after start-up undefined behaviour).
const child = spawnSync(process.execPath, [...nodeFlags(), outfile, ...args], { stdio: 'inherit' });
if (child.error) throw child.error;
process.exitCode = child.status ?? 1;
if (child.signal) process.kill(process.pid, child.signal);
