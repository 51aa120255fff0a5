/**
 * Normalisation layers.
 * RMSNorm (Zhang & Sennrich 2019): y = x / sqrt(mean(x²) + eps) · g.
 * LayerNorm (Ba et al. 2016): y = (x - mean) / sqrt(var + eps) · g + b.
 */
import { np, type Array } from "../engine/index.js";

export type RMSNorm = { g: Array };
export type LayerNorm = { g: Array; b: Array };
export type Norm = RMSNorm | LayerNorm;
export type NormKind = "rms" | "layer";

export function initNorm(kind: NormKind, dim: number): Norm {
  return kind === "rms" ? { g: np.ones([dim]) } : { g: np.ones([dim]), b: np.zeros([dim]) };
}

/** x: [..., D] -> [..., D]. */
export function rmsNorm(p: RMSNorm, x: Array, eps = 1e-5): Array {
  const ms = np.square(x.ref).mean(-1, { keepdims: true });
  return x.mul(np.reciprocal(np.sqrt(ms.add(eps)))).mul(p.g);
}

/** x: [..., D] -> [..., D]. */
export function layerNorm(p: LayerNorm, x: Array, eps = 1e-5): Array {
  const mu = x.ref.mean(-1, { keepdims: true });
  const xc = x.sub(mu);
  const v = np.square(xc.ref).mean(-1, { keepdims: true });
  return xc.mul(np.reciprocal(np.sqrt(v.add(eps)))).mul(p.g).add(p.b);
}

export function norm(p: Norm, x: Array, eps = 1e-5): Array {
  return "b" in p ? layerNorm(p, x, eps) : rmsNorm(p, x, eps);
}
