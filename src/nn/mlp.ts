/**
 * Feed-forward blocks: GELU MLP (GPT-2) and SwiGLU (Shazeer 2020): down(silu(gate(x)) ⊙ up(x)).
 */
import { jnn, type Array } from "../engine/index.js";
import { initLinear, denseLinear, type Linear, type LinearFn } from "./linear.js";
import { KeyGen } from "./init.js";

export type MLPKind = "gelu" | "swiglu";
export type MLP = { up: Linear; down: Linear; gate?: Linear };

export function initMLP(kg: KeyGen, name: string, d: number, hidden: number, kind: MLPKind, opts: { bias?: boolean; outStd?: number } = {}): MLP {
  const p: MLP = {
    up: initLinear(kg, `${name}.up`, d, hidden, { bias: opts.bias }),
    down: initLinear(kg, `${name}.down`, hidden, d, { bias: opts.bias, std: opts.outStd ?? 0.02 }),
  };
  if (kind === "swiglu") p.gate = initLinear(kg, `${name}.gate`, d, hidden, { bias: opts.bias });
  return p;
}

/** x: [..., D] -> [..., D]. */
export function mlp(p: MLP, x: Array, linearFn: LinearFn = denseLinear): Array {
  if (p.gate) {
    const g = jnn.silu(linearFn(p.gate, x.ref, "mlp.gate"));
    const h = g.mul(linearFn(p.up, x, "mlp.up"));
    return linearFn(p.down, h, "mlp.down");
  }
  const h = geluTanh(linearFn(p.up, x, "mlp.up"));
  return linearFn(p.down, h, "mlp.down");
}

const GELU_C = 2 * Math.sqrt(2 / Math.PI);
/**
 * GPT-2's tanh GELU, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as x·σ(2u) (the same
 * function: 1 + tanh(u) = 2σ(2u)). jax-js computes tanh from exp with a sign split, and under
 * `jit` in a training step that became about ten element-wise passes over the hidden layer; the
 * sigmoid form needs fewer.
 */
export function geluTanh(x: Array): Array {
  const u = x.ref.mul(x.ref.mul(x.ref).mul(0.044715).add(1)).mul(GELU_C);
  return x.mul(jnn.sigmoid(u));
}
