/**
 * `npm run bench -- --shapes layer`: the multi-head attention layer (issue #14), side by side
 * in one process, rounds alternating between the items (machine noise hits all alike),
 * median and spread (min–max) of the rounds, on the fastest WASM backend, one thread:
 *
 * - the machine's 128-bit SIMD peak (assembly/gemm/f32-peak-12.ts: 12 independent multiply-add
 *   chains, the build's madd) and the GEMM kernel alone on M 512, N = K 768 (operands already
 *   in memory), both in the testing build of the backend's ISA: GEMM / peak (target ≥ 0.85);
 * - the layer's GEMM through the library (copies in and out included): the four E×E
 *   projections of a BERT-base layer;
 * - BERT-base layer forward (B1 L512 E768 H12), FLOPs 8·L·E² + 4·L²·E, and its rate as a
 *   fraction of the GEMM's (target ≥ 0.8);
 * - the same forward, and forward + backward, as the layer ran them before its projections
 *   fed the attention in place (bench/layer-copying.ts: the library GEMM copying A in and C
 *   out, attention() / attentionBackward() on the caller's instance copying their tensors;
 *   forward 12·L·E floats copied against 2·L·E, src/layer/kernel.ts), and old / new per round;
 * - the same layer's forward (train) + backward (3× the forward's FLOPs, nominal);
 * - a decode step of a GQA layer (E 2048, H16, KV heads 4, 2048 cached tokens) against
 *   reading its weights and cache once (target ≤ 1.3×): the testing build's `readSum`
 *   (assembly/cache/read-bound.ts, f32x4 loads, 4 accumulators) over as many bytes;
 * - with --peers (bench/peers/layer.ts): onnxruntime-web's fastest graph of the same layer,
 *   tfjs-wasm's forward and its tf.grads (fwd+bwd), one thread each, checked against ours.
 * Times are the process's CPU time (process.cpuUsage: the call's own time, less exposed to
 * the other processes sharing the cores than wall time, though not to their cache and SMT
 * pressure); every ratio is the median of per-round ratios (both sides timed in the same
 * round), with its range. The peak is the relaxed build's (FMA) when the runtime has relaxed
 * SIMD; on the plain simd build each chain is a dependent mul → add, latency-bound near the
 * same 2 vector ops per cycle, so it understates the machine there.
 * Not here yet: threads.
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, isBackendAvailable } from '../src/index.js';
import { createGemm, withBackward } from '../src/backward/index.js';
import { peerRequire } from './peers/index.js';
import { ortLayer, tfjsLayer } from './peers/layer.js';
import { testingRelaxedBase64, testingSimdBase64 } from '../src/gen/testing-kernels.js';
import { packB } from '../src/layer/pack.js';
import { copyingLayer } from './layer-copying.js';

interface TestingKernel {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  simdPeak(iterations: number): number;
  readSum(ptr: number, bytes: number): number;
  gemm(aPtr: number, bPtr: number, cPtr: number, M: number, N: number, K: number): void;
}

/** The testing build of `backend`'s ISA, with `bytes` of memory above its heap base. */
function testingKernel(backend: string, bytes: number): { kernel: TestingKernel; base: number } {
  const base64 = backend === 'wasm-relaxed-simd' ? testingRelaxedBase64 : testingSimdBase64;
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0))), {}).exports as unknown as TestingKernel;
  const base = Math.ceil(kernel.heapBase() / 64) * 64;
  const grow = Math.ceil((base + bytes - kernel.memory.buffer.byteLength) / 65536);
  if (grow > 0) kernel.memory.grow(grow);
  return { kernel, base };
}

interface Item {
  readonly name: string;
  readonly flops: number;
  readonly call: () => void | Promise<void>;
  readonly times: number[];
  /** Cheap items run `fastRounds` times (more samples for their ratios); the rest `rounds`. */
  readonly fast?: boolean;
}

