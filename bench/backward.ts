/**
 * `npm run bench -- --shapes backward [--peers]`: the backward pass (issue #13), side by side
 * in one process, rounds alternating between the implementations (so machine noise hits all
 * alike), median and spread (min–max) of the rounds:
 *
 * - per WASM build (relaxed SIMD and SIMD, both in every round, their order alternating):
 *   forward, forward(returnLse), lse alone, backward (output and lse given), causal backward,
 *   and forward(returnLse) + backward, a training step's attention, at B1 H8 N1024 D64, one thread;
 * - per build, the medians (and ranges) of per-round ratios: the backward's FLOP rate
 *   (10·B·H·Lq·Lk·D) against the forward's (4·B·H·Lq·Lk·D), dense against causal backward,
 *   and tfjs-wasm against forward(returnLse) + backward;
 * - the JS backend's backward at H8 N256 D64;
 * - with --peers: `tf.grads` of the same attention on tfjs-backend-wasm (per-head 2-D matMul
 *   form, 1 thread) at N1024, and on tfjs-backend-cpu at N256 (against the JS backward).
 * Prints the CPU model and the load after each round, and writes the same lines to
 * bench/results/DATE-nodeN-CPU_KIND-backward[-peers].txt (e.g. amd-epyc).
 */
import { cpus, loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
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
export async function tfjsGrads(peersDir: string, backend: 'wasm' | 'cpu', heads: number, n: number, d: number, inputs: { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array }): Promise<() => void> {
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

export async function runBackwardBench(options: { peers: boolean; peersDir: string; root: string; rounds?: number }): Promise<void> {
  const rounds = options.rounds ?? 7;
  const builds = (['wasm-relaxed-simd', 'wasm-simd'] as const).filter((name) => isBackendAvailable(name));
  const js = withBackward(await createAttention({ backend: 'js' }));
  const shapeOf = (heads: number, n: number, d: number) => [1, heads, n, d];
  const make = (heads: number, n: number, d: number, seed: number) => {
    const t = (s: number): Tensor<Float32Array> => ({ data: random(heads * n * d, seed + s), shape: shapeOf(heads, n, d) });
    return { q: t(1), k: t(2), v: t(3), dout: t(4) };
  };
  const H = 8, N = 1024, D = 64, NJ = 256;
  const big = make(H, N, D, 1);
  const small = make(H, NJ, D, 2);
  const smallOutput = js.attention(small.q, small.k, small.v).output;
  const smallLse = js.attentionLse(small.q, small.k, small.v);
  const units = H * N * N * D;
  const perBuild: Item[][] = [];
  for (const backend of builds) {
    const attn = withBackward(await createAttention({ backend }));
    const { output, lse } = attn.attention(big.q, big.k, big.v, { returnLse: true });
    const causal = attn.attention(big.q, big.k, big.v, { causal: true, returnLse: true });
    perBuild.push([
      { name: `forward ${backend}`, flops: 4 * units, call: () => void attn.attention(big.q, big.k, big.v), times: [] },
      { name: `forward(returnLse) ${backend}`, flops: 4 * units, call: () => void attn.attention(big.q, big.k, big.v, { returnLse: true }), times: [] },
      { name: `lse alone ${backend}`, flops: 2 * units, call: () => void attn.attentionLse(big.q, big.k, big.v), times: [] },
      { name: `backward ${backend}`, flops: 10 * units, call: () => void attn.attentionBackward({ ...big, output, lse: lse! }), times: [] },
      { name: `backward causal ${backend}`, flops: 5 * units, call: () => void attn.attentionBackward({ ...big, output: causal.output, lse: causal.lse! }, { causal: true }), times: [] },
      {
        name: `forward(returnLse)+backward ${backend}`,
        flops: 14 * units,
        call: () => {
          const forward = attn.attention(big.q, big.k, big.v, { returnLse: true });
          attn.attentionBackward({ ...big, output: forward.output, lse: forward.lse! });
        },
        times: [],
      },
    ]);
  }
  const jsItem: Item = { name: `backward js N${NJ}`, flops: (10 * units) / 16, call: () => void js.attentionBackward({ ...small, output: smallOutput, lse: smallLse }), times: [], rounds: 3 };
  let tfw: Item | undefined;
  if (options.peers) {
    const asArrays = (x: typeof big) => ({ q: x.q.data, k: x.k.data, v: x.v.data, dout: x.dout.data });
    // tfjs keeps one backend per process: the wasm one is prepared first and measured, then cpu.
    tfw = { name: 'tfjs-wasm tf.grads (fwd+bwd)', flops: 14 * units, call: await tfjsGrads(options.peersDir, 'wasm', H, N, D, asArrays(big)), times: [], rounds: 3 };
  }
  const time = async (item: Item) => {
    const started = performance.now();
    await item.call();
    item.times.push(performance.now() - started);
  };
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Both builds every round, their order alternating, so a load change hits both alike.
    const order = round % 2 === 0 ? perBuild : [...perBuild].reverse();
    for (const items of order) for (const item of items) await time(item);
    for (const item of [jsItem, tfw]) if (item && round < (item.rounds ?? rounds)) await time(item);
    loads.push(loadavg()[0]!);
  }
  const others: Item[] = [jsItem];
  if (tfw) others.push(tfw);
  const jsVsCpu: number[] = [];
  if (options.peers) {
    const cpu: Item = { name: `tfjs-cpu tf.grads (fwd+bwd) N${NJ}`, flops: (14 * units) / 16, call: await tfjsGrads(options.peersDir, 'cpu', H, NJ, D, { q: small.q.data, k: small.k.data, v: small.v.data, dout: small.dout.data }), times: [] };
    // Paired rounds (the JS backward warm by now: it ran in the rounds above), the ratio per
    // round as in bench/backward-js.ts, so that one slow first call cannot move it.
    for (let round = 0; round < 5; round++) {
      await time(cpu);
      await time(jsItem);
      jsVsCpu.push(cpu.times.at(-1)! / jsItem.times.at(-1)!);
    }
    others.push(cpu);
  }
  const lines: string[] = [];
  const out = (line: string) => {
    console.log(line);
    lines.push(line);
  };
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
  out(`# npm run bench -- --shapes backward${options.peers ? ' --peers' : ''}   (${new Date().toISOString().slice(0, 16)}Z, ${cpuModel} × ${cpus().length}, Node ${process.versions.node})`);
  out(`load (1-min average) after each round: ${loads.map((x) => x.toFixed(1)).join(' ')}; one thread; B1 H${H} D${D}, N${N} unless named; ${rounds} rounds`);
  out('name'.padEnd(44) + 'median ms'.padStart(11) + '   range (min–max)'.padEnd(22) + 'GFLOP/s'.padStart(9));
  for (const item of [...perBuild.flat(), ...others]) {
    out(item.name.padEnd(44) + median(item.times).toFixed(1).padStart(11) + `   ${range(item.times, 1)}`.padEnd(22) + (item.flops / median(item.times) / 1e6).toFixed(2).padStart(9));
  }
  // Ratios per round (the items of one round ran back to back), then their median and range.
  const ratio = (label: string, values: number[], target: number) => {
    const m = median(values);
    out(`${label.padEnd(62)} ${m.toFixed(2)}  (${range(values, 2)}; target ${target})  ${m >= target ? 'met' : 'MISSED'}`);
  };
  builds.forEach((backend, b) => {
    const [forward, , , backward, causal, step] = perBuild[b]!;
    const perRound = (f: (r: number) => number, count: number) => Array.from({ length: count }, (_, r) => f(r));
    ratio(`${backend}: backward FLOP rate / forward FLOP rate`, perRound((r) => (10 / backward!.times[r]!) / (4 / forward!.times[r]!), rounds), 0.75);
    ratio(`${backend}: dense backward time / causal backward time`, perRound((r) => backward!.times[r]! / causal!.times[r]!, rounds), 1.8);
    if (tfw) ratio(`${backend}: tfjs-wasm tf.grads / forward(returnLse)+backward`, perRound((r) => tfw!.times[r]! / step!.times[r]!, tfw.times.length), 10);
  });
  const tfc = others.find((item) => item.name.startsWith('tfjs-cpu'));
  if (tfc) ratio(`tfjs-cpu tf.grads (fwd+bwd) / js backward alone, N${NJ} (time)`, jsVsCpu, 5);
  out('2 threads / 1 thread: npm run bench -- --shapes backward-threads (bench/backward-threads.ts)');
  const kind = cpuModel.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, '').trim().split(/\s+/).slice(0, 2).join('-') || 'unknown';
  const dir = join(options.root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().slice(0, 10)}-node${process.versions.node.split('.')[0]}-${kind}-backward${options.peers ? '-peers' : ''}.txt`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  console.log(`wrote ${file}`);
}
