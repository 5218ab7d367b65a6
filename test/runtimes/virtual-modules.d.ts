/**
 * A module that scripts/runtimes/bundle.mjs provides when it bundles the conformance entry
 * points: the JSON vectors of test/fixtures/conformance/onnx-attention, as parsed objects.
 */
declare module 'virtual:onnx-vectors' {
  const vectors: readonly unknown[];
  export default vectors;
}

