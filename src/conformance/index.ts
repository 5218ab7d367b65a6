/**
 * Conformance vectors of ONNX `Attention` and `RotaryEmbedding`: loading, running and comparing (no file system:
 * scripts/conformance.ts and test/conformance.test.ts read the files).
 */
export { decodeBase64, decodeTensor, parseVector, type ConformanceVector } from './vector.js';
export { compareTensors, tensorValues, TOLERANCES, type TensorComparison, type Tolerance } from './compare.js';
export {
  attributesFor,
  formatResult,
  OUTPUT_NAMES,
  OUTPUT_NAMES_BY_OP,
  runVector,
  type OnnxAttentionRunner,
  type OutputResult,
  type VectorResult,
} from './run-vector.js';
export { GRAD_OUTPUTS, parseGradVector, runGradVector, type GradRunner, type GradVector } from './grad.js';
export { MHA_OUTPUTS, parseMhaVector, runMhaVector, type MhaFactory, type MhaVector } from './mha.js';
