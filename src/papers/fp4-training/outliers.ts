/**
 * The mechanism test's outlier channel (the protocol's "mechanism test": recreate the cause on
 * purpose). Large LLMs grow activation channels far larger than the rest of a row; OCC exists for
 * them (§3.2). A small byte model has none, so we make one without changing the float model: at
 * every quantized linear the activation's channel `channel` is multiplied by `factor` and the
 * matching row of the weight ([in, out]) divided by it. `A·W = (A·S)·(S⁻¹·W)` for the diagonal S,
 * and with a power of two as the factor both products are exact in float32, so the fp32 network
 * computes the same function (and the same gradients) bit for bit; only a quantizer sees the
 * outlier.
 */
import { np } from "../../engine/index.js";
import type { LinearFn } from "../../nn/linear.js";

export type OutlierInjection = {
  /** The input channel made an outlier (the same index at every site; taken modulo the width). */
  channel: number;
  /** Its scale (16 in the mechanism test); the weight row is divided by it. */
  factor: number;
  /** The sites that get the outlier channel. */
  sites: readonly string[];
};

/** [c] scales: `factor` at the outlier channel, 1 elsewhere. */
function channelScales(c: number, o: OutlierInjection, invert: boolean): Float32Array {
  const s = new Float32Array(c).fill(1);
  s[o.channel % c] = invert ? 1 / o.factor : o.factor;
  return s;
}

/**
 * Wrap a `LinearFn` so that, at the injected sites, it sees the activation with one channel
 * scaled by `factor` and the weight with the matching row divided by it. Consumes like the
 * wrapped function (p.w and x).
 */
export function injectOutlierChannel(inner: LinearFn, o: OutlierInjection): LinearFn {
  const sites = new Set(o.sites);
  return (p, x, site) => {
    if (!sites.has(site)) return inner(p, x, site);
    const c = x.shape[x.ndim - 1];
    const xs = x.mul(np.array(channelScales(c, o, false)));
    const ws = p.w.mul(np.array(channelScales(c, o, true)).reshape([c, 1]));
    return inner({ ...p, w: ws }, xs, site);
  };
}

/** The same injection on captured activations (row-major [rows, cols]): a scaled copy. */
export function injectIntoRows(a: { data: Float32Array; rows: number; cols: number }, o: Pick<OutlierInjection, "channel" | "factor">): { data: Float32Array; rows: number; cols: number } {
  const data = Float32Array.from(a.data);
  const j = o.channel % a.cols;
  for (let r = 0; r < a.rows; r++) data[r * a.cols + j] *= o.factor;
  return { data, rows: a.rows, cols: a.cols };
}
