// `npm pack` → install the tarball into a fresh project folder → use it by name, as a user
// would: the runtime matrix then imports `wasm-attention` from that folder in every runtime.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  'dist/kernels.js',
  'dist/kernels.cjs',
  'dist/index.js.map',
  'dist/threads/index.js',
  'dist/types/threads/index.d.ts',
  'dist/backward/index.js',
  'dist/types/backward/index.d.ts',
  'dist/positions/index.js',
  'dist/types/positions/index.d.ts',
  'dist/merge/index.js',
  'dist/types/merge.d.ts',
  'dist/int8/index.js',
  'dist/types/int8/index.d.ts',
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
 * files (node16 resolution, so the `exports` map is what TypeScript follows too, for
 * `wasm-attention/threads`, `/backward`, `/positions`, `/merge` and `/int8` as well).
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
  await init({ backend: 'js', threads: 2, threadsModule: () => import('wasm-attention/threads') });
  const { withBackward } = await import('wasm-attention/backward');
  const { dq } = withBackward(instance).attentionBackward({ q, k: q, v: q, dout: q }, { causal: true });
  const { sinusoidalPositionalEncoding } = await import('wasm-attention/positions');
  const pe: Float32Array = sinusoidalPositionalEncoding(2, 4).data;
  const { mergeAttention } = await import('wasm-attention/merge');
  const part = instance.attention(q, q, q, { returnLse: true });
  const merged = mergeAttention([{ output: part.output, lse: part.lse! }]);
  const { int8Kernel } = await import('wasm-attention/int8');
  if (!(int8Kernel() instanceof WebAssembly.Module)) throw new Error('wasm-attention/int8: no module');
  const w = new Float32Array(16);
  const layer = withBackward(instance).createMultiHeadAttention({ embedDim: 4, numHeads: 2, bias: false, weights: { inProj: new Float32Array(48), outProj: w } });
  const x: Tensor<Float32Array> = { data: new Float32Array(8), shape: [1, 2, 4] };
  const { output } = layer.forward(x, { train: true });
  const { dx } = layer.backward(output);
  return attention(q, q, q, { causal: true }).output.data && instance.attention(q, q, q).output.data && dq.data && dx.data && pe && merged.output.data;
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

/** Every file under `dir` whose name ends with `suffix`, recursively. */
function filesEnding(dir, suffix) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesEnding(path, suffix) : entry.name.endsWith(suffix) ? [path] : [];
  });
}

/**
 * Largest stderr of one uncaught library error: the message, one source line and ~10 frames
 * of paths into the scratch folder (measured 1.3 KB; 150 KB when dist/index.js was one line).
 */
const STDERR_MAX_BYTES = 4096;

/**
 * What a user of the installed package installs and reads (issue #11): no runtime
 * dependency (esbuild bundles the loader into dist/), no kernel base64 spelled out in the
 * declarations, and a short, readable stack trace for an error thrown from dist/index.js:
 * a bad call in a child process prints at most {@link STDERR_MAX_BYTES} to stderr, naming
 * `dist/index.js:LINE`, and with `--enable-source-maps` the src/ file that threw.
 * @param {string} project the folder the package is installed in
 * @returns {string} what was checked
 * @throws Error naming what is wrong
 */
