/**
 * Persistent blocks of the kernel's linear memory: KV caches and pinned tensors that live
 * across calls. A first-fit free list over `[heapBase, top)`; the per-call region of every
 * `attention`/`decode` call is laid out from `top` (above every live block), so a call
 * never overwrites a cache.
 *
 *   heapBase → [block][free][block]...[block] ← top → [this call's params, q, k, v, ...]
 *
 * Blocks are few and large (one per cache, one per pinned tensor), so a sorted array with
 * linear scans is enough; freeing coalesces neighbours, and a free run at the end lowers
 * `top` (the per-call region moves down again). Memory itself is never shrunk: a freed
 * block is reused by the next allocation that fits (first fit), else by the calls.
 */

const ALIGN = 16;
const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

interface Span {
  ptr: number;
  bytes: number;
  free: boolean;
}

export class BlockAllocator {
  /** Address-ordered spans covering `[base, top)` exactly. */
  private readonly spans: Span[] = [];

  constructor(private readonly base: number) {}

  /** First byte after the last live block (16-byte aligned): where a call's region starts. */
  get top(): number {
    const last = this.spans[this.spans.length - 1];
    return last ? last.ptr + last.bytes : align(this.base);
  }

  /** Bytes held by live blocks. */
  get liveBytes(): number {
    let bytes = 0;
    for (const span of this.spans) if (!span.free) bytes += span.bytes;
    return bytes;
  }

  /**
   * Reserves `bytes` (rounded up to 16) and returns the block's address, 16-byte aligned.
   * The caller must make memory large enough for `top` afterwards (see `wouldEndAt`).
   */
  allocate(bytes: number): number {
    const size = align(Math.max(bytes, 1));
    for (let i = 0; i < this.spans.length; i++) {
      const span = this.spans[i]!;
      if (!span.free || span.bytes < size) continue;
      if (span.bytes > size) this.spans.splice(i + 1, 0, { ptr: span.ptr + size, bytes: span.bytes - size, free: true });
      span.bytes = size;
      span.free = false;
      return span.ptr;
    }
    const ptr = this.top;
    this.spans.push({ ptr, bytes: size, free: false });
    return ptr;
  }

  /** The `top` that `allocate(bytes)` would leave, without allocating (to grow memory first). */
  wouldEndAt(bytes: number): number {
    const size = align(Math.max(bytes, 1));
    for (const span of this.spans) if (span.free && span.bytes >= size) return this.top;
    return this.top + size;
  }

  /** Releases the block at `ptr` (a no-op for an address that is not a live block). */
  free(ptr: number): void {
    const i = this.spans.findIndex((span) => span.ptr === ptr && !span.free);
    if (i < 0) return;
    this.spans[i]!.free = true;
    // Coalesce with the next, then with the previous free neighbour.
    const next = this.spans[i + 1];
    if (next?.free) {
      this.spans[i]!.bytes += next.bytes;
      this.spans.splice(i + 1, 1);
    }
    const prev = this.spans[i - 1];
    if (prev?.free) {
      prev.bytes += this.spans[i]!.bytes;
      this.spans.splice(i, 1);
    }
    // A free run at the end is given back to the per-call region.
    const last = this.spans[this.spans.length - 1];
    if (last?.free) this.spans.pop();
  }
}
