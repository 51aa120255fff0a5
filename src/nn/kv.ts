/**
 * The decode step of the growing two-level KV cache with fewer kernels per token (issue 25, generation). It computes
 * what `lmDecodeStepSplit` computes, operation for operation, so its values are the same bit for bit; it only moves
 * work that every token repeated out of the step or stops jax-js from materialising intermediates:
 * - q, k and v are slices of the qkv projection read by their consumers' kernels (`np.split` made a copy kernel
 *   of each), and the input embeddings are made on the host (no lookup, position lookup and add kernels);
 * - the one-hot write mask of the recent slots and the score biases of main's and recent's slots come from the
 *   host, already split (no mask kernels, no copies of bias slices, once per layer), and the recent keys and
 *   values live in one array, written by one kernel;
 * - LayerNorm recomputes the mean and x - mean inside its variance and its output instead of materialising them,
 *   and the softmax's joint maximum is computed inside both exp kernels.
 * Used for the dense matmul only; a model that swaps matmuls through a `linearFn` keeps `lmDecodeStepSplit`.
 */
import { np, type Array } from "../engine/index.js";
import { unembed } from "./embedding.js";
import { linear, type Linear } from "./linear.js";
import { norm, type Norm } from "./norm.js";
import { applyRope, ropeTables, type KVLayer } from "./attention.js";
import { mlp } from "./mlp.js";
import type { KVCache, LMConfig, LMParams } from "./transformer.js";

/** The host-made masks of one step: `onehot`/`keep` [1, K, 1] (recent slot written / kept), biases [B, M, 1] and [B, K, 1]. */
export type DecodeMasks = { onehot: Array; keep: Array; biasMain: Array; biasRecent: Array };

/**
 * LayerNorm as `layerNorm` computes it (mean = sum · (1/D), as jax-js's `mean`), with the mean and x - mean
 * recomputed by each consumer instead of materialised (one sum, one sum of squares, one normalisation: 3 kernels,
 * was 4); RMSNorm as `norm`. Consumes x.
 */
function normFused(p: Norm, x: Array, eps = 1e-5): Array {
  if (!("b" in p)) return norm(p, x, eps);
  const n = x.shape[x.ndim - 1];
  const kept = [...x.shape.slice(0, -1), 1];
  // The sum is the shared node (a kernel anyway); a shared keepdims reshape or mean would be one more kernel.
  const s = x.ref.sum(-1);
  const mean = () => s.ref.reshape(kept).mul(1 / n);
  const v = np.square(x.ref.sub(mean())).mean(-1, { keepdims: true });
  const y = x.sub(mean()).mul(np.reciprocal(np.sqrt(v.add(eps)))).mul(p.g).add(p.b);
  s.dispose();
  return y;
}

/**
 * The step's input embeddings [B, 1, D] on the host: each token's row of the embedding table plus, with learned
 * positions, the position's row, added in float32 (as the step's own lookup and add did). Tables are read once per
 * `generate` call (`wte` [V, D], `wpe` [T, D] or null).
 */
export function hostDecodeInput(wte: Float32Array, wpe: Float32Array | null, D: number, tokens: Int32Array, pos: number): Float32Array {
  const x = new Float32Array(tokens.length * D);
  for (let b = 0; b < tokens.length; b++) {
    const e = tokens[b] * D;
    if (wpe) for (let d = 0; d < D; d++) x[b * D + d] = Math.fround(wte[e + d] + wpe[pos * D + d]);
    else x.set(wte.subarray(e, e + D), b * D);
  }
  return x;
}

/**
 * One decode step over main [B, M, H, hd] (read, not rewritten: pass a reference) and, per layer, the recent keys
 * and values together, [B, K, 2D] (keys then values; this token's written at the one-hot slot by one kernel), as
 * `lmDecodeStepSplit` with the dense matmul. `x` [B, 1, D]: the
 * tokens' input embeddings (`hostDecodeInput`), `pos` int32 scalar (absolute position). Returns logits [B, V] and
 * the new recent cache. Consumes everything.
 */