export function checkPackaging(project) {
  const installed = join(project, 'node_modules', 'wasm-attention');
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  const deps = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies });
  if (deps.length > 0) throw new Error(`package.json: expected no runtime dependency, got ${deps.join(', ')}`);
  const base64InTypes = filesEnding(join(installed, 'dist'), '.d.ts').filter((file) => /[A-Za-z0-9+/]{200,}/.test(readFileSync(file, 'utf8')));
  if (base64InTypes.length > 0) throw new Error(`declarations spell out base64: ${base64InTypes.map((f) => f.slice(installed.length + 1)).join(', ')}`);

  writeFileSync(
    join(project, 'bad-call.mjs'),
    `import { attention } from 'wasm-attention';
const q = { data: new Float32Array(8), shape: [1, 1, 2, 4] };
attention(q, q, { data: new Float32Array(3), shape: [1, 1, 2, 4] });
`,
  );
  const message = 'RangeError: v.data: expected length 8 (the product of shape [1, 1, 2, 4]), got length 3';
  const checks = [
    { flags: [], names: /node_modules\/wasm-attention\/dist\/index\.js:\d+:\d+/ },
    { flags: ['--enable-source-maps'], names: /node_modules\/wasm-attention\/src\/tensor-input\.ts:\d+:\d+/ },
  ];
  const sizes = [];
  for (const { flags, names } of checks) {
    const run = spawnSync(process.execPath, [...flags, 'bad-call.mjs'], { cwd: project, encoding: 'utf8' });
    const how = `node ${[...flags, 'bad-call.mjs'].join(' ')}`;
    if (run.status === 0) throw new Error(`${how}: expected an uncaught RangeError, the process exited with 0`);
    if (!run.stderr.includes(message)) throw new Error(`${how}: expected stderr to hold '${message}', got ${run.stderr.slice(0, 500)}`);
    if (run.stderr.length > STDERR_MAX_BYTES) throw new Error(`${how}: expected at most ${STDERR_MAX_BYTES} bytes of stderr, got ${run.stderr.length}`);
    if (!names.test(run.stderr)) throw new Error(`${how}: expected a stack frame matching ${names}, got:\n${run.stderr}`);
    sizes.push(run.stderr.length);
  }
  return `no dependencies; no base64 in .d.ts; an uncaught error prints ${sizes[0]} B naming dist/index.js (${sizes[1]} B naming src/ with --enable-source-maps)`;
}

/**
 * A small app that imports the installed package, bundled by esbuild into a folder of its
 * own (so nothing of the package sits next to the bundle, as in a deployed app), asks for
 * 2 threads with `threadsModule: () => import('wasm-attention/threads')`, and runs a call
 * through the pool. Without the option the bundle runs on one thread (the `./threads/index.js`
 * next to the library's file is not next to the bundle).
 * @param {string} project the folder the package is installed in
 * @returns {Promise<string>} what was checked
 * @throws Error with the app's output
 */
export async function checkBundledThreads(project) {
  const { build } = await import('esbuild');
  writeFileSync(
    join(project, 'threads-app.mjs'),
    `import { createAttention } from 'wasm-attention';
const attn = await createAttention({ threads: 2, threadsModule: () => import('wasm-attention/threads') });
const q = { data: new Float32Array(8).fill(1), shape: [1, 1, 2, 4] };
const v = { data: new Float32Array(8).fill(2), shape: [1, 1, 2, 4] };
const { output } = await attn.attentionAsync(q, q, v);
console.log(JSON.stringify({ threads: attn.threads, backend: attn.backend, output: Array.from(output.data) }));
attn.dispose();
`,
  );
  const outfile = join(project, 'bundled', 'threads-app.mjs');
  await build({ absWorkingDir: project, entryPoints: ['threads-app.mjs'], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error' });
  const run = spawnSync(process.execPath, [outfile], { cwd: join(project, 'bundled'), encoding: 'utf8' });
  const line = run.stdout.trim().split('\n').pop() ?? '';
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    throw new Error(`bundled threads app: expected a JSON line, got status ${run.status}, stdout ${run.stdout.slice(0, 300)}, stderr ${run.stderr.slice(0, 500)}`);
  }
  if (result.threads !== 2) throw new Error(`bundled threads app: expected 2 threads, got ${result.threads} (stderr: ${run.stderr.slice(0, 500)})`);
  if (!result.output.every((x) => x === 2)) throw new Error(`bundled threads app: expected an output of 2s, got ${result.output}`);
  if (run.stderr.length > 0) throw new Error(`bundled threads app: expected no warning, got ${run.stderr.slice(0, 500)}`);
  return `esbuild bundle of an app (threadsModule: () => import('wasm-attention/threads')) runs attentionAsync on ${result.threads} threads (${result.backend})`;
}
