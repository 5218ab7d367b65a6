/**
 * The Positions view: how the score between two tokens depends on where they are, with the
 * library's own position functions (`sinusoidalPositionalEncoding`, `rotaryEmbedding`, and
 * the `rotary` option of `attention`); only the dot products of their results are taken here.
 *
 * - Sinusoidal encodings (Vaswani et al. 2017, §3.5) are added to the token embeddings:
 *   PE(p)·PE(p + Δ) = Σ_i cos(ω_i Δ) depends on the distance Δ alone.
 * - RoPE (Su et al. 2021, RoFormer) rotates q and k by angles proportional to their
 *   positions: R(m)x · R(n)x = x · R(n − m)x, so the score of two identical vectors depends
 *   only on m − n, whatever m is. The view plots it from two starting positions to show that
 *   the curves coincide, and runs `attention` with `rotary` over identical tokens: every
 *   weight of the heatmap then comes from position alone.
 */
import type { AttentionInstance } from '../../src/index.js';
import { rotaryEmbedding, sinusoidalPositionalEncoding } from '../../src/positions/index.js';
import { normals } from './embeddings.js';
import { diverging, drawMatrix, viridis } from './heatmap.js';
import { drawLinePlot } from './plot.js';

export interface PositionSettings {
  /** Head size: the rotated (and encoded) dimension. */
  readonly dim: number;
  /** RoPE frequency base θ_i = base^(−2i/dim). */
  readonly base: number;
  /** The vector given to both q and k: all ones, or seeded normal samples. */
  readonly vector: 'ones' | 'random';
  readonly maxDistance: number;
}

export interface PositionCurves {
  readonly distances: number[];
  /** PE(p)·PE(p + Δ) / (dim/2), with p = 0: 1 at Δ = 0. */
  readonly sinusoidal: number[];
  /** R(Δ)x · R(0)x / x·x: the query Δ positions after the key. */
  readonly rope: number[];
  /** The same with both positions moved by {@link SHIFT}. */
  readonly ropeShifted: number[];
}

/** How far the second RoPE curve's positions are moved. */
export const SHIFT = 100;

function dot(a: Float32Array, aStart: number, b: Float32Array, bStart: number, length: number): number {
  let sum = 0;
  for (let d = 0; d < length; d++) sum += a[aStart + d]! * b[bStart + d]!;
  return sum;
}

/** The vector shared by q and k. */
function sharedVector(settings: PositionSettings): Float32Array {
  return settings.vector === 'ones' ? new Float32Array(settings.dim).fill(1) : normals(0x5eed, settings.dim);
}

/** The score-vs-distance curves of sinusoidal encodings and RoPE. */
export function positionCurves(settings: PositionSettings): PositionCurves {
  const { dim, base, maxDistance } = settings;
  const distances = Array.from({ length: maxDistance + 1 }, (_, n) => n);
  const table = sinusoidalPositionalEncoding(maxDistance + 1, dim).data;
  const sinusoidal = distances.map((distance) => dot(table, 0, table, distance * dim, dim) / (dim / 2));

  // One sequence of identical rows, rotated to positions 0 … SHIFT + maxDistance: row p is R(p)x.
  const x = sharedVector(settings);
  const length = SHIFT + maxDistance + 1;
  const rows = new Float32Array(length * dim);
  for (let p = 0; p < length; p++) rows.set(x, p * dim);
  const rotated = rotaryEmbedding({ data: rows, shape: [1, 1, length, dim] }, { base }).data as Float32Array;
  const norm = dot(x, 0, x, 0, dim);
  const ropeFrom = (start: number) => distances.map((distance) => dot(rotated, (start + distance) * dim, rotated, start * dim, dim) / norm);
  return { distances, sinusoidal, rope: ropeFrom(0), ropeShifted: ropeFrom(SHIFT) };
}

/** Tokens in the RoPE attention heatmap. */
const HEATMAP_TOKENS = 24;

/** The score of a token with itself in the RoPE heatmap: softer than 1/√D's ≈ √D, so the weights off the diagonal show. */
const SELF_SCORE = 3;

/**
 * Causal attention weights of {@link HEATMAP_TOKENS} identical tokens with the `rotary`
 * option (the library rotates q and k): `[tokens, tokens]`, one head, scaled so that a
 * token's score with itself is {@link SELF_SCORE}.
 */
