/**
 * Builds the ONNX attention graphs that onnxruntime-web runs in the benchmark, as
 * ModelProto bytes, with a minimal protobuf writer (field numbers from onnx/onnx.proto3),
 * so the comparison needs no protobuf library and no model file.
 *
 * Three graphs compute the same thing; the benchmark runs the fastest that the installed
 * onnxruntime-web accepts, and names it:
 * - `Attention-23`: the opset-23 `Attention` op, q/k/v `[B, H, L, D]` as they are.
 * - `MultiHeadAttention`: the com.microsoft contrib op. Its query is packed `[B, Lq, H·D]`;
 *   key/value may stay `[B, H, Lk, D]` (BNSH). The caller packs the query once, outside timing.
 * - `MatMul+Softmax`: Transpose(K) → MatMul → Mul(scale) → [Add(causal bias)] → Softmax → MatMul,
 *   the graph an exporter emits for an unfused attention.
 */

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Protobuf wire writer: just the field kinds ONNX needs. */
class Writer {
  private readonly bytes: number[] = [];

  /** Unsigned LEB128; a negative int64 (axis -1) is written as its 64-bit two's complement. */
  private varint(value: number): void {
    let rest = BigInt.asUintN(64, BigInt(value));
    while (rest >= 0x80n) {
      this.bytes.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    this.bytes.push(Number(rest));
  }

  private key(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  int(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const buffer = new DataView(new ArrayBuffer(4));
    buffer.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.bytes.push(buffer.getUint8(i));
    return this;
  }

  raw(field: number, payload: Uint8Array): this {
    this.key(field, 2);
    this.varint(payload.length);
    for (const byte of payload) this.bytes.push(byte);
    return this;
  }

  string(field: number, text: string): this {
    return this.raw(field, new TextEncoder().encode(text));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.raw(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export type Attribute = { name: string; int: number } | { name: string; float: number } | { name: string; ints: number[] };

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  attributes?: Attribute[];
}

export interface GraphSpec {
  nodes: Node[];
  inputs: { name: string; shape: number[] }[];
  output: { name: string; shape: number[] };
  /** Constant float tensors baked into the model. */
  initializers?: { name: string; shape: number[]; data: Float32Array }[];
  opsets: { domain: string; version: number }[];
}

function valueInfo(w: Writer, name: string, shape: number[]): void {
  w.string(1, name); // ValueInfoProto.name
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      // TypeProto.tensor_type
      tensor.int(1, FLOAT); // elem_type
      tensor.message(2, (s) => shape.forEach((dim) => s.message(1, (d) => d.int(1, dim)))); // shape.dim[].dim_value
    }),
  );
}

export function encodeModel(spec: GraphSpec): Uint8Array {
  const model = new Writer();
  // IR version 11 (ONNX 1.18) is the first that allows opset 23; 8 is enough for opset 17.
  const opset = Math.max(...spec.opsets.filter((o) => o.domain === '').map((o) => o.version));
  model.int(1, opset >= 23 ? 11 : 8);
  model.string(2, 'wasm-attention bench');
  for (const opset of spec.opsets) model.message(8, (o) => o.string(1, opset.domain).int(2, opset.version));
  model.message(7, (graph) => {
    for (const node of spec.nodes) {
      graph.message(1, (n) => {
        node.inputs.forEach((name) => n.string(1, name));
        node.outputs.forEach((name) => n.string(2, name));
        n.string(4, node.op);
        for (const attribute of node.attributes ?? []) {
          n.message(5, (a) => {
            a.string(1, attribute.name);
            if ('int' in attribute) {
              a.int(3, attribute.int).int(20, ATTR_INT);
            } else if ('ints' in attribute) {
              for (const value of attribute.ints) a.int(8, value);
              a.int(20, ATTR_INTS);
            } else {
              a.float(2, attribute.float).int(20, ATTR_FLOAT);
            }
          });
        }
        if (node.domain) n.string(7, node.domain);
      });
    }
    graph.string(2, 'attention');
    for (const init of spec.initializers ?? []) {
      graph.message(5, (t) => {
        init.shape.forEach((dim) => t.int(1, dim));
        t.int(2, FLOAT);
        t.string(8, init.name);
        t.raw(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength)); // raw_data, little-endian
      });
    }
    for (const input of spec.inputs) graph.message(11, (v) => valueInfo(v, input.name, input.shape));
    graph.message(12, (v) => valueInfo(v, spec.output.name, spec.output.shape));
  });
  return model.finish();
}

