/**
 * `npm run conformance -- [DIR|FILE...]`: runs every `*.json` ONNX `Attention` vector in
 * the given folders (default: ../shared/conformance/onnx-attention next to the repo)
 * through `onnxAttention` on every backend this runtime has, prints one line per case and
 * backend with the worst error, then `N passed, M failed`; exits 1 if any failed (2 when
 * there is nothing to run).
 *
 * Run as a bundle by scripts/run-ts.mjs: argv = [node, bundle, ...dirs], and the bundle
 * lives in build/, so the repository root is one folder up from either location.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatResult, parseVector, runVector, type ConformanceVector } from '../src/conformance/index.js';
import { BACKEND_NAMES, createAttention, isBackendAvailable } from '../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_DIR = resolve(root, '..', 'shared', 'conformance', 'onnx-attention');

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
  const paths = (targets.length > 0 ? targets : [DEFAULT_DIR]).map((path) => resolve(process.cwd(), path));
  const vectors: ConformanceVector[] = [];
  for (const path of paths) {
    for (const file of vectorFiles(path)) vectors.push(parseVector(JSON.parse(readFileSync(file, 'utf8')), file));
  }
  if (vectors.length === 0) {
    console.error(`no *.json vectors in ${paths.join(', ')}`);
    return 2;
  }

  const instances = [];
  for (const name of BACKEND_NAMES) {
    if (await isBackendAvailable(name)) instances.push(await createAttention({ backend: name }));
    else console.log(`skip backend ${name}: not available in this runtime`);
  }

  let passed = 0;
  let failed = 0;
  for (const vector of vectors) {
    for (const instance of instances) {
      const result = runVector(vector, (inputs, attrs) => instance.onnxAttention(inputs, attrs));
      console.log(formatResult(result, instance.backend));
      if (result.ok) passed++;
      else failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`conformance: ${(error as Error).message}`);
  process.exitCode = 2;
}
