/**
 * Causal multi-head self-attention (Vaswani et al. 2017) with rotary position embeddings
 * (RoPE, Su et al. 2021, GPT-NeoX half-split layout) or none (learned positions are added to the
 * input by the model). `attentionDecode` is the one-token step over a fixed-size KV cache: the
 * new key/value are written with a one-hot mask so every shape is static and the step compiles
 * once under `jit`. `attentionDecodeSplit` is the same step over a two-level cache (a main cache
 * read as is and a few recent slots rewritten per token, merged in by `mergeRecentKV`), so a
 * token no longer costs a rewrite of the whole cache.
 */
import { np, jnn, type Array } from "../engine/index.js";
import { initLinear, denseLinear, type Linear, type LinearFn } from "./linear.js";
import { KeyGen } from "./init.js";

export type Attention = { qkv: Linear; out: Linear };
export type AttentionOptions = {
  nHeads: number;
  rope: boolean;
  ropeBase?: number;
  linearFn?: LinearFn;
  /** Additive score bias broadcastable to [B, H, T, T] (e.g. -1e9 on left-padding keys); causal mask still applies. */
  bias?: Array;
  /**
   * Compute the attention with `attendHeadsLast` instead of `jnn.dotProductAttention` (same values; the output
   * is written in [B, T, H, hd] order, so the output projection reads it contiguously). Default false.
   */
  headsLast?: boolean;
  /** Absolute position of the first row (RoPE): the rows are positions posOffset .. posOffset + T − 1. Default 0. */
  posOffset?: number;
};

export function initAttention(kg: KeyGen, name: string, d: number, opts: { bias?: boolean; outStd?: number } = {}): Attention {
  return {
    qkv: initLinear(kg, `${name}.qkv`, d, 3 * d, { bias: opts.bias }),
    out: initLinear(kg, `${name}.out`, d, d, { bias: opts.bias, std: opts.outStd ?? 0.02 }),
  };
}

/** cos/sin tables for positions 0..T-1: each [T, hd/2] (plain numbers, made once per trace). */
export function ropeTables(T: number, hd: number, base = 10000, offset = 0): { cos: Array; sin: Array } {
  const half = hd / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const ang = (t + offset) / Math.pow(base, (2 * i) / hd);
      cos[t * half + i] = Math.cos(ang);
      sin[t * half + i] = Math.sin(ang);
    }
  }
  return { cos: np.array(cos).reshape([T, half]), sin: np.array(sin).reshape([T, half]) };
}

/** Rotate x [..., hd] by cos/sin broadcastable to [..., hd/2] (half-split layout). */
export function applyRope(x: Array, cos: Array, sin: Array): Array {
  const [x1, x2] = np.split(x, 2, -1); // each [..., hd/2]
  const a = x1.ref.mul(cos.ref).sub(x2.ref.mul(sin.ref));
  const b = x2.mul(cos).add(x1.mul(sin));
  return np.concatenate([a, b], -1);
}

/** [B, T, 3D] -> three [B, T, H, hd] (no transpose: the layout `dotProductAttention` takes). */
function splitHeads(qkv: Array, nHeads: number): [Array, Array, Array] {
  const [B, T, D3] = qkv.shape;
  const D = D3 / 3;
  const hd = D / nHeads;
  const [q, k, v] = np.split(qkv.reshape([B, T, 3, nHeads, hd]), 3, 2); // each [B, T, 1, H, hd]
  return [q.reshape([B, T, nHeads, hd]), k.reshape([B, T, nHeads, hd]), v.reshape([B, T, nHeads, hd])];
}

/**
 * Causal scaled dot-product attention as `jnn.dotProductAttention(q, k, v, { isCausal: true, bias })` computes it
 * (the same scores, mask and softmax), with the output contraction written as a product summed over the keys in
 * [B, T, H, S, hd] order, so the result is materialised as [B, T, H, hd]. jax-js's einsum writes it as
 * [B, H, T, hd] and returns a transposed view, which the output projection then reads with a non-affine index
 * over its reduction (off the fast matmul path: about 4.5 GFLOP/s against 36 for the other projections at
 * prefill). q, k, v: [B, T, H, hd]; consumes them and the bias.
 */
export function attendHeadsLast(q: Array, k: Array, v: Array, bias?: Array): Array {
  const [B, T, H, hd] = q.shape;
  const S = k.shape[1];
  let scores = np.einsum("BLNH,BSNH->BNLS", q, k).mul(1 / Math.sqrt(hd));
  if (bias) scores = scores.add(bias);
  scores = np.where(np.tri(T, S, 0, { dtype: np.bool }), scores, -Infinity);
  const p = jnn.softmax(scores, -1); // [B, H, T, S]
  return p.transpose([0, 2, 1, 3]).reshape([B, T, H, S, 1]).mul(v.transpose([0, 2, 1, 3]).reshape([B, 1, H, S, hd])).sum(3); // [B, T, H, hd]
}

