/**
 * Loader of the JSON conformance vectors (test/fixtures/conformance/onnx-attention/README.md):
 * `{ case, op, opset, attrs, inputs, outputs }`, each tensor slot null or
 * `{ dtype, shape, base64 }` of raw little-endian bytes. float16 stays as half bits
 * (`Uint16Array`), int64 becomes a `BigInt64Array`, bool a `Uint8Array`.
 * No file system here: the caller reads the file (scripts/conformance.ts, the tests).
 */
import type { OnnxAttributes, OnnxDtype, OnnxTensor } from '../onnx/index.js';

export interface ConformanceVector {
  /** The case name, e.g. `attention_4d_gqa_causal`. */
  readonly name: string;
  readonly op: string;
  readonly opset: number;
  readonly attrs: OnnxAttributes;
  /** `[Q, K, V, attn_mask, past_key, past_value, nonpad_kv_seqlen]` (Attention) or `[X, cos_cache, sin_cache, position_ids]` (RotaryEmbedding), null where absent. */
  readonly inputs: readonly (OnnxTensor | null)[];
  /** `[Y, present_key, present_value, qk_matmul_output]` (Attention) or `[Y]`, null where not checked. */
  readonly outputs: readonly (OnnxTensor | null)[];
}

// float64: the references of the gradient vectors (./grad.ts).
const BYTES: Readonly<Record<string, number>> = { float32: 4, float16: 2, bool: 1, int64: 8, int32: 4, float64: 8 };

/**
 * Decodes standard base64 (works in every runtime with `atob`).
 *
 * @param text - base64 text
 * @returns the bytes, in a fresh (aligned) buffer
 * @throws DOMException (InvalidCharacterError) for text that is not base64
 * @example
 * decodeBase64('AACAPw=='); // Uint8Array [0, 0, 128, 63]
 */
export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Decodes one `{ dtype, shape, base64 }` tensor slot (little-endian whatever the host).
 *
 * @param slot - the JSON object
 * @param where - names the slot in error messages, e.g. `attention_4d inputs[3]`
 * @returns the tensor, with `dtype` set
 * @throws TypeError for a malformed slot or an unknown dtype
 * @throws RangeError when the byte count is not the shape's product times the element size
 * @example
 * decodeTensor({ dtype: 'float32', shape: [1], base64: 'AACAPw==' }, 'x'); // { data: Float32Array [1], ... }
 */
export function decodeTensor(slot: unknown, where: string): OnnxTensor {
  if (typeof slot !== 'object' || slot === null) throw new TypeError(`${where}: expected { dtype, shape, base64 }, got ${String(slot)}`);
  const { dtype, shape, base64 } = slot as { dtype?: unknown; shape?: unknown; base64?: unknown };
  if (typeof dtype !== 'string' || !(dtype in BYTES)) throw new TypeError(`${where}.dtype: expected one of ${Object.keys(BYTES).join(', ')}, got ${String(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TypeError(`${where}.shape: expected an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (typeof base64 !== 'string') throw new TypeError(`${where}.base64: expected a string, got ${typeof base64}`);
  const bytes = decodeBase64(base64);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const size = BYTES[dtype]!;
  if (bytes.length !== count * size) {
    throw new RangeError(`${where}: expected ${count * size} bytes (${count} × ${dtype}), got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let data: OnnxTensor['data'];
  if (dtype === 'float64') {
    const values = Float64Array.from({ length: count }, (_, i) => view.getFloat64(i * 8, true));
    return { data: values as unknown as OnnxTensor['data'], shape: shape as number[], dtype: dtype as OnnxDtype };
  }
  switch (dtype as OnnxDtype) {
    case 'float32':
      data = Float32Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true));
      break;
    case 'float16':
      data = Uint16Array.from({ length: count }, (_, i) => view.getUint16(i * 2, true));
      break;
    case 'bool':
      data = bytes;
      break;
    case 'int64':
      data = BigInt64Array.from({ length: count }, (_, i) => view.getBigInt64(i * 8, true));
      break;
    case 'int32':
      data = Int32Array.from({ length: count }, (_, i) => view.getInt32(i * 4, true));
      break;
  }
  return { data, shape: shape as number[], dtype: dtype as OnnxDtype };
}

/**
 * Parses one conformance vector (the parsed JSON of one file).
 *
 * @param json - `JSON.parse` of the file
 * @param source - names the file in error messages
 * @returns the vector with decoded tensors
 * @throws TypeError or RangeError for a malformed vector
 * @example
 * const vector = parseVector(JSON.parse(readFileSync(path, 'utf8')), path);
 */
export function parseVector(json: unknown, source = 'vector'): ConformanceVector {
  if (typeof json !== 'object' || json === null) throw new TypeError(`${source}: expected a JSON object`);
  const raw = json as { case?: unknown; op?: unknown; opset?: unknown; attrs?: unknown; inputs?: unknown; outputs?: unknown };
  if (typeof raw.case !== 'string') throw new TypeError(`${source}.case: expected a string`);
  if (!Array.isArray(raw.inputs) || !Array.isArray(raw.outputs)) throw new TypeError(`${source}: expected inputs and outputs arrays`);
  const name = raw.case;
  const slots = (list: unknown[], kind: string) =>
    list.map((slot, i) => (slot === null || slot === undefined ? null : decodeTensor(slot, `${name} ${kind}[${i}]`)));
  return {
    name,
    op: typeof raw.op === 'string' ? raw.op : 'Attention',
    opset: typeof raw.opset === 'number' ? raw.opset : 0,
    attrs: (raw.attrs ?? {}) as OnnxAttributes,
    inputs: slots(raw.inputs, 'inputs'),
    outputs: slots(raw.outputs, 'outputs'),
  };
}