/** CPU time of this process in ms: a one-thread call's own time, not the time others held the core (load 5–15 here). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function random(length: number, seed: number, scale = 0.05): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return (state / 2 ** 32 - 0.5) * scale;
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runLayerBench(options: { rounds?: number; peers?: boolean; peersDir?: string } = {}): Promise<void> {
  const rounds = options.rounds ?? 5;
  const fastRounds = 4 * rounds + 1;
  const backend = (await isBackendAvailable('wasm-relaxed-simd')) ? 'wasm-relaxed-simd' : 'wasm-simd';
  const attn = withBackward(await createAttention({ backend }));
  const [L, E, H] = [512, 768, 12];
  const params = { inProj: random(3 * E * E, 1), inProjBias: random(3 * E, 2), outProj: random(E * E, 3), outProjBias: random(E, 4) };
  const layer = attn.createMultiHeadAttention({ embedDim: E, numHeads: H, weights: params });
  const x = { data: random(L * E, 5, 1), shape: [1, L, E] };
  const gemm = createGemm(backend);
  const w = gemm.pack(random(E * E, 6), E, E, true);
  const layerFlops = 8 * L * E * E + 4 * L * L * E;
  // The layer as it ran before its zero-copy path (bench/layer-copying.ts): the same calls, copying.
  const part = (i: number, data: Float32Array, width: number) => data.subarray(i * width, (i + 1) * width);
  const copying = copyingLayer(attn, { B: 1, L, S: L, E, H, Hkv: H }, { q: part(0, params.inProj, E * E), k: part(1, params.inProj, E * E), v: part(2, params.inProj, E * E), o: params.outProj }, { q: part(0, params.inProjBias, E), k: part(1, params.inProjBias, E), v: part(2, params.inProjBias, E), o: params.outProjBias }, { numHeads: H });
  const copyingForward = () => copying.forward(x.data).output;
  const copyingTrain = () => copying.backward(copying.forward(x.data).saved, dout, true).dx;
  const dout = random(L * E, 14, 1);
  {
    const [got, want] = [layer.forward(x).output.data, copyingForward()];
    layer.forward(x, { train: true });
    const [gotDx, wantDx] = [layer.backward({ data: dout, shape: [1, L, E] }).dx.data, copyingTrain()];
    if (got.some((value, i) => !Object.is(value, want[i])) || gotDx.some((value, i) => !Object.is(value, wantDx[i]))) throw new Error('layer bench: the zero-copy layer differs from the copying one');
  }

  const [DE, DH, DKV, T] = [2048, 16, 4, 2048];
  const DKVDim = (DE / DH) * DKV;
  const gqa = attn.createMultiHeadAttention({
    embedDim: DE, numHeads: DH, kvHeads: DKV, bias: false,
    weights: { qProj: random(DE * DE, 7), kProj: random(DKVDim * DE, 8), vProj: random(DKVDim * DE, 9), outProj: random(DE * DE, 10) },
  });
  const cache = gqa.createCache(1, T + rounds + 8);
  cache.append({ data: random(T * DKVDim, 11, 1), shape: [1, T, DKVDim] }, { data: random(T * DKVDim, 12, 1), shape: [1, T, DKVDim] });
  const token = { data: random(DE, 13, 1), shape: [1, 1, DE] };
  const stepBytes = (2 * DE * DE + 2 * DKVDim * DE) * 4 + 2 * T * DKVDim * 4;
  let sink = 0;
  // One testing instance: the read-bound buffer (the step's bytes), then the raw GEMM's A, B, C.
  const readBytes = Math.ceil(stepBytes / 64) * 64;
  const { kernel, base } = testingKernel(backend, readBytes + (L * E + E * E + L * E) * 4 + 256);
  new Float32Array(kernel.memory.buffer, base, readBytes / 4).fill(1);
  const [aPtr, bPtr, cPtr] = [base + readBytes, base + readBytes + L * E * 4, base + readBytes + (L * E + E * E) * 4];
  new Float32Array(kernel.memory.buffer, aPtr, L * E).set(x.data);
  packB(random(E * E, 6), E, E, true, new Float32Array(kernel.memory.buffer, bPtr, E * E));
  const peakIterations = 1_000_000; // 384 MFLOP, ~7 ms at 55 GFLOP/s: as long as a GEMM call

  const peers: Item[] = [];
  if (options.peers) {
    const require = peerRequire(options.peersDir!);
    layer.forward(x, { train: true });
    const c = { L, E, H, x: x.data, ...params, dout, output: layer.forward(x).output.data, dx: (layer.forward(x, { train: true }), layer.backward({ data: dout, shape: [1, L, E] }).dx.data) };
    const ort = await ortLayer(require, c, console.log);
    const tfjs = await tfjsLayer(require, c);
    console.log(`peers: ${ort.name} (${ort.note}); ${tfjs.forward.name} (${tfjs.forward.note}); ${tfjs.grads.name} (${tfjs.grads.note})`);
    for (const peer of [ort, tfjs.forward]) peers.push({ name: peer.name, flops: layerFlops, call: peer.call, times: [] });
    peers.push({ name: tfjs.grads.name, flops: 3 * layerFlops, call: tfjs.grads.call, times: [] });
  }
  const items: Item[] = [
    { name: 'SIMD peak (12 madd chains)', flops: 384 * peakIterations, call: () => void (sink += kernel.simdPeak(peakIterations)), times: [], fast: true },
    { name: `GEMM kernel M${L} N${E} K${E}`, flops: 2 * L * E * E, call: () => kernel.gemm(aPtr, bPtr, cPtr, L, E, E), times: [], fast: true },
    { name: `library GEMM 4× M${L} N${E} K${E}`, flops: 4 * 2 * L * E * E, call: () => { for (let i = 0; i < 4; i++) gemm.matmul(x.data, L, w); }, times: [] },
    { name: 'layer forward B1 L512 E768 H12', flops: layerFlops, call: () => void layer.forward(x), times: [] },
    { name: 'layer forward, copying (before)', flops: layerFlops, call: () => void copyingForward(), times: [] },
    { name: 'layer forward(train)+backward', flops: 3 * layerFlops, call: () => void layer.backward((layer.forward(x, { train: true }), { data: dout, shape: [1, L, E] })), times: [] },
    { name: 'forward+backward, copying (before)', flops: 3 * layerFlops, call: () => void copyingTrain(), times: [] },
    { name: 'GQA step E2048 H16 KV4 T2048', flops: 0, call: () => { gqa.step(token, cache); cache.truncate(T); }, times: [], fast: true },
    { name: `read bound: readSum over ${(readBytes / 1e6).toFixed(1)} MB`, flops: 0, call: () => void (sink += kernel.readSum(base, readBytes)), times: [], fast: true },
    ...peers,
  ];
  for (const item of items) await item.call(); // warm-up
  for (let round = 0; round < fastRounds; round++) {
    for (const item of items) {
      if (!item.fast && round >= rounds) continue;
      const started = cpuMs();
      await item.call();
      item.times.push(cpuMs() - started);
    }
  }
  console.log(`layer bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load ${loadavg().map((v) => v.toFixed(2)).join(' ')}; one thread; ${backend}; CPU time; ${rounds} rounds (${fastRounds} of the fast items)${Number.isNaN(sink) ? ' (NaN sink)' : ''}`);
  console.log('name'.padEnd(44) + 'median ms'.padStart(11) + '   spread (min–max)'.padEnd(24) + 'GFLOP/s'.padStart(9));
  const ms = (item: Item) => median(item.times);
  for (const item of items) {
    const spread = `${Math.min(...item.times).toFixed(1)}–${Math.max(...item.times).toFixed(1)}`;
    console.log(item.name.padEnd(44) + ms(item).toFixed(2).padStart(11) + `   ${spread}`.padEnd(24) + (item.flops ? (item.flops / ms(item) / 1e6).toFixed(2) : '-').padStart(9));
  }
  const byName = (prefix: string) => items.find((item) => item.name.startsWith(prefix));
  /** Median (and range) over rounds of f(round). */
  const perRound = (label: string, f: (round: number) => number, target: string, n = rounds) => {
    const ratios = Array.from({ length: n }, (_, r) => f(r));
    console.log(`${label}: ${median(ratios).toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}; target ${target})`);
  };
  const rateOf = (item: Item, r: number) => item.flops / item.times[r]!;
  const [peak, kernelGemm, libraryGemm, forward, copyingItem, train, copyingTrainItem, step, read] = items;
  perRound('GEMM kernel / SIMD peak (rate)', (r) => rateOf(kernelGemm!, r) / rateOf(peak!, r), '≥ 0.85', fastRounds);
  perRound('layer forward / library GEMM (rate)', (r) => rateOf(forward!, r) / rateOf(libraryGemm!, r), '≥ 0.8');
  perRound('layer forward copying (before) / zero-copy (time)', (r) => copyingItem!.times[r]! / forward!.times[r]!, '> 1');
  perRound('forward+backward copying (before) / zero-copy (time)', (r) => copyingTrainItem!.times[r]! / train!.times[r]!, '> 1');
  const versus = (prefix: string, ours: Item, target: number) => {
    const peer = byName(prefix);
    if (peer) perRound(`${peer.name} / ${ours.name} (time)`, (r) => peer.times[r]! / ours.times[r]!, `≥ ${target}`);
  };
  versus('ORT-web', forward!, 1.5);
  versus('tfjs-wasm 1T forward', forward!, 3);
  versus('tfjs-wasm 1T tf.grads', train!, 10);
  perRound('GQA step / read of its weights and cache (time)', (r) => step!.times[r]! / read!.times[r]!, '≤ 1.3', fastRounds);
  layer.dispose();
  gqa.dispose();
  cache.dispose();
  gemm.dispose();
  copying.dispose();
}
