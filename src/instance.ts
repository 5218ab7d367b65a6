/**
 * Instances: a backend plus its grow-only host workspace. `createAttention()` makes
 * independent ones; `init()` configures the default instance used by the top-level
 * `attention()` and `onnxAttention()`.
 */
import { runAttention } from './attention.js';
import { typeError } from './errors.js';
import { checkBackendChoice, selectBackend } from './backends/select.js';
import { runOnnxAttention, type OnnxAttributes, type OnnxOutputs, type OnnxRunOptions, type OnnxTensor } from './onnx/index.js';
import type { Backend, BackendName } from './plan.js';
import { checkKnownKeys } from './tensor-input.js';
import type { AttentionOptions, AttentionResult, CreateAttentionOptions, Tensor, TensorData } from './types.js';
import { Workspace } from './workspace.js';

export interface AttentionInstance {
  /** The backend that runs this instance's calls. */
  readonly backend: BackendName;
  /** Same contract as the top-level {@link attention}. */
  attention<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): AttentionResult<D>;
  /** Same contract as the top-level {@link onnxAttention}. */
  onnxAttention(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxAttributes, options?: OnnxRunOptions): OnnxOutputs;
  /** Bytes of WASM linear memory this instance holds (0 for the JS backend). Grows only when a call needs more. */
  readonly memoryBytes: number;
}

class Instance implements AttentionInstance {
  private readonly workspace = new Workspace();
  constructor(private readonly engine: Backend & { memoryBytes?: () => number }) {}

  get backend(): BackendName {
    return this.engine.name;
  }

  get memoryBytes(): number {
    return this.engine.memoryBytes?.() ?? 0;
  }

  attention<D extends TensorData>(q: Tensor<D>, k: Tensor<D>, v: Tensor<D>, options?: AttentionOptions): AttentionResult<D> {
    return runAttention(this.engine, this.workspace, q, k, v, options) as AttentionResult<D>;
  }

  onnxAttention(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxAttributes, options?: OnnxRunOptions): OnnxOutputs {
    return runOnnxAttention(this.engine, inputs, attrs, options);
  }
}

function checkCreateOptions(options: unknown): CreateAttentionOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw typeError('options', 'an object', options);
  checkKnownKeys('options', options, ['backend', 'module']);
  return options as CreateAttentionOptions;
}

/** Synchronous creation; see {@link createAttention}. */
export function createAttentionSync(options?: CreateAttentionOptions): AttentionInstance {
  const { backend, module } = checkCreateOptions(options);
  return new Instance(selectBackend(checkBackendChoice(backend), module));
}

/**
 * Creates an independent attention instance with its own backend and memory.
 *
 * @param options.backend `'auto'` (default: WASM SIMD where the runtime validates it, else
 *   JS), `'wasm-simd'` or `'js'`. The instance's `backend` property reports what runs.
 * @param options.module A precompiled kernel `WebAssembly.Module` (or its bytes), for
 *   runtimes that forbid compiling WebAssembly from embedded bytes.
 * @returns A promise of the instance (async so that runtimes which compile off-thread can).
 * @throws TypeError for an unknown backend name or a `module` of the wrong kind.
 * @throws Error when an explicitly requested WASM backend cannot run here.
 * @example
 * const attn = await createAttention({ backend: 'js' });
 * const { output } = attn.attention(q, k, v, { causal: true });
 */
export async function createAttention(options?: CreateAttentionOptions): Promise<AttentionInstance> {
  return createAttentionSync(options);
}

let defaultInstance: AttentionInstance | undefined;
let defaultKey: string | undefined;

function optionsKey(options?: CreateAttentionOptions): string {
  return `${options?.backend ?? 'auto'}|${options?.module === undefined ? '' : 'module'}`;
}

/**
 * Configures the default instance used by {@link attention} and {@link onnxAttention}.
 * Idempotent: calling it again with the same options returns the same instance; other
 * options replace it.
 * @example
 * await init();                      // best backend for this runtime
 * await init({ backend: 'js' });     // force the pure-JS fallback
 */
export async function init(options?: CreateAttentionOptions): Promise<AttentionInstance> {
  const key = optionsKey(options);
  if (!defaultInstance || key !== defaultKey || options?.module !== undefined) {
    defaultInstance = createAttentionSync(options);
    defaultKey = key;
  }
  return defaultInstance;
}

/** The default instance, created with `backend: 'auto'` on first use when `init()` was not awaited. */
export function defaultAttention(): AttentionInstance {
  if (!defaultInstance) {
    defaultInstance = createAttentionSync();
    defaultKey = optionsKey();
  }
  return defaultInstance;
}
