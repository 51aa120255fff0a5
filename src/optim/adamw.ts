/**
 * AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.
 *   m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²
 *   θ ← θ - lr·( m/(1-β1^t) / (sqrt(v/(1-β2^t)) + eps) + wd·θ )
 * Weight decay applies only where `decayMask` says so: by default to matrices named `w`
 * (linear weights), not to embeddings, norms or biases. Pure pytree functions, `jit`-able: the
 * learning rate and step count come in as scalar arrays so a schedule does not retrace.
 */
import { np, tree, type Array, type JsTree } from "../engine/index.js";

export type AdamWConfig = { beta1: number; beta2: number; eps: number; weightDecay: number };
export const defaultAdamW: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export type AdamWState<P> = { m: P; v: P };

/** Zero moments shaped like `params` (does not consume params). */
export function adamwInit<P extends JsTree<Array>>(params: P): AdamWState<P> {
  const zeros = () => tree.map((x: Array) => np.zeros(x.shape), params as JsTree<Array>) as P;
  return { m: zeros(), v: zeros() };
}

/** Default decay rule: leaves whose key is `w` (linear weights). Returns a same-shaped tree of booleans. */
export function defaultDecayMask(params: unknown, key = ""): unknown {
  if (params && typeof params === "object" && "shape" in (params as object) && !Array.isArray(params)) return key === "w";
  if (Array.isArray(params)) return params.map((p) => defaultDecayMask(p, key));
  if (params && typeof params === "object") {
    return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, defaultDecayMask(v, k)]));
  }
  return false;
}

/** Flatten a tree to leaves in a fixed order (object keys in insertion order). */
function leavesOf(t: unknown, out: unknown[] = []): unknown[] {
  if (t && typeof t === "object" && !Array.isArray(t) && "shape" in (t as object)) out.push(t);
  else if (Array.isArray(t)) t.forEach((x) => leavesOf(x, out));
  else if (t && typeof t === "object") Object.values(t).forEach((x) => leavesOf(x, out));
  else if (typeof t === "boolean") out.push(t);
  return out;
}

/** Global L2 norm of a gradient tree (consumes nothing: reads through refs). Scalar array. */
export function globalNorm(grads: JsTree<Array>): Array {
  const ls = tree.leaves(grads) as Array[];
  let s: Array | null = null;
  for (const g of ls) {
    const sq = np.square(g.ref).sum();
    s = s ? s.add(sq) : sq;
  }
  return np.sqrt(s ?? np.zeros([]));
}

/**
 * Scale `grads` so their global norm is at most `maxNorm` (no-op when maxNorm <= 0).
 * Consumes grads; returns [clipped grads, pre-clip norm].
 */
export function clipByGlobalNorm<G extends JsTree<Array>>(grads: G, maxNorm: number): [G, Array] {
  const gn = globalNorm(grads);
  if (!(maxNorm > 0)) return [grads, gn];
  const scale = np.minimum(np.reciprocal(gn.ref.add(1e-6)).mul(maxNorm), 1);
  const out = tree.map((g: Array) => g.mul(scale.ref), grads as JsTree<Array>) as G;
  scale.dispose();
  return [out, gn];
}

/**
 * Host-side scalars of step `t` (1-based): the bias corrections 1-β1^t and 1-β2^t, computed in
 * float64 here because jax-js 0.1.25's `np.power` is off by ~1e-5 (1-0.999^1 came out 1.2 %
 * wrong), which would skew the first steps.
 */
export function adamwScalars(t: number, cfg: AdamWConfig): { bc1: number; bc2: number } {
  return { bc1: 1 - Math.pow(cfg.beta1, t), bc2: 1 - Math.pow(cfg.beta2, t) };
}

/**
 * One AdamW update. Consumes params, grads and state; `lr`, `bc1`, `bc2` are scalar arrays
 * (consumed) with bc1/bc2 from `adamwScalars(t)`. `mask` is a boolean tree from
 * `defaultDecayMask` (plain JS, not consumed).
 */
export function adamwUpdate<P extends JsTree<Array>>(
  params: P,
  grads: P,
  state: AdamWState<P>,
  sched: { lr: Array; bc1: Array; bc2: Array },
  cfg: AdamWConfig,
  mask: unknown,
): { params: P; state: AdamWState<P> } {
  const { beta1: b1, beta2: b2, eps, weightDecay: wd } = cfg;
  const { lr, bc1, bc2 } = sched;
  const [pl, def] = tree.flatten(params as JsTree<Array>) as [Array[], unknown];
  const gl = tree.leaves(grads as JsTree<Array>) as Array[];
  const ml = tree.leaves(state.m as JsTree<Array>) as Array[];
  const vl = tree.leaves(state.v as JsTree<Array>) as Array[];
  const dl = leavesOf(mask) as boolean[];
  if (dl.length !== pl.length) throw new Error(`adamw: decay mask has ${dl.length} leaves, params have ${pl.length}`);
  const np2: Array[] = [];
  const nm: Array[] = [];
  const nv: Array[] = [];
  for (let i = 0; i < pl.length; i++) {
    const g = gl[i];
    const m = ml[i].mul(b1).add(g.ref.mul(1 - b1));
    const v = vl[i].mul(b2).add(np.square(g).mul(1 - b2));
    const mhat = m.ref.div(bc1.ref);
    const vhat = v.ref.div(bc2.ref);
    let upd = mhat.div(np.sqrt(vhat).add(eps));
    let p = pl[i];
    if (dl[i] && wd > 0) upd = upd.add(p.ref.mul(wd));
    p = p.sub(upd.mul(lr.ref));
    np2.push(p);
    nm.push(m);
    nv.push(v);
  }
  bc1.dispose();
  bc2.dispose();
  lr.dispose();
  const un = (xs: Array[]) => tree.unflatten(def as Parameters<typeof tree.unflatten>[0], xs) as P;
  return { params: un(np2), state: { m: un(nm), v: un(nv) } };
}
