/**
 * `npm run bench -- --shapes backward [--peers]`: the backward pass (issue #13), side by side
 * in one process, rounds alternating between the implementations (so machine noise hits all
 * alike), median and spread (min–max) of the rounds:
 *
 * - forward, lse, backward (output and lse given), and forward + lse + backward: a training
 *   step's attention today, at B1 H8 N1024 D64, one thread, the fastest WASM backend;
 * - the backward's FLOP rate (10·B·H·Lq·Lk·D) against the forward's (4·B·H·Lq·Lk·D);
 * - causal against dense backward;
 * - the JS backend's backward at H8 N256 D64;
 * - with --peers: `tf.grads` of the same attention on tfjs-backend-wasm (per-head 2-D matMul
 *   form, 1 thread) at N1024, and on tfjs-backend-cpu at N256 (against the JS backward).
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createAttention, isBackendAvailable, type Tensor } from '../src/index.js';
import { withBackward } from '../src/backward/index.js';
import { peerRequire } from './peers/index.js';

interface Item {
  readonly name: string;
  readonly flops: number;
  readonly call: () => Promise<void> | void;
  readonly rounds?: number;
  readonly times: number[];
}

function random(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Per-head 2-D tf.grads of softmax(q·kᵀ·scale + bias)·v against dout: what a tfjs user writes. */
async function tfjsGrads(peersDir: string, backend: 'wasm' | 'cpu', heads: number, n: number, d: number, inputs: { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array }): Promise<() => void> {
  const require = peerRequire(peersDir);
  const tf = require('@tensorflow/tfjs') as any; // registers the gradients of every op
  if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${join(require.resolve('@tensorflow/tfjs-backend-wasm'), '..')}/`);
    wasm.setThreadsCount?.(1);
  } else require('@tensorflow/tfjs-backend-cpu');
  tf.env().set('IS_TEST', true);
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed`);
  await tf.ready();
  const size = n * d;
  const scale = 1 / Math.sqrt(d);
  return () => {
    tf.tidy(() => {
      const tensors = [] as unknown[];
      for (let h = 0; h < heads; h++) {
        for (const data of [inputs.q, inputs.k, inputs.v]) tensors.push(tf.tensor2d(data.subarray(h * size, (h + 1) * size), [n, d]));
      }
      const douts = Array.from({ length: heads }, (_, h) => tf.tensor2d(inputs.dout.subarray(h * size, (h + 1) * size), [n, d]));
      const loss = (...xs: any[]) => {
        let total = tf.scalar(0);
        for (let h = 0; h < heads; h++) {
          const [q, k, v] = xs.slice(3 * h, 3 * h + 3);
          const p = tf.softmax(tf.mul(tf.matMul(q, tf.transpose(k)), scale));
          total = tf.add(total, tf.sum(tf.mul(tf.matMul(p, v), douts[h])));
        }
        return total;
      };
      for (const grad of tf.grads(loss)(tensors)) grad.dataSync();
    });
  };
}