export function lmDecodeStepKV(
  p: LMParams,
  cfg: LMConfig,
  x: Array,
  pos: Array,
  masks: DecodeMasks,
  main: KVCache,
  recent: Array[],
): { logits: Array; recent: Array[] } {
  const B = x.shape[0];
  const D = cfg.dModel;
  const H = cfg.nHeads;
  const hd = D / H;
  if (!cfg.tiedHead) p.wte.table.dispose();
  p.wpe?.table.dispose();
  const next: Array[] = [];
  p.blocks.forEach((b, l) => {
    const r = attendKV(b.attn.qkv, normFused(b.ln1, x.ref), main[l], recent[l], pos.ref, masks, cfg.pos === "rope", b.attn.out, H, hd);
    next.push(r.recent);
    x = x.add(r.y);
    x = x.ref.add(mlp(b.mlp, normFused(b.ln2, x)));
  });
  pos.dispose();
  masks.onehot.dispose();
  masks.keep.dispose();
  masks.biasMain.dispose();
  masks.biasRecent.dispose();
  const h = normFused(p.lnF, x).reshape([B, D]);
  return { logits: p.head ? linear(p.head, h) : unembed(p.wte, h), recent: next };
}

function attendKV(joint: Linear, x: Array, main: KVLayer, recent: Array, pos: Array, m: DecodeMasks, rope: boolean, out: Linear, H: number, hd: number) {
  const [B, , D] = x.shape;
  const M = main.k.shape[1];
  const K = recent.shape[1];
  const qkv = linear(joint, x); // [B, 1, 3D]
  const part = (i: number) => qkv.ref.slice([], [], [i * D, (i + 1) * D]).reshape([B, 1, H, hd]);
  let q = part(0);
  let kv = qkv.ref.slice([], [], [D, 3 * D]); // [B, 1, 2D]
  if (rope) {
    const tabs = ropeTables(M + K, hd);
    const cos = np.take(tabs.cos, pos.ref.reshape([1]), 0).reshape([1, 1, hd / 2]);
    const sin = np.take(tabs.sin, pos.ref.reshape([1]), 0).reshape([1, 1, hd / 2]);
    q = applyRope(q, cos.ref, sin.ref);
    kv.dispose();
    const k = applyRope(part(1), cos, sin).reshape([B, 1, D]);
    kv = np.concatenate([k, part(2).reshape([B, 1, D])], 2);
  }
  qkv.dispose();
  pos.dispose();
  const rkv = recent.mul(m.keep.ref).add(kv.mul(m.onehot.ref)); // [B, K, 2D]
  const rk = rkv.ref.slice([], [], [0, D]).reshape([B, K, H, hd]);
  const rv = rkv.ref.slice([], [], [D, 2 * D]).reshape([B, K, H, hd]);
  // A node used twice is a kernel of its own: the scaled query is one (jax-js may compute it in the projection's
  // epilogue), and the joint maximum is written once per consumer, so both exp kernels compute it (the same op).
  const qh = q.reshape([B, 1, H, hd]).mul(1 / Math.sqrt(hd));
  const s1 = qh.ref.mul(main.k).sum(-1).add(m.biasMain.ref); // [B, M, H]
  const s2 = qh.mul(rk.ref).sum(-1).add(m.biasRecent.ref); // [B, K, H]
  const m1 = s1.ref.max(1);
  const m2 = s2.ref.max(1);
  const mx = () => np.maximum(m1.ref, m2.ref).reshape([B, 1, H]);
  const e1 = np.exp(s1.sub(mx()));
  const e2 = np.exp(s2.sub(mx()));
  m1.dispose();
  m2.dispose();
  const den = e1.ref.sum(1).add(e2.ref.sum(1)).reshape([B, H, 1]);
  const o1 = e1.reshape([B, M, H, 1]).mul(main.v).sum(1); // [B, H, hd]
  const o2 = e2.reshape([B, K, H, 1]).mul(rv.ref).sum(1);
  const y = o1.add(o2).div(den).reshape([B, 1, D]);
  return { y: linear(out, y), recent: rkv };
}
