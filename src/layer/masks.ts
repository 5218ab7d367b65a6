/**
 * PyTorch's masks of `nn.MultiheadAttention` in the library's convention. PyTorch's boolean
 * masks mark what to IGNORE (`key_padding_mask` `[B, S]` 1 = padding; boolean `attn_mask`
 * `[L, S]` 1 = not allowed); the library's boolean masks mark what MAY be attended (1 =
 * attend). A float `attn_mask` is additive in both.
 */
import type { MaskTensor } from '../types.js';

/**
 * One library mask `[B, 1, L, S]` (or `[L, S]` without a key padding mask) from PyTorch's pair.
 * @param keyPaddingMask `[B, S]`, 1 = ignore the key; or null
 * @param attnMask `[L, S]`: Uint8Array (1 = not allowed) or Float32Array (added); or null
 * @returns the mask, or undefined when both are null
 * @example
 * layer.forward(x, { mask: torchMask(B, L, S, padding, null) });
 */
export function torchMask(batch: number, L: number, S: number, keyPaddingMask: Uint8Array | null, attnMask: Uint8Array | Float32Array | null): MaskTensor | undefined {
  if (!keyPaddingMask && !attnMask) return undefined;
  if (!keyPaddingMask) {
    if (attnMask instanceof Float32Array) return { data: attnMask, shape: [L, S] };
    return { data: attnMask!.map((x) => (x ? 0 : 1)), shape: [L, S] };
  }
  const additive = attnMask instanceof Float32Array;
  const data = additive ? new Float32Array(batch * L * S) : new Uint8Array(batch * L * S);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < L; i++) {
      for (let j = 0; j < S; j++) {
        const padded = keyPaddingMask[b * S + j] !== 0;
        const at = (b * L + i) * S + j;
        if (additive) data[at] = padded ? -Infinity : attnMask[i * S + j]!;
        else data[at] = padded || (attnMask && attnMask[i * S + j]) ? 0 : 1;
      }
    }
  }
  return { data, shape: [batch, 1, L, S] };
}
