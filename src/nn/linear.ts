/** Linear layer `y = x·W + b` with W stored [in, out]. */
import { np, type Array } from "../engine/index.js";
import { KeyGen, normalInit, zerosInit } from "./init.js";

export type Linear = { w: Array; b?: Array };

/** W ~ N(0, std²) (default 0.02, GPT-2), b = 0 when `bias`. */
export function initLinear(kg: KeyGen, name: string, dIn: number, dOut: number, opts: { bias?: boolean; std?: number } = {}): Linear {
  const { bias = false, std = 0.02 } = opts;
  const w = normalInit(kg, `${name}.w`, [dIn, dOut], std);
  return bias ? { w, b: zerosInit([dOut]) } : { w };
}

/** x: [..., in] -> [..., out]. */
export function linear(p: Linear, x: Array): Array {
  const y = np.matmul(x, p.w);
  return p.b ? y.add(p.b) : y;
}

/**
 * Signature of a pluggable linear implementation. The transformer calls it at each named site
 * (`attn.qkv`, `attn.out`, `mlp.up`, `mlp.gate`, `mlp.down`) so a paper can swap the matmul
 * (FP4 quantized, modality-routed, ...) without forking the model.
 */
export type LinearFn = (p: Linear, x: Array, site: string) => Array;
export const denseLinear: LinearFn = (p, x) => linear(p, x);
