/**
 * Which JavaScript runtime this is, and its version, without any runtime-specific import.
 */
export function describeRuntime(): string {
  const g = globalThis as {
    Deno?: { version: { deno: string; v8: string } };
    Bun?: { version: string };
    EdgeRuntime?: string;
    navigator?: { userAgent?: string };
    process?: { versions?: { node?: string; v8?: string } };
  };
  if (g.Deno) return `Deno ${g.Deno.version.deno} (V8 ${g.Deno.version.v8})`;
  if (g.Bun) return `Bun ${g.Bun.version} (JavaScriptCore)`;
  if (typeof g.EdgeRuntime === 'string') return `EdgeRuntime '${g.EdgeRuntime}'`;
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  const chrome = g.navigator?.userAgent?.match(/(?:Headless)?Chrome\/[\d.]+/);
  if (chrome) return chrome[0];
  if (g.process?.versions?.node) return `Node ${g.process.versions.node} (V8 ${g.process.versions.v8})`;
  return g.navigator?.userAgent ?? 'unknown runtime';
}
