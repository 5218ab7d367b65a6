/**
 * The public API is documented (issue #11): TypeDoc converts src/index.ts with the
 * project's typedoc.json (`npm run docs`) and must report no warning: with
 * `validation.notDocumented`, an exported function, interface, member, type alias or
 * constant without a comment is one, and so is a broken `{@link}`. On top of that, every
 * exported function and interface method states `@param` for each parameter, `@returns`
 * (unless it returns nothing), `@throws` (unless listed below as not throwing) and
 * `@example`: STYLE.md's "Document every export".
 *
 * Only conversion and validation run here (one TypeScript program of src/, ≈ 10 s of CPU);
 * rendering the HTML (`npm run docs`) adds nothing the checks could fail on, so it is left out.
 */
import { Application, Logger, LogLevel, ReflectionKind, type DeclarationReflection, type SignatureReflection } from 'typedoc';
import { describe, expect, it } from 'vitest';

/** Functions and methods that throw nothing of their own (no validation to report). */
const DOES_NOT_THROW = new Set([
  'halfToFloat', // bit manipulation of any number
  'floatToHalf',
  'halfArrayToFloat32', // element-wise copies of the arrays given
  'float32ArrayToHalf',
  'isBackendAvailable', // an unknown name is simply not available
  'AttentionInstance.dispose', // idempotent, ends workers
]);

/** Collects what TypeDoc logs, instead of printing it. */
class CollectingLogger extends Logger {
  readonly messages: string[] = [];
  override log(message: string, level: LogLevel): void {
    super.log(message, level);
    if (level >= LogLevel.Warn) this.messages.push(`${LogLevel[level]}: ${message}`);
  }
}

function tagsOf(signature: SignatureReflection): Set<string> {
  return new Set(signature.comment?.blockTags.map((tag) => tag.tag) ?? []);
}

describe('API documentation', () => {
  it('typedoc_converts_without_warnings_and_functions_have_param_returns_throws_example', async () => {
    const app = await Application.bootstrapWithPlugins({});
    const logger = new CollectingLogger();
    app.logger = logger;
    const project = await app.convert();
    expect(project, logger.messages.join('\n')).toBeDefined();
    app.validate(project!);
    expect(logger.messages, 'typedoc warnings and errors').toEqual([]);

    const problems: string[] = [];
    const callables = project!.getReflectionsByKind(ReflectionKind.Function | ReflectionKind.Method) as DeclarationReflection[];
    for (const callable of callables) {
      const name = callable.getFriendlyFullName();
      for (const signature of callable.signatures ?? []) {
        const tags = tagsOf(signature);
        for (const parameter of signature.parameters ?? []) {
          if (!parameter.comment?.summary.length) problems.push(`${name}: no @param ${parameter.name}`);
        }
        const returnsVoid = signature.type?.toString() === 'void';
        if (!returnsVoid && !tags.has('@returns')) problems.push(`${name}: no @returns`);
        if (!tags.has('@example')) problems.push(`${name}: no @example`);
        if (!tags.has('@throws') && !DOES_NOT_THROW.has(name)) problems.push(`${name}: no @throws`);
      }
    }
    expect(callables.length).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  }, 180_000);
});
