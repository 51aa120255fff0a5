/**
 * Mixture-of-Mamba: modality-aware sparsity in Mamba (Liang et al. 2025, "Mixture-of-Mamba:
 * Enhancing Multi-Modal State-Space Models with Modality-Aware Sparsity", arXiv 2501.16295;
 * official code github.com/Weixin-Liang/Mixture-of-Mamba, MixtureOfMamba.py).
 *
 * The Mamba block (src/nn/mamba.ts) computes, per token t of modality m(t),
 *
 *   [u ; z]     = x_t · W_in^{m(t)}                 (in_proj, split)
 *   u'          = SiLU(conv(u))                      (conv1d weight and bias, SHARED)
 *   [δ̃ ; B ; C] = u'_t · W_x^{m(t)}                  (x_proj, split)
 *   Δ           = softplus(δ̃ · W_dt^{m(t)} + b_dt^{m(t)})   (dt_proj weight AND bias, split)
 *   y           = scan(u', Δ, A = −exp(A_log), B, C) + D ⊙ u'   (A_log, D and the scan SHARED)
 *   out_t       = (y_t ⊙ SiLU(z_t)) · W_out^{m(t)}   (out_proj, split)
 *
 * Routing is deterministic by the known modality of each position (no router, no balancing loss),
 * so every token costs the same FLOPs as in the dense block; the four split projections hold K
 * weight sets each. Each split can be switched off (`do_not_split_{in,x,dt,out}_proj` in the
 * official code): the single-split ablations of the paper. The conv and the scan run over the whole
 * interleaved sequence, so the state flows across modality boundaries.
 *
 * Implementation: a `LinearFn` for the block's sites "mamba.in" / "mamba.x" / "mamba.dt" /
 * "mamba.out" that gathers the tokens of each modality (a host-computed permutation), multiplies
 * each contiguous group by its own expert's weights, and gathers the results back into place.
 * Expert 0 (text) of every split projection is drawn exactly like the dense model's weight, and
 * expert k > 0 is an independent draw of the same distribution (the official code draws the dt
 * initialisation per modality), so MoM with no split is the dense model, bit for bit.
 */
import { np, tree, tokenNLL, type Array } from "../../engine/index.js";
import { KeyGen } from "../../nn/init.js";
import { linear, type Linear, type LinearFn } from "../../nn/linear.js";
import { initMambaBlock, initMambaLM, mambaLMForward, type MambaLMConfig, type MambaLMParams } from "../../nn/mamba.js";

/** Which projections get one weight set per modality (true) or stay shared (false). */
export type SplitFlags = { in: boolean; x: boolean; dt: boolean; out: boolean };
export const SPLIT_ALL: SplitFlags = { in: true, x: true, dt: true, out: true };
export const SPLIT_NONE: SplitFlags = { in: false, x: false, dt: false, out: false };

const SITE_FLAG: Record<string, keyof SplitFlags> = { "mamba.in": "in", "mamba.x": "x", "mamba.dt": "dt", "mamba.out": "out" };
const FLAG_PARAM = { in: "inProj", x: "xProj", dt: "dtProj", out: "outProj" } as const;

/** Device-side routing of a batch: `perm` groups the flattened positions by modality, `inv` undoes it. */
export type RoutingArrays = { perm: Array; inv: Array; counts: number[] };

/**
 * Modality-routed linear: x [..., in] with weights w [K, in, out] (and b [K, out]): token i gets
 * x_i · w[m(i)] + b[m(i)]. Gathers by `perm`, applies expert k to its contiguous group of
 * `counts[k]` rows, gathers back by `inv`. Consumes `p` and `x`, not the routing arrays.
 */
