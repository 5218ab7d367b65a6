/**
 * Grow-only scratch arrays owned by one instance, so repeated calls of one shape allocate
 * nothing on the host side either (float16 conversions, intermediate outputs). An array
 * handed out is valid until the next request for the same slot.
 */
export class Workspace {
  private readonly buffers = new Map<string, Float32Array>();
  private readonly buffers64 = new Map<string, Float64Array>();

  /** A Float32Array of exactly `length` elements, reusing the slot's storage when large enough. */
  f32(slot: string, length: number): Float32Array {
    let buffer = this.buffers.get(slot);
    if (!buffer || buffer.length < length) {
      buffer = new Float32Array(Math.max(length, Math.ceil((buffer?.length ?? 0) * 1.5)));
      this.buffers.set(slot, buffer);
    }
    return buffer.subarray(0, length);
  }

  /** A Float64Array of exactly `length` elements, like {@link Workspace.f32} (RoPE angles). */
  f64(slot: string, length: number): Float64Array {
    let buffer = this.buffers64.get(slot);
    if (!buffer || buffer.length < length) this.buffers64.set(slot, (buffer = new Float64Array(Math.max(length, Math.ceil((buffer?.length ?? 0) * 1.5)))));
    return buffer.subarray(0, length);
  }
}
