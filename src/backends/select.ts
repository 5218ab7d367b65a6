/**
 * The one place that decides which backend runs (XNNPACK's gemm-config, tfjs's
 * getPathToWasmBinary). Compiled kernel modules are cached per process: each build is
 * compiled at most once, and every instance reuses the `WebAssembly.Module`.
 */
import { relaxedKernel, simdKernel } from '../gen/kernels.js';
import { typeError } from '../errors.js';
import type { Backend, BackendName } from '../plan.js';
import type { BackendChoice } from '../types.js';
import { createJsBackend } from './js/index.js';
import { createWasmBackend } from './wasm/backend.js';

/** Every backend, fastest first: the order `auto` tries them in. */
export const BACKEND_NAMES: readonly BackendName[] = ['wasm-relaxed-simd', 'wasm-simd', 'js'];

const CHOICES: readonly BackendChoice[] = ['auto', ...BACKEND_NAMES];

type HexDecoders = {
  /** TC39 proposal-arraybuffer-base64 (also hex): Chrome 140, Firefox 133, Safari 18.2, Node 25, Deno 2.5. */
  fromHex?: (text: string) => Uint8Array<ArrayBuffer>;
  /** Node and Bun. */
  Buffer?: { from(text: string, encoding: 'hex'): Uint8Array<ArrayBuffer> };
};

/**
 * The kernel's bytes from its hex text (src/gen/kernels.ts: hex, not base64, gzips 2.4 KB
 * smaller for both builds), by the runtime's native decoder where there is one: a
 * JavaScript loop in Node 20 cost a quarter of the 20 ms start-up budget (5.7 ms for
 * `atob` and a `charCodeAt` loop over the 17.8 KB build, against 0.23 ms for `Buffer.from`,
 * medians of 11 fresh processes, AMD EPYC, load ≈ 9).
 */
function decodeHex(text: string): Uint8Array<ArrayBuffer> {
  const native = (Uint8Array as HexDecoders).fromHex;
  if (native) return native(text);
  const buffer = (globalThis as HexDecoders).Buffer;
  if (buffer) return buffer.from(text, 'hex');
  const bytes = new Uint8Array(text.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

type WasmBackendName = Exclude<BackendName, 'js'>;

/**
 * The kernel builds: hex text in the default entry; in dist/workerd.js and
 * dist/edge-light.js, scripts/build-dist.mjs swaps src/gen/kernels.ts for a file of
 * src/entries/ whose exports are `WebAssembly.Module`s imported from `.wasm` files, since
 * those runtimes refuse to compile WebAssembly from bytes.
 */
const embedded: Record<WasmBackendName, string | WebAssembly.Module> = { 'wasm-relaxed-simd': relaxedKernel, 'wasm-simd': simdKernel };

/**
 * Tiny modules that use one instruction of each feature, validated before compiling a whole
 * kernel (wasm-feature-detect's approach): `f32x4.relaxed_madd` needs relaxed SIMD (Node 20
 * only with --experimental-wasm-relaxed-simd; Node 22+, Chromium, Deno and Bun by default),
 * `i32x4.splat` needs SIMD.
 */
const FEATURE_PROBES: Record<WasmBackendName, Uint8Array<ArrayBuffer>> = {
  'wasm-relaxed-simd': new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 0, 32, 0, 253, 133, 2, 11,
  ]),
  'wasm-simd': new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17, 11]),
};

const compiled = new Map<BackendName, WebAssembly.Module | null>();

/** The embedded kernel of a WASM backend, compiled once (synchronously); null where the runtime cannot. */
function embeddedModule(name: WasmBackendName): WebAssembly.Module | null {
  if (!compiled.has(name)) {
    let module: WebAssembly.Module | null = null;
    try {
      if (typeof WebAssembly === 'object' && WebAssembly.validate(FEATURE_PROBES[name])) {
        const source = embedded[name];
        module = typeof source === 'string' ? new WebAssembly.Module(decodeHex(source)) : source;
      }
    } catch {
      module = null; // no SIMD, or code generation from bytes disallowed (edge runtimes)
    }
    compiled.set(name, module);
  }
  return compiled.get(name)!;
}

/** Checks a `backend` option value. */
export function checkBackendChoice(value: unknown): BackendChoice {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string' || !CHOICES.includes(value as BackendChoice)) {
    throw typeError('options.backend', CHOICES.map((c) => `'${c}'`).join(' | '), value);
  }
  return value as BackendChoice;
}

/** Compiles user-supplied kernel bytes, or passes a Module through. */
function userModule(module: WebAssembly.Module | BufferSource): WebAssembly.Module {
  if (typeof WebAssembly !== 'object') throw new TypeError('options.module: expected a runtime with WebAssembly, got none');
  // Not `instanceof`: a Module compiled in another realm (the host of a `vm` context, as in
  // Vercel's edge-runtime and Next.js's edge sandbox, where code generation is disabled)
  // instantiates fine but fails `instanceof` against this realm's constructor.
  if (Object.prototype.toString.call(module) === '[object WebAssembly.Module]') return module as WebAssembly.Module;
  if (module instanceof ArrayBuffer || ArrayBuffer.isView(module)) return new WebAssembly.Module(module as BufferSource);
  throw typeError('options.module', 'a WebAssembly.Module, ArrayBuffer or typed array of kernel bytes', module);
}

/**
 * Whether this runtime can run a backend with the embedded kernels (validates WebAssembly
 * SIMD, or relaxed SIMD, once per process).
 * @param name one of {@link BACKEND_NAMES}
 * @returns true for `'js'` always; for a WASM backend, when the runtime compiles its kernel
 *   (false where WebAssembly, SIMD or compiling from bytes is missing)
 * @example
 * const backend = isBackendAvailable('wasm-relaxed-simd') ? 'wasm-relaxed-simd' : 'wasm-simd';
 */
export function isBackendAvailable(name: BackendName): boolean {
  return name === 'js' || embeddedModule(name) !== null;
}

/**
 * Creates the backend for a choice. `auto` takes the first of {@link BACKEND_NAMES} the
 * runtime supports; an explicit WASM choice the runtime cannot run throws an Error.
 */
export function selectBackend(choice: BackendChoice, module?: WebAssembly.Module | BufferSource): Backend {
  if (choice === 'js') return createJsBackend();
  if (module !== undefined) {
    const backend = createWasmBackend(userModule(module));
    if (choice !== 'auto' && backend.name !== choice) {
      throw new TypeError(`options.module: expected a '${choice}' kernel build for backend '${choice}', got a '${backend.name}' build`);
    }
    return backend;
  }
  for (const name of choice === 'auto' ? BACKEND_NAMES : [choice]) {
    if (name === 'js') return createJsBackend();
    const compiledModule = embeddedModule(name);
    if (compiledModule) return createWasmBackend(compiledModule);
  }
  throw new Error(`backend '${choice}' is not supported by this runtime (WebAssembly SIMD missing, or compiling WebAssembly from bytes is disallowed: pass options.module)`);
}