export function routedLinear(p: Linear, x: Array, r: RoutingArrays): Array {
  const K = p.w.shape[0];
  if (p.w.ndim !== 3 || r.counts.length !== K) {
    throw new Error(`routedLinear: weights must be [K, in, out] with K = ${r.counts.length} modalities, got [${p.w.shape.join(", ")}]`);
  }
  const lead = x.shape.slice(0, -1);
  const dIn = x.shape[x.shape.length - 1];
  const n = lead.reduce((a, b) => a * b, 1);
  // jax-js 0.1.25 workaround: under `jit`, the scatter that transposes a gather needs a
  // cotangent produced by a non-view op; multiplying by a runtime array of ones (1 = perm ≥ 0) on
  // both sides of each gather guarantees that (a literal 1 is simplified away). Values unchanged.
  const one = np.greaterEqual(r.perm.ref, 0).astype(np.float32).reshape([n, 1]); // [n, 1] of 1
  const xs = np.take(x.reshape([n, dIn]), r.perm.ref, 0).mul(one.ref); // [n, in], grouped by modality
  const parts: Array[] = [];
  let off = 0;
  for (let k = 0; k < K; k++) {
    const c = r.counts[k];
    if (c === 0) continue;
    let yk = np.matmul(xs.ref.slice([off, off + c]), p.w.ref.slice(k)); // [c, out]
    if (p.b) yk = yk.add(p.b.ref.slice(k));
    parts.push(yk);
    off += c;
  }
  xs.dispose();
  p.w.dispose();
  p.b?.dispose();
  const ys = parts.length === 1 ? parts[0] : np.concatenate(parts, 0); // [n, out]
  const out = ys.shape[1];
  return np.take(ys, r.inv.ref, 0).mul(one).reshape([...lead, out]);
}

/** The LinearFn that routes the split sites by modality and leaves the others dense. */
export function modalityLinearFn(split: SplitFlags, routing: RoutingArrays | null): LinearFn {
  return (p, x, site) => {
    const flag = SITE_FLAG[site];
    if (flag && split[flag]) {
      if (!routing) throw new Error(`mixture-of-mamba: site ${site} is split but no routing was given`);
      return routedLinear(p, x, routing);
    }
    return linear(p, x);
  };
}

/**
 * Mixture-of-Mamba LM parameters: the dense Mamba LM of the same seed, with each split projection
 * replaced by K stacked weight sets (expert 0 = the dense draw, expert k > 0 = an independent draw).
 */
export function initMoMLM(cfg: MambaLMConfig, split: SplitFlags, K: number, seed: number): MambaLMParams {
  const p = initMambaLM(cfg, seed);
  if (!Object.values(split).some(Boolean)) return p;
  const nBlocks = cfg.nLayers * cfg.blocksPerLayer;
  p.blocks.forEach((blk, i) => {
    const experts = Array.from({ length: K - 1 }, (_, j) =>
      initMambaBlock(new KeyGen(seed, `init/modality${j + 1}`), `blocks.${i}.mixer`, cfg, { outScale: 1 / Math.sqrt(nBlocks) }),
    );
    for (const flag of Object.keys(FLAG_PARAM) as (keyof SplitFlags)[]) {
      const key = FLAG_PARAM[flag];
      if (!split[flag]) continue;
      const base = blk.mixer[key];
      const w = np.stack([base.w, ...experts.map((e) => e[key].w.ref)], 0); // [K, in, out]
      const b = base.b ? np.stack([base.b, ...experts.map((e) => e[key].b!.ref)], 0) : undefined; // [K, out]
      blk.mixer[key] = b ? { w, b } : { w };
    }
    for (const e of experts) tree.dispose(e);
  });
  return p;
}

/** Forward pass of (Mixture-of-)Mamba: logits [B, T, V]. Consumes `p` and `tokens`. */
export function momForward(p: MambaLMParams, cfg: MambaLMConfig, tokens: Array, split: SplitFlags, routing: RoutingArrays | null): Array {
  return mambaLMForward(p, cfg, tokens, { linearFn: modalityLinearFn(split, routing) }).logits;
}

/**
 * The training objective and the per-modality losses: mean next-token NLL over all positions, and
 * the mean over the positions whose target is text / image (masks [B, T], 1 where it is).
 * Returns [total, [text, image]]. Consumes its arguments.
 */
export function modalityLosses(logits: Array, y: Array, maskText: Array, maskImage: Array): [Array, Array[]] {
  const nll = tokenNLL(logits, y); // [B, T]
  const per = (m: Array) => {
    const denom = np.maximum(m.ref.sum(), 1);
    return nll.ref.mul(m).sum().div(denom);
  };
  const text = per(maskText);
  const image = per(maskImage);
  return [nll.mean(), [text, image]];
}
