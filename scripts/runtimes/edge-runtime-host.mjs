// Runs the edge conformance bundle in Vercel's edge-runtime (the `edge-runtime` package's
// VM) with code generation disabled: neither `eval` nor compiling WebAssembly from bytes.
// The host compiles the package's two kernels (as Vercel's bundlers do for `.wasm?module`
// imports) and puts them in the VM as `globalThis.wasmModules`.
// Usage: node [FLAGS] edge-runtime-host.mjs BUNDLE WASM_DIR   (FLAGS: ../node-flags.mjs, for that Node)
// Prints one `REPORT {json}` line.
import { EdgeRuntime } from 'edge-runtime';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [bundle, wasmDir] = process.argv.slice(2);
const wasmModules = {};
for (const name of ['attention-simd.wasm', 'attention-relaxed.wasm']) {
  try {
    wasmModules[name] = new WebAssembly.Module(readFileSync(join(wasmDir, name)));
  } catch {
    // this Node has no relaxed SIMD: the VM gets only what the host could compile
  }
}
const runtime = new EdgeRuntime({
  codeGeneration: { strings: false, wasm: false },
  extend: (context) => Object.assign(context, { wasmModules }),
});
runtime.evaluate(readFileSync(bundle, 'utf8'));
const report = await runtime.context.conformanceReport;
console.log(`REPORT ${JSON.stringify(report)}`);
