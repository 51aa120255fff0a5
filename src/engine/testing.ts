/**
 * Test helpers: float64 copies of parameter trees, finite-difference gradient checks, closeness
 * with a readable failure, and a live-buffer leak check. Used by the tests of every layer.
 */
import { np, tree, grad, liveBuffers, type Array, type JsTree } from "./index.js";
import { flattenNamed, unflattenNamed } from "./named.js";

/** A float64 copy of a tree (does not consume it). */
export function toF64<T>(t: T): T {
  return tree.map((x: Array) => x.ref.astype(np.float64), t as JsTree<Array>) as T;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Throw with the worst index if |a-b| > atol + rtol·|b| anywhere. */
export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, opts: { atol?: number; rtol?: number; what?: string } = {}): void {
  const { atol = 1e-5, rtol = 1e-5, what = "values" } = opts;
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    const tol = atol + rtol * Math.abs(b[i]);
    if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`${what}: index ${i}: ${a[i]} vs ${b[i]} (tol ${tol})`);
  }
}

/**
 * Compare `grad(f)` with central differences at `samplesPerLeaf` random coordinates of every
 * leaf, in float64. `f(params) -> scalar` must consume its argument. Returns the worst
 * normalised error max |g - fd| / (atol + rtol·|fd|): below 1 means every sampled coordinate
 * agrees. jax-js evaluates transcendental functions at about float32 precision even in float64,
 * so the defaults are eps 1e-3 (truncation ~1e-6), atol 5e-4 (difference noise ~1e-4) and rtol
 * 1e-2; a wrong gradient (sign, factor, missing term) gives errors far above 1.
 */
export async function finiteDiffCheck<P>(
  f: (p: P) => Array,
  params: P,
  opts: { eps?: number; samplesPerLeaf?: number; seed?: number; atol?: number; rtol?: number } = {},
): Promise<number> {
  const { eps = 1e-3, samplesPerLeaf = 4, seed = 1, atol = 5e-4, rtol = 1e-2 } = opts;
  const p64 = toF64(params);
  const g = grad(f as (p: unknown) => Array)(tree.ref(p64 as JsTree<Array>)) as P;
  const named = flattenNamed(p64);
  const gNamed = flattenNamed(g);
  const host: Record<string, Float64Array> = {};
  for (const [k, a] of Object.entries(named)) host[k] = Float64Array.from((await a.ref.data()) as Float64Array);
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const evalAt = async (): Promise<number> => {
    const arrs: Record<string, Array> = {};
    for (const [k, v] of Object.entries(host)) arrs[k] = np.array(v, { dtype: np.float64 }).reshape(named[k].shape);
    const t = unflattenNamed(p64, arrs);
    return Number((await f(t).data())[0]);
  };
  let worst = 0;
  for (const [k, v] of Object.entries(host)) {
    const gv = (await gNamed[k].ref.data()) as Float64Array;
    for (let j = 0; j < Math.min(samplesPerLeaf, v.length); j++) {
      const i = Math.floor(rnd() * v.length);
      const old = v[i];
      v[i] = old + eps;
      const fp = await evalAt();
      v[i] = old - eps;
      const fm = await evalAt();
      v[i] = old;
      const fd = (fp - fm) / (2 * eps);
      const err = Math.abs(gv[i] - fd) / (atol + rtol * Math.abs(fd));
      if (err > worst) worst = err;
    }
  }
  tree.dispose(p64 as JsTree<Array>);
  tree.dispose(g as JsTree<Array>);
  return worst;
}

/** Run `fn` `n` times and return the growth in live wasm buffers from the 2nd to the last run. */
export async function bufferGrowth(n: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  const before = liveBuffers();
  for (let i = 1; i < n; i++) await fn();
  return liveBuffers() - before;
}
