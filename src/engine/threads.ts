/**
 * The wasm thread count, from `--threads` or `TINYFOUNDRY_THREADS`. Pure (no engine import), so
 * the CLI's entry point can check the value before the engine loads: jax-js sizes its worker
 * pool once, when its wasm backend starts.
 */
export const MAX_THREADS = 64;

/** Why `raw` is not a thread count (one phrase), or null when it is one (or unset). */
export function threadsProblem(raw: string | undefined): string | null {
  if (raw === undefined || raw === "") return null;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= MAX_THREADS && /^\s*\d+\s*$/.test(raw) ? null : `expected an integer from 1 to ${MAX_THREADS}, got ${JSON.stringify(raw)}`;
}

/** The thread count `raw` asks for; `fallback` when unset. Throws one line for a bad value. */
export function parseThreads(raw: string | undefined, fallback: number): number {
  const p = threadsProblem(raw);
  if (p) throw new Error(`TINYFOUNDRY_THREADS: ${p}`);
  return raw === undefined || raw === "" ? fallback : Number(raw);
}
