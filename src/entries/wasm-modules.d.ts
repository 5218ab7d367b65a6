/**
 * `.wasm` imports as the edge runtimes' bundlers give them: a compiled `WebAssembly.Module`.
 * Cloudflare Workers (wrangler, workerd `CompiledWasm` modules) take `import m from './x.wasm'`;
 * Vercel Edge Functions take `import m from './x.wasm?module'`.
 */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
declare module '*.wasm?module' {
  const module: WebAssembly.Module;
  export default module;
}