export async function runBackwardBench(options: { peers: boolean; peersDir: string; rounds?: number }): Promise<void> {
  const rounds = options.rounds ?? 7;
  const backend = isBackendAvailable('wasm-relaxed-simd') ? 'wasm-relaxed-simd' : 'wasm-simd';
  const attn = withBackward(await createAttention({ backend }));
  const js = withBackward(await createAttention({ backend: 'js' }));
  const shapeOf = (heads: number, n: number, d: number) => [1, heads, n, d];
  const make = (heads: number, n: number, d: number, seed: number) => {
    const t = (s: number): Tensor<Float32Array> => ({ data: random(heads * n * d, seed + s), shape: shapeOf(heads, n, d) });
    return { q: t(1), k: t(2), v: t(3), dout: t(4) };
  };
  const H = 8, N = 1024, D = 64, NJ = 256;
  const big = make(H, N, D, 1);
  const small = make(H, NJ, D, 2);
  const output = attn.attention(big.q, big.k, big.v).output;
  const lse = attn.attentionLse(big.q, big.k, big.v);
  const causalOutput = attn.attention(big.q, big.k, big.v, { causal: true }).output;
  const causalLse = attn.attentionLse(big.q, big.k, big.v, { causal: true });
  const smallOutput = js.attention(small.q, small.k, small.v).output;
  const smallLse = js.attentionLse(small.q, small.k, small.v);
  const units = H * N * N * D;
  const items: Item[] = [
    { name: `forward ${backend}`, flops: 4 * units, call: () => void attn.attention(big.q, big.k, big.v), times: [] },
    { name: `lse ${backend}`, flops: 2 * units, call: () => void attn.attentionLse(big.q, big.k, big.v), times: [] },
    { name: `backward ${backend}`, flops: 10 * units, call: () => void attn.attentionBackward({ ...big, output, lse }), times: [] },
    { name: `backward causal ${backend}`, flops: 5 * units, call: () => void attn.attentionBackward({ ...big, output: causalOutput, lse: causalLse }, { causal: true }), times: [] },
    {
      name: `forward+lse+backward ${backend}`,
      flops: 14 * units,
      call: () => {
        const out = attn.attention(big.q, big.k, big.v).output;
        attn.attentionBackward({ ...big, output: out, lse: attn.attentionLse(big.q, big.k, big.v) });
      },
      times: [],
    },
    { name: `backward js N${NJ}`, flops: (10 * units) / 16, call: () => void js.attentionBackward({ ...small, output: smallOutput, lse: smallLse }), times: [], rounds: 3 },
  ];
  if (options.peers) {
    const asArrays = (x: typeof big) => ({ q: x.q.data, k: x.k.data, v: x.v.data, dout: x.dout.data });
    // tfjs keeps one backend per process: the wasm one is prepared first and measured, then cpu.
    items.push({ name: 'tfjs-wasm tf.grads (fwd+bwd)', flops: 14 * units, call: await tfjsGrads(options.peersDir, 'wasm', H, N, D, asArrays(big)), times: [], rounds: 3 });
  }
  for (let round = 0; round < rounds; round++) {
    for (const item of items) {
      if (round >= (item.rounds ?? rounds)) continue;
      const started = performance.now();
      await item.call();
      item.times.push(performance.now() - started);
    }
  }
  if (options.peers) {
    const cpu = { name: `tfjs-cpu tf.grads (fwd+bwd) N${NJ}`, flops: (14 * units) / 16, call: await tfjsGrads(options.peersDir, 'cpu', H, NJ, D, { q: small.q.data, k: small.k.data, v: small.v.data, dout: small.dout.data }), times: [] as number[] };
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      cpu.call();
      cpu.times.push(performance.now() - started);
      const again = performance.now();
      await items.find((item) => item.name.startsWith('backward js'))!.call();
      items.find((item) => item.name.startsWith('backward js'))!.times.push(performance.now() - again);
    }
    items.push(cpu);
  }
  const ms = (item: Item) => median(item.times);
  console.log(`backward bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; one thread; B1 H${H} D${D}, N${N} unless named`);
  console.log('name'.padEnd(40) + 'median ms'.padStart(11) + '   spread (min–max)'.padEnd(24) + 'GFLOP/s'.padStart(9));
  for (const item of items) {
    const spread = `${Math.min(...item.times).toFixed(1)}–${Math.max(...item.times).toFixed(1)}`;
    console.log(item.name.padEnd(40) + ms(item).toFixed(1).padStart(11) + `   ${spread}`.padEnd(24) + (item.flops / ms(item) / 1e6).toFixed(2).padStart(9));
  }
  const get = (prefix: string) => items.find((item) => item.name.startsWith(prefix));
  const rate = (item: Item | undefined) => (item ? item.flops / ms(item) : NaN);
  const ratio = (label: string, value: number, target: number) => console.log(`${label.padEnd(58)} ${value.toFixed(2)}  (target ${target})  ${value >= target ? 'met' : 'MISSED'}`);
  ratio('backward FLOP rate / forward FLOP rate', rate(get('backward wasm')) / rate(get('forward')), 0.75);
  ratio('dense backward time / causal backward time', ms(get('backward wasm')!) / ms(get('backward causal')!), 1.8);
  const tfw = get('tfjs-wasm');
  if (tfw) ratio('tfjs-wasm tf.grads / ours forward+lse+backward (time)', ms(tfw) / ms(get('forward+lse')!), 10);
  const tfc = get('tfjs-cpu');
  if (tfc) ratio(`tfjs-cpu tf.grads (fwd+bwd) / js backward alone, N${NJ} (time)`, ms(tfc) / ms(get('backward js')!), 5);
  console.log('2 threads / 1 thread: npm run bench -- --shapes backward-threads (bench/backward-threads.ts)');
}
