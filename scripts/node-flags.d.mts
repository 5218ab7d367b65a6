// Types of scripts/node-flags.mjs, for the TypeScript files that import it.
export declare const RELAXED_SIMD_FLAG: '--experimental-wasm-relaxed-simd';
export declare function nodeFlags(version?: string): string[];