/** x: [B, T, D] -> [B, T, D]. */
export function attention(p: Attention, x: Array, opts: AttentionOptions): Array {
  const r = attentionWithKV(p, x, opts);
  r.k.dispose();
  r.v.dispose();
  return r.y;
}

/** Attention that also returns this layer's keys and values [B, T, H, hd] (for a KV cache). */
export function attentionWithKV(p: Attention, x: Array, opts: AttentionOptions): { y: Array; k: Array; v: Array } {
  const { nHeads, rope, ropeBase = 10000, linearFn = denseLinear } = opts;
  const [B, T, D] = x.shape;
  const hd = D / nHeads;
  const [q0, k0, v] = splitHeads(linearFn(p.qkv, x, "attn.qkv"), nHeads); // [B, T, H, hd]
  let [q, k] = [q0, k0];
  if (rope) {
    const { cos, sin } = ropeTables(T, hd, ropeBase, opts.posOffset ?? 0);
    const c = cos.reshape([T, 1, hd / 2]);
    const s = sin.reshape([T, 1, hd / 2]);
    q = applyRope(q, c.ref, s.ref);
    k = applyRope(k, c, s);
  }
  const y = (opts.headsLast ? attendHeadsLast(q, k.ref, v.ref, opts.bias) : jnn.dotProductAttention(q, k.ref, v.ref, { isCausal: true, bias: opts.bias })).reshape([B, T, D]); // [B, T, D]
  return { y: linearFn(p.out, y, "attn.out"), k, v };
}

/** One layer's KV cache: [B, Tmax, H, hd] each. */
export type KVLayer = { k: Array; v: Array };

/**
 * One decoding step. x: [B, 1, D] at absolute position `pos` (int32 scalar array, shared by the
 * batch); `valid`: [B, Tmax] float, 1 where a cached position holds a real token (left padding
 * is 0). Returns the output [B, 1, D] and the updated cache.
 */
export function attentionDecode(
  p: Attention,
  x: Array,
  cache: KVLayer,
  pos: Array,
  valid: Array,
  opts: AttentionOptions,
): { y: Array; cache: KVLayer } {
  const { nHeads, rope, ropeBase = 10000, linearFn = denseLinear } = opts;
  const [B, , D] = x.shape;
  const hd = D / nHeads;
  const Tmax = cache.k.shape[1];
  const [q0, k0, v] = splitHeads(linearFn(p.qkv, x, "attn.qkv"), nHeads); // [B, 1, H, hd]
  let [q, k] = [q0, k0];
  if (rope) {
    const tabs = ropeTables(Tmax, hd, ropeBase);
    const cos = np.take(tabs.cos, pos.ref.reshape([1]), 0).reshape([1, 1, hd / 2]);
    const sin = np.take(tabs.sin, pos.ref.reshape([1]), 0).reshape([1, 1, hd / 2]);
    q = applyRope(q, cos.ref, sin.ref);
    k = applyRope(k, cos, sin);
  }
  const onehot = np.arange(Tmax).astype(np.int32).equal(pos.ref).astype(np.float32).reshape([1, Tmax, 1, 1]);
  const keep = onehot.ref.mul(-1).add(1);
  const kc = cache.k.mul(keep.ref).add(k.mul(onehot.ref)); // [B, Tmax, H, hd]
  const vc = cache.v.mul(keep).add(v.mul(onehot));
  const seen = np.arange(Tmax).astype(np.int32).lessEqual(pos).astype(np.float32).reshape([1, Tmax]).mul(valid); // [B, Tmax]
  const bias = seen.sub(1).mul(1e9).reshape([B, 1, 1, Tmax]);
  const y = jnn.dotProductAttention(q, kc.ref, vc.ref, { bias }).reshape([B, 1, D]);
  return { y: linearFn(p.out, y, "attn.out"), cache: { k: kc, v: vc } };
}

/**
 * One decoding step over a two-level cache: `main` [B, Tmax, H, hd] is read but not rewritten
 * (the caller keeps it, passing a reference); `recent` [B, K, H, hd] holds the last few positions
 * and gets the new key/value at `slot` (int32 scalar) by a one-hot write, so each step rewrites K
 * slots instead of Tmax (the step's cost no longer grows with the cache's capacity). `pos` is the
 * token's absolute position (RoPE); `bias` [B, Tmax + K] is the additive score bias over main's
 * slots then recent's (0 to attend, -1e9 to skip; the caller builds it on the host from padding,
 * what main holds and which recent slots are filled). Merge `recent` into `main` with
 * `mergeRecentKV` when it is full. Same attention as `attentionDecode` up to the order of the sums.
 */