export function ropeAttentionWeights(instance: AttentionInstance, settings: PositionSettings): Float32Array {
  const { dim, base } = settings;
  const x = sharedVector(settings);
  const rows = new Float32Array(HEATMAP_TOKENS * dim);
  for (let p = 0; p < HEATMAP_TOKENS; p++) rows.set(x, p * dim);
  const tensor = { data: rows, shape: [1, 1, HEATMAP_TOKENS, dim] };
  const scale = SELF_SCORE / dot(x, 0, x, 0, dim);
  const { weights } = instance.attention(tensor, tensor, tensor, { causal: true, scale, rotary: { base }, returnWeights: true });
  return weights!.data as Float32Array;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function readSettings(): PositionSettings {
  const value = (id: string) => $<HTMLSelectElement>(id).value;
  return {
    dim: Number(value('pos-dim')),
    base: Number(value('pos-base')),
    vector: value('pos-vector') === 'ones' ? 'ones' : 'random',
    maxDistance: Number(value('pos-distance')),
  };
}

/** Draws the view for the current controls; the curves are also left on the figure (`data-*`, for tests). */
export function renderPositions(instance: AttentionInstance, tooltip: HTMLElement): void {
  const settings = readSettings();
  const curves = positionCurves(settings);
  const figure = $('pos-curves');
  const rounded = (ys: number[]) => JSON.stringify(ys.map((y) => Math.round(y * 1e4) / 1e4));
  figure.dataset.sinusoidal = rounded(curves.sinusoidal);
  figure.dataset.rope = rounded(curves.rope);
  figure.dataset.ropeShifted = rounded(curves.ropeShifted);
  drawLinePlot($<HTMLCanvasElement>('pos-plot'), tooltip, {
    xs: curves.distances,
    series: [
      { label: 'sinusoidal PE(p)·PE(p+Δ)', color: '#bc4c00', ys: curves.sinusoidal },
      { label: 'RoPE q·k, key at 0', color: '#0969da', ys: curves.rope },
      { label: `RoPE q·k, key at ${SHIFT}`, color: '#1a7f37', ys: curves.ropeShifted, dashed: true },
    ],
    xLabel: 'distance Δ (query position − key position)',
    yLabel: 'score / score at Δ = 0',
    width: 640,
  });

  const { data } = sinusoidalPositionalEncoding(64, settings.dim);
  drawMatrix($<HTMLCanvasElement>('pos-table'), tooltip, {
    rows: 64,
    cols: settings.dim,
    value: (p, d) => data[p * settings.dim + d]!,
    rowLabels: Array.from({ length: 64 }, (_, p) => (p % 8 === 0 ? String(p) : '')),
    color: (v) => diverging(v, 1),
    describe: (p, d) => `position ${p} · dim ${d} (${d % 2 === 0 ? 'sin' : 'cos'}) = ${data[p * settings.dim + d]!.toFixed(4)}`,
    maxCell: 6,
    maxWidth: 520,
  });

  const weights = ropeAttentionWeights(instance, settings);
  // The last query's row (all 24 keys), for tests: with RoPE it peaks at distance 0; without, it would be flat.
  $('pos-attention').dataset.lastRow = rounded(Array.from(weights.subarray((HEATMAP_TOKENS - 1) * HEATMAP_TOKENS)));
  const tokens = Array.from({ length: HEATMAP_TOKENS }, (_, p) => String(p));
  let largest = 0;
  for (const w of weights) largest = Math.max(largest, w);
  drawMatrix($<HTMLCanvasElement>('pos-attention'), tooltip, {
    rows: HEATMAP_TOKENS,
    cols: HEATMAP_TOKENS,
    value: (i, j) => weights[i * HEATMAP_TOKENS + j]!,
    rowLabels: tokens,
    colLabels: tokens,
    color: (w) => viridis(w / (largest || 1)),
    masked: (i, j) => j > i,
    describe: (i, j) => `query ${i} → key ${j} (distance ${i - j}) = ${weights[i * HEATMAP_TOKENS + j]!.toFixed(4)}`,
    maxCell: 16,
    maxWidth: 460,
  });
}

/** Wires the controls of the view and draws it once. */
export function setupPositions(instance: AttentionInstance, tooltip: HTMLElement): void {
  $('pos-controls').addEventListener('input', () => renderPositions(instance, tooltip));
  $('pos-controls').addEventListener('submit', (event) => event.preventDefault());
  renderPositions(instance, tooltip);
}
