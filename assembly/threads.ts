// The threads builds' exports (asconfig.json `threads`, `threads-relaxed`: shared memory,
// loaded by src/threads/ only when an instance asks for threads): the default build's,
// plus one thread's share of a plan and the size of the key split's partial states, which
// the host merges (src/threads/decode.ts, src/threads/README.md).
export * from './index';
export { attentionRange } from './attention';
export { decodeRange } from './threads/decode-range';
export { decodePartialsBytes } from './decode/partials';
