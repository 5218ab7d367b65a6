// Types of scripts/abi-spec.mjs, for the TypeScript files that import it.
export interface ParamField {
  readonly name: string;
  readonly index: number;
  readonly type: 'i32' | 'f32';
  readonly doc?: string;
}
export declare const PARAM_FIELDS: ReadonlyArray<ParamField>;
export declare const PARAM: Readonly<Record<string, number>>;
export declare const PARAM_COUNT: number;
export declare const PARAM_BYTES: number;
export declare const BACKWARD_FIELDS: ReadonlyArray<ParamField>;
export declare const BACKWARD_PARAM_COUNT: number;
