/**
 * `npm run conformance -- [DIR|FILE...]`: runs every `*.json` vector in the given folders
 * (default: every folder of test/fixtures/conformance, see its SOURCES.md) on every backend
 * this runtime has (`op` "Attention": ONNX; "attention_grad": the backward, src/conformance/grad.ts;
 * "multi_head_attention": the layer, src/conformance/mha.ts),
 * prints one line per case and backend with the worst error, then
 * `N passed, M failed, K unsupported`. A vector is dispatched by its `op`; an op the library
 * does not implement yet is counted as unsupported, never as passed. Exits 1 if any vector
 * failed or is unsupported, 2 when there is nothing to run.
 *
 * Run as a bundle by scripts/run-ts.mjs: argv = [node, bundle, ...dirs], and the bundle
 * lives in build/, so the repository root is one folder up from either location.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatResult, parseGradVector, parseMhaVector, parseVector, runGradVector, runMhaVector, runVector, type ConformanceVector, type GradVector, type MhaVector } from '../src/conformance/index.js';
import { withBackward } from '../src/backward/index.js';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance } from '../src/index.js';
import { onnxRotaryEmbedding, type OnnxRotaryAttributes } from '../src/positions/index.js';
import type { OnnxAttentionRunner } from '../src/conformance/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(root, 'test', 'fixtures', 'conformance');
/** Every folder of the vectors the repository carries. */
const defaultDirs = () =>
  readdirSync(FIXTURES)
    .filter((name) => statSync(join(FIXTURES, name)).isDirectory())
    .sort()
    .map((name) => join(FIXTURES, name));
/** The operators this runner can check (the `op` field of a vector). */
const SUPPORTED_OPS = new Set(['Attention', 'RotaryEmbedding', 'attention_grad', 'multi_head_attention']);

/**
 * How a vector of `op` runs on `instance`. `RotaryEmbedding` is the standalone
 * `onnxRotaryEmbedding` (the same TypeScript on every backend: it is a host op, like the
 * rotation of the `rotary` option of attention), run once per backend all the same.
 */
function runnerFor(op: string, instance: AttentionInstance): OnnxAttentionRunner {
  if (op === 'RotaryEmbedding') return (inputs, attrs) => onnxRotaryEmbedding(inputs, attrs as OnnxRotaryAttributes);
  return (inputs, attrs) => instance.onnxAttention(inputs, attrs);
}

/** The `*.json` files of a folder (sorted), or the file itself. */
function vectorFiles(path: string): string[] {
  if (!existsSync(path)) throw new Error(`no such file or folder: ${path}`);
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => join(path, file));
}

async function main(): Promise<number> {
  const targets = process.argv.slice(2).filter((arg) => arg !== '--');
  const paths = targets.length > 0 ? targets.map((path) => resolve(process.cwd(), path)) : defaultDirs();
  const vectors: ConformanceVector[] = [];
  const gradVectors: GradVector[] = [];
  const mhaVectors: MhaVector[] = [];
  const unsupported = new Map<string, number>();
  for (const path of paths) {
    for (const file of vectorFiles(path)) {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { op?: unknown };
      const op = String(json.op);
      if (op === 'attention_grad') gradVectors.push(parseGradVector(json, file));
      else if (op === 'multi_head_attention') mhaVectors.push(parseMhaVector(json, file));
      else if (SUPPORTED_OPS.has(op)) vectors.push(parseVector(json, file));
      else unsupported.set(op, (unsupported.get(op) ?? 0) + 1);
    }
  }
  for (const [op, count] of unsupported) console.log(`UNSUPPORTED  ${count} vector(s) of op ${op}: not implemented by this library yet`);
  const unsupportedCount = [...unsupported.values()].reduce((a, b) => a + b, 0);
  if (vectors.length + gradVectors.length + mhaVectors.length === 0 && unsupportedCount === 0) {
    console.error(`no *.json vectors in ${paths.join(', ')}`);
    return 2;
  }

  const instances = [];
  for (const name of BACKEND_NAMES) {
    if (await isBackendAvailable(name)) instances.push(withBackward(await createAttention({ backend: name })));
    else console.log(`skip backend ${name}: not available in this runtime`);
  }

  let passed = 0;
  let failed = 0;
  for (const vector of vectors) {
    for (const instance of instances) {
      const result = runVector(vector, runnerFor(vector.op, instance));
      console.log(formatResult(result, instance.backend));
      if (result.ok) passed++;
      else failed++;
    }
  }
  for (const vector of gradVectors) {
    for (const instance of instances) {
      const result = runGradVector(vector, instance);
      console.log(formatResult(result, instance.backend));
      if (result.ok) passed++;
      else failed++;
    }
  }
  for (const vector of mhaVectors) {
    for (const instance of instances) {
      const result = runMhaVector(vector, (options) => instance.createMultiHeadAttention(options));
      console.log(formatResult(result, instance.backend));
      if (result.ok) passed++;
      else failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed, ${unsupportedCount} unsupported`);
  return failed > 0 || unsupportedCount > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`conformance: ${(error as Error).message}`);
  process.exitCode = 2;
}
