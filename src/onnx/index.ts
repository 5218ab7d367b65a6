/**
 * The ONNX `Attention` operator (opsets 23 and 24) on any backend: types and entry point.
 */
export { runOnnxAttention } from './run.js';
export { STAGE_OF_MODE } from './attributes.js';
export type { OnnxAttributes, OnnxDtype, OnnxOutputs, OnnxRunOptions, OnnxTensor, OnnxTensorData } from './types.js';
