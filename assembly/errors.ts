// Return codes of `attention` (0 = success). Mirrored in the report to the host; the host
// validates plans, so these only catch host bugs.

/** The plan ran. */
export const OK: i32 = 0;
/** SCRATCH_BYTES is smaller than scratchBytes(params). */
export const ERR_SCRATCH_TOO_SMALL: i32 = 1;
/** A size is negative, kvHeads is 0, or qHeads is not a multiple of kvHeads. */
export const ERR_BAD_SHAPE: i32 = 2;
/** SCRATCH_PTR is not 16-byte aligned. */
export const ERR_SCRATCH_MISALIGNED: i32 = 3;
/** attentionRange / decodeRange: `first` is not in [0, stride) (threads, src/threads/). */
export const ERR_BAD_RANGE: i32 = 4;
