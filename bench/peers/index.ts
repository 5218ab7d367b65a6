/**
 * Third-party implementations measured by `--peers`, on the same inputs as wasm-attention.
 * Their packages live in bench/peers/node_modules (bench/peers/package.json), never in the
 * library's dependencies, and are loaded from there at run time.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Prepared } from '../measure.js';
import type { Inputs, Shape } from '../shapes.js';
import { prepareNaive } from './naive.js';
import { prepareOrt } from './ort.js';
import { prepareTfjs } from './tfjs.js';

/** What a peer needs to prepare a shape. */
export interface PeerContext {
  readonly shape: Shape;
  readonly inputs: Inputs;
  /** `require` resolving from bench/peers/. */
  readonly require: NodeRequire;
  /** The benchmark's correctness gate (bench/check.ts); throws on a wrong output. */
  check(name: string, output: Float32Array): void;
  /** Times `call` briefly (one warm-up and one run): for choosing between variants. */
  pilot(call: () => Promise<void>): Promise<number>;
}

export const PEERS: Readonly<Record<string, (context: PeerContext) => Promise<Prepared>>> = {
  'onnxruntime-web 1T': (context) => prepareOrt(context, 1),
  'onnxruntime-web 2T': (context) => prepareOrt(context, 2),
  'tfjs-wasm': (context) => prepareTfjs(context, 'wasm'),
  'tfjs-cpu': (context) => prepareTfjs(context, 'cpu'),
  'naive-js': async (context) => prepareNaive(context),
};

export const PEER_NAMES: readonly string[] = Object.keys(PEERS);

/** Packages that must be present in bench/peers/node_modules. */
const PACKAGES = ['onnxruntime-web', '@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'];

export function peersInstalled(peersDir: string): boolean {
  return PACKAGES.every((name) => existsSync(join(peersDir, 'node_modules', name, 'package.json')));
}

export function peerRequire(peersDir: string): NodeRequire {
  return createRequire(join(peersDir, 'package.json'));
}
