/**
 * First byte the host may use: after the data segments (the constant table), aligned up
 * to 16 bytes. The build uses the stub runtime and never allocates, so everything from
 * here to the end of memory belongs to the host.
 * @returns a byte offset, a multiple of 16
 */
export function heapBase(): usize {
  return (__heap_base + 15) & ~<usize>15;
}
