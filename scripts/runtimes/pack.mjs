// `npm pack` → install the tarball into a fresh project folder → use it by name, as a user
// would: the runtime matrix then imports `wasm-attention` from that folder in every runtime.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** Files the tarball must hold (and `src/` must not be in it). */
const REQUIRED = [
  'package.json',
  'dist/index.js',
  'dist/index.cjs',
  'dist/index.d.ts',
  'dist/index.d.cts',
  'dist/workerd.js',
  'dist/edge-light.js',
  'dist/attention-simd.wasm',
  'dist/attention-relaxed.wasm',
  'dist/types/index.d.ts',
];

const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * Packs the repository (dist/ must be built: `--ignore-scripts` skips `prepack`, which
 * would build it a second time) and installs the tarball into `<dir>/project`.
 * @param {string} root the repository
 * @param {string} dir an empty scratch folder
 * @returns {{ project: string, tarball: string, packedBytes: number, unpackedBytes: number, files: number }}
 * @throws Error naming what is missing or what failed
 */
export function packAndInstall(root, dir) {
  const [info] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], root));
  const paths = info.files.map((f) => f.path);
  const missing = REQUIRED.filter((p) => !paths.includes(p));
  if (missing.length > 0) throw new Error(`npm pack: the tarball lacks ${missing.join(', ')}`);
  const leaked = paths.filter((p) => /^(src|test|assembly|scripts|bench|demo|build)\//.test(p));
  if (leaked.length > 0) throw new Error(`npm pack: the tarball holds files that are not the package's: ${leaked.slice(0, 5).join(', ')}`);

  const project = join(dir, 'project');
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(dir, info.filename)], project);
  return { project, tarball: join(dir, info.filename), packedBytes: info.size, unpackedBytes: info.unpackedSize, files: paths.length };
}

/**
 * Uses the installed package the ways the conformance bundles do not: `require` (CJS) runs
 * a case, and TypeScript type-checks an ESM and a CommonJS consumer against its `.d.ts`
 * files (node16 resolution, so the `exports` map is what TypeScript follows too).
 * @param {string} root the repository (for its TypeScript)
 * @param {string} project the folder the package is installed in
 * @returns {string} what was checked
 * @throws Error with the failing output
 */
export function checkConsumers(root, project) {
  const requireFromProject = createRequire(join(project, 'index.js'));
  const lib = requireFromProject('wasm-attention');
  const { output } = lib.attention(
    { data: new Float32Array(8).fill(1), shape: [1, 1, 2, 4] },
    { data: new Float32Array(12).fill(1), shape: [1, 1, 3, 4] },
    { data: new Float32Array(12).fill(2), shape: [1, 1, 3, 4] },
  );
  if (!output.data.every((x) => Math.abs(x - 2) < 1e-6)) throw new Error(`require('wasm-attention'): expected an output of 2s, got ${Array.from(output.data)}`);

  const consumer = (kind) => `import { attention, createAttention, init, type AttentionInstance, type Tensor } from 'wasm-attention';
const q: Tensor<Float32Array> = { data: new Float32Array(8), shape: [1, 1, 2, 4] };
export async function run${kind}(module?: WebAssembly.Module): Promise<Float32Array> {
  const instance: AttentionInstance = await createAttention({ backend: 'auto', module });
  await init({ backend: 'js' });
  return attention(q, q, q, { causal: true }).output.data && instance.attention(q, q, q).output.data;
}
`;
  writeFileSync(join(project, 'consumer-esm.mts'), consumer('Esm'));
  writeFileSync(join(project, 'consumer-cjs.cts'), consumer('Cjs'));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = ['--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--lib', 'es2022,dom'];
  try {
    execFileSync(process.execPath, [tsc, ...args, 'consumer-esm.mts', 'consumer-cjs.cts'], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    throw new Error(`TypeScript consumers (node16 resolution) do not type-check:\n${error.stdout}${error.stderr}`);
  }
  return `require() ran a case; .mts and .cts consumers type-check`;
}
