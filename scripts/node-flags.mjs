// The flags each Node version needs, in one place: every script that starts Node (vitest's
// forks, the runtime matrix, `npm run conformance`, the bench workers) asks here.
//
// Relaxed SIMD: Node 20 (V8 11.3) validates relaxed-SIMD opcodes only behind
// --experimental-wasm-relaxed-simd. V8 shipped the feature on by default in 11.4; Node 22
// (V8 12.4), 24 (V8 13.6) and 26 (V8 14.6) have it on and reject the flag ("bad option",
// checked on 22.23.5, 24.22.3 and 26.12.1), so it must not be passed there.
export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

/** Last Node major whose V8 runs relaxed SIMD only behind RELAXED_SIMD_FLAG. */
const LAST_MAJOR_NEEDING_RELAXED_FLAG = 20;

/**
 * The flags a Node version needs for every backend of the library (today: relaxed SIMD).
 * @param {string} [version] a Node version, `22.23.5` or `v22.23.5`; default: this process's
 * @returns {string[]} a new array, empty when that version needs none
 * @throws {TypeError} when `version` does not start with a major version number
 * @example spawn(node, [...nodeFlags(versionOfThatNode), script])
 */
export function nodeFlags(version = process.versions.node) {
  const match = /^v?(\d+)\./.exec(String(version));
  if (!match) throw new TypeError(`nodeFlags: expected a Node version like '22.23.5', got ${JSON.stringify(version)}`);
  return Number(match[1]) <= LAST_MAJOR_NEEDING_RELAXED_FLAG ? [RELAXED_SIMD_FLAG] : [];
}