/** Dimensions of one benchmark call, batch 1 implied by the caller's shapes. */
export interface AttentionDims {
  batch: number;
  heads: number;
  seqLenQ: number;
  seqLenK: number;
  headDim: number;
  causal: boolean;
  scale: number;
}

export type OnnxGraphKind = 'Attention-23' | 'MultiHeadAttention' | 'MatMul+Softmax';

/** Every graph kind, in the order they are tried. */
export const ONNX_GRAPH_KINDS: readonly OnnxGraphKind[] = ['Attention-23', 'MultiHeadAttention', 'MatMul+Softmax'];

/** Additive causal bias `[Lq, Lk]`, bottom-right aligned like wasm-attention's `causal: true`. */
export function causalBias(seqLenQ: number, seqLenK: number): Float32Array {
  const bias = new Float32Array(seqLenQ * seqLenK);
  const offset = seqLenK - seqLenQ;
  for (let i = 0; i < seqLenQ; i++) bias.fill(-Infinity, i * seqLenK + i + offset + 1, (i + 1) * seqLenK);
  return bias;
}

/**
 * The model bytes of one graph kind. Inputs are named q, k, v; the output y is
 * `[B, H, Lq, D]`, except for MultiHeadAttention (`[B, Lq, H·D]`, unpacked by the caller).
 */
export function buildAttentionModel(kind: OnnxGraphKind, dims: AttentionDims): Uint8Array {
  const { batch: B, heads: H, seqLenQ: Lq, seqLenK: Lk, headDim: D, causal, scale } = dims;
  const bhsd = (L: number) => [B, H, L, D];
  if (kind === 'Attention-23') {
    return encodeModel({
      opsets: [{ domain: '', version: 23 }],
      inputs: [{ name: 'q', shape: bhsd(Lq) }, { name: 'k', shape: bhsd(Lk) }, { name: 'v', shape: bhsd(Lk) }],
      output: { name: 'y', shape: bhsd(Lq) },
      nodes: [
        {
          op: 'Attention',
          inputs: ['q', 'k', 'v'],
          outputs: ['y'],
          attributes: [{ name: 'is_causal', int: causal ? 1 : 0 }, { name: 'scale', float: scale }],
        },
      ],
    });
  }
  if (kind === 'MultiHeadAttention') {
    // MHA has no causal attribute for cross-shaped inputs on every build; an additive
    // attention_bias [1, 1, Lq, Lk] (input 5) masks the future instead.
    const inputs = ['q', 'k', 'v', '', '', causal ? 'bias' : ''];
    while (inputs[inputs.length - 1] === '') inputs.pop();
    return encodeModel({
      opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      inputs: [{ name: 'q', shape: [B, Lq, H * D] }, { name: 'k', shape: bhsd(Lk) }, { name: 'v', shape: bhsd(Lk) }],
      output: { name: 'y', shape: [B, Lq, H * D] },
      initializers: causal ? [{ name: 'bias', shape: [1, 1, Lq, Lk], data: causalBias(Lq, Lk) }] : [],
      nodes: [
        {
          op: 'MultiHeadAttention',
          domain: 'com.microsoft',
          inputs,
          outputs: ['y'],
          attributes: [{ name: 'num_heads', int: H }, { name: 'scale', float: scale }],
        },
      ],
    });
  }
  const nodes: Node[] = [
    { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: [{ name: 'perm', ints: [0, 1, 3, 2] }] },
    { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['logits'] },
    { op: 'Mul', inputs: ['logits', 'scale'], outputs: ['scaled'] },
    ...(causal ? [{ op: 'Add', inputs: ['scaled', 'bias'], outputs: ['biased'] }] : []),
    { op: 'Softmax', inputs: [causal ? 'biased' : 'scaled'], outputs: ['probs'], attributes: [{ name: 'axis', int: -1 }] },
    { op: 'MatMul', inputs: ['probs', 'v'], outputs: ['y'] },
  ];
  return encodeModel({
    opsets: [{ domain: '', version: 17 }],
    inputs: [{ name: 'q', shape: bhsd(Lq) }, { name: 'k', shape: bhsd(Lk) }, { name: 'v', shape: bhsd(Lk) }],
    output: { name: 'y', shape: bhsd(Lq) },
    initializers: [
      { name: 'scale', shape: [], data: Float32Array.of(scale) },
      ...(causal ? [{ name: 'bias', shape: [Lq, Lk], data: causalBias(Lq, Lk) }] : []),
    ],
    nodes,
  });
}
