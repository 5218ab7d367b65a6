// The threads builds' exports (asconfig.json `threads`, `threads-relaxed`: shared memory,
// loaded by src/threads/ only when an instance asks for threads): the default build's,
// plus one thread's share of a plan and the size of the key split's partial states, which
// the host merges (src/threads/decode.ts, src/threads/README.md), and int8 quantisation at append.
export * from './index';
export { attentionRange } from './attention';
export { decodeRange } from './threads/decode-range';
export { decodePartialsBytes } from './decode/partials';
export { quantizeI8Rows } from './cache/f32-i8-quantize-4'; // int8 at append, as the int8 builds (assembly/int8.ts)