export function attentionDecodeSplit(
  p: Attention,
  x: Array,
  main: KVLayer,
  recent: KVLayer,
  pos: Array,
  slot: Array,
  bias: Array,
  opts: AttentionOptions,
): { y: Array; recent: KVLayer } {
  const { nHeads, rope, ropeBase = 10000, linearFn = denseLinear } = opts;
  const [B, , D] = x.shape;
  const hd = D / nHeads;
  const Tmax = main.k.shape[1];
  const K = recent.k.shape[1];
  const [q0, k0, v] = splitHeads(linearFn(p.qkv, x, "attn.qkv"), nHeads); // [B, 1, H, hd]
  let [q, k] = [q0, k0];
  if (rope) {
    const tabs = ropeTables(Tmax + K, hd, ropeBase);
    const cos = np.take(tabs.cos, pos.ref.reshape([1]), 0).reshape([1, 1, hd / 2]);
    const sin = np.take(tabs.sin, pos.ref.reshape([1]), 0).reshape([1, 1, hd / 2]);
    q = applyRope(q, cos.ref, sin.ref);
    k = applyRope(k, cos, sin);
  }
  pos.dispose();
  const onehot = np.arange(K).astype(np.int32).equal(slot).astype(np.float32).reshape([1, K, 1, 1]);
  const keep = onehot.ref.mul(-1).add(1);
  const rk = recent.k.mul(keep.ref).add(k.mul(onehot.ref)); // [B, K, H, hd]
  const rv = recent.v.mul(keep).add(v.mul(onehot));
  // Softmax over main's slots and recent's together, written out in two parts: a concatenation of
  // the two caches fused into the contractions as a conditional read and ran 3-5x slower.
  const [b1, b2] = np.split(bias.reshape([B, Tmax + K, 1]), [Tmax], 1); // [B, Tmax, 1], [B, K, 1]
  const qh = q.reshape([B, 1, nHeads, hd]).mul(1 / Math.sqrt(hd));
  const s1 = qh.ref.mul(main.k).sum(-1).add(b1); // [B, Tmax, H]
  const s2 = qh.mul(rk.ref).sum(-1).add(b2); // [B, K, H]
  const mx = np.maximum(s1.ref.max(1), s2.ref.max(1)).reshape([B, 1, nHeads]); // [B, 1, H]
  const e1 = np.exp(s1.sub(mx.ref)); // [B, Tmax, H]
  const e2 = np.exp(s2.sub(mx));
  const den = e1.ref.sum(1).add(e2.ref.sum(1)).reshape([B, nHeads, 1]); // [B, H, 1]
  const o1 = e1.reshape([B, Tmax, nHeads, 1]).mul(main.v).sum(1); // [B, H, hd]
  const o2 = e2.reshape([B, K, nHeads, 1]).mul(rv.ref).sum(1);
  const y = o1.add(o2).div(den).reshape([B, 1, D]);
  return { y: linearFn(p.out, y, "attn.out"), recent: { k: rk, v: rv } };
}

/**
 * Write `recent` [B, K, H, hd] into `main` [B, Tmax, H, hd] at slots base..base+K-1 (`base` an
 * int32 scalar; slots past Tmax are dropped), by a one-hot placement matmul, so the values land
 * bit for bit. Consumes all three.
 */
export function mergeRecentKV(main: KVLayer, recent: KVLayer, base: Array): KVLayer {
  const [B, Tmax, H, hd] = main.k.shape;
  const K = recent.k.shape[1];
  const t = np.arange(Tmax).astype(np.int32).reshape([Tmax, 1]);
  const j = np.arange(K).astype(np.int32).reshape([1, K]).add(base);
  const place = t.equal(j).astype(np.float32); // [Tmax, K]
  const keep = place.ref.sum(1).mul(-1).add(1).reshape([1, Tmax, 1, 1]);
  // The placement is broadcast to [B, Tmax, K] by hand: jax-js 0.1.25's matmul of a 2-D by a 3-D
  // array does not broadcast the 2-D side as NumPy does ([3,2] @ [2,2,2] came out [3,2,2]).
  const put = (m: Array, r: Array) =>
    m.mul(keep.ref).add(np.matmul(np.broadcastTo(place.ref.reshape([1, Tmax, K]), [B, Tmax, K]), r.reshape([B, K, H * hd])).reshape([B, Tmax, H, hd]));
  const out = { k: put(main.k, recent.k), v: put(main.v, recent.v) };
  place.dispose();
  keep.dispose();
  return out;
}
