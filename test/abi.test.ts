// One source for the kernel ABI (issue #12, STYLE.md): the parameter block's fields are
// written once, in scripts/abi-spec.mjs, and scripts/gen-abi.mjs generates the
// AssemblyScript side (assembly/abi.ts) and the TypeScript side
// (src/backends/wasm/abi-params.ts). These tests fail when a generated file is stale or was
// edited by hand, or when the two sides disagree, before any kernel reads a wrong field.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKWARD_FIELDS, PARAM_COUNT as SPEC_PARAM_COUNT, PARAM_FIELDS } from '../scripts/abi-spec.mjs';
import { ABI_FILES } from '../scripts/gen-abi.mjs';
import { PARAM, PARAM_BYTES, PARAM_COUNT } from '../src/backends/wasm/abi';

const root = join(__dirname, '..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

/** The `export const NAME: i32 = N;` constants of assembly/abi.ts, as written in the file. */
function assemblyScriptConstants(): Record<string, number> {
  const constants: Record<string, number> = {};
  for (const [, name, value] of read('assembly/abi.ts').matchAll(/^export const (\w+): i32 = (\d+);/gm)) constants[name!] = Number(value);
  return constants;
}

/** Every .ts file under assembly/, relative to the root. */
function assemblyFiles(dir = 'assembly'): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? assemblyFiles(`${dir}/${entry.name}`) : entry.name.endsWith('.ts') ? [`${dir}/${entry.name}`] : [],
  );
}

describe('kernel ABI: one field table', () => {
  it.each(Object.keys(ABI_FILES))('generated_file_is_current: %s', (file) => {
    // Stale or hand-edited: run `node scripts/gen-abi.mjs` (or `npm run build:wasm`) after changing scripts/abi-spec.mjs.
    expect(read(file), `${file} differs from what scripts/gen-abi.mjs generates`).toBe(ABI_FILES[file]!());
  });

  it('field_indices_are_0_to_n_minus_1_unique_names_unique', () => {
    expect(PARAM_FIELDS.map((field) => field.index)).toEqual([...PARAM_FIELDS.keys()]);
    expect(new Set(PARAM_FIELDS.map((field) => field.name)).size).toBe(PARAM_FIELDS.length);
    for (const field of PARAM_FIELDS) expect(field.name, `field ${field.index}`).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });

  it('backward_fields_follow_the_forward_block', () => {
    expect(BACKWARD_FIELDS.map((field) => field.index)).toEqual(BACKWARD_FIELDS.map((_, n) => SPEC_PARAM_COUNT + n));
    expect(BACKWARD_FIELDS.every((field) => field.type === 'i32')).toBe(true);
  });

  it('f32_fields_are_exactly_scale_and_softcap', () => {
    for (const field of PARAM_FIELDS) expect(['i32', 'f32'], `${field.name}.type`).toContain(field.type);
    expect(PARAM_FIELDS.filter((field) => field.type === 'f32').map((field) => field.name)).toEqual(['SCALE', 'SOFTCAP']);
  });

  it('assemblyscript_and_typescript_sides_agree', () => {
    const expected = Object.fromEntries(PARAM_FIELDS.map((field) => [field.name, field.index]));
    expect(PARAM).toEqual(expected);
    expect(assemblyScriptConstants()).toEqual({ ...expected, PARAM_COUNT: PARAM_FIELDS.length });
    expect(PARAM_COUNT).toBe(PARAM_FIELDS.length);
    expect(PARAM_BYTES).toBe(PARAM_FIELDS.length * 4);
  });

  it('kernels_load_each_field_with_the_function_of_its_type', () => {
    // paramF32 on an i32 field (or the reverse) reads the right bytes as the wrong number.
    // Only calls naming a field constant are checked: a variable holding a field index
    // (`ptrField` in assembly/attention.ts, the tensor fields, all i32) cannot be, statically.
    const typeOf = new Map([...PARAM_FIELDS, ...BACKWARD_FIELDS].map((field) => [field.name, field.type]));
    const wrong: string[] = [];
    let loads = 0;
    for (const file of assemblyFiles()) {
      for (const [call, type, field] of read(file).matchAll(/param(I32|F32)\(\s*\w+\s*,\s*([A-Z][A-Z0-9_]*)\s*\)/g)) {
        loads++;
        if (typeOf.get(field!) !== type!.toLowerCase()) wrong.push(`${file}: ${call} (${field} is ${typeOf.get(field!) ?? 'not a field'})`);
      }
    }
    expect(loads, 'paramI32/paramF32 calls found in assembly/').toBeGreaterThan(20);
    expect(wrong).toEqual([]);
  });
});
