/**
 * Guards a cache or pinned tensor while async calls (`attentionAsync`, `decodeAsync`) that
 * read or write it are queued or running. Worker threads read the cache's rows, and the
 * pinned inputs, and write the pinned output, where they live in the shared memory for as
 * long as the call runs; so from the call until it settles, changing or freeing them
 * (`append`, `truncate`, `reset`, `dispose`) throws. The guard is taken when the async call
 * is made, not when the queued call starts, so that what the caller may do does not depend
 * on what else is queued; an `append` that grows the cache would otherwise free rows the
 * workers are reading.
 */
export class InFlight {
  private calls = 0;

  /** Marks one call as using the resource; returns its release (idempotent). */
  hold(): () => void {
    this.calls++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.calls--;
    };
  }

  /** Throws when a call uses the resource; `action` names what was attempted (e.g. `cache.append`). */
  checkIdle(action: string, what: string): void {
    if (this.calls === 0) return;
    throw new Error(
      `${action}: expected no attentionAsync or decodeAsync call using this ${what}, got ${this.calls} in flight (await ${this.calls === 1 ? 'it' : 'them'} first: worker threads use it until the call settles)`,
    );
  }
}
