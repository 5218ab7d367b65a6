// Types of scripts/gen-abi.mjs, for the TypeScript files that import it.
export declare function assemblyScriptAbi(): string;
export declare function typeScriptAbi(): string;
export declare const ABI_FILES: Readonly<Record<string, () => string>>;
export declare function writeAbi(root: string): void;
