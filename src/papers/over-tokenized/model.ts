/**
 * Over-Tokenized Transformer: Vocabulary is Generally Worth Scaling
 * (Huang, Zhu, Wang, Min, Zhou, Wu, Yang; ICML 2025; arXiv 2501.16975).
 *
 * The idea, as layers over the foundation LM (`src/nn/transformer.ts`):
 *
 * Over-encoding (OE), §3.2, Eq. (1)-(5), Appendix A Algorithm 1:
 *   n-gram id        x_i^(-n) = f(x_i, x_{i-1}, …, x_{i-n+1}),  f(z_1..z_n) = Σ_j z_j · V^(j-1)   (Eq. 1-2)
 *                    (the current token gets V^0, the oldest V^(n-1); positions before the start are token 0)
 *   hashed lookup    E(x^(-n) mod m)                                                          (Eq. 3)
 *   k-way slicing    Σ_{j=1..k} E^j(x^(-n) mod (m + 2t)) · W_j   with distinct moduli m + 2t        (Eq. 4)
 *   OE(x)            = [ E_{V×D}(x) + Σ_{i=2..n} Σ_{j=0..k-1} (E_t(x^(-i) mod (m+2t)) W_t + b_t) ] / (1 + k(n-1))
 *                    with t = (i-2)k + j, each E_t of width D/(k(n-1)) and W_t: [D/(k(n-1)), D]  (Eq. 5, Alg. 1)
 *   The 1-gram table E_{V×D} is the LM's `wte`, tied with the output head.
 *   Note: the paper's prose says d_model/(nk) ≈ 256 while Algorithm 1 uses D // (k(n-1)); we follow
 *   the pseudo-code (it also matches the paper's OLMoE configurations).
 *
 * Over-decoding (OD), §3.1, Appendix C Eq. (7)-(9), Algorithm 2: predict the next n-gram through
 * the product decomposition ẽ = Σ_j E_j(z_j), i.e. extra output tables E_j for the token j ahead:
 *   L = CE(h · wteᵀ, x_{t+1}) + Σ_{j=2..n} λ · CE(h · E_jᵀ, x_{t+j})                                (Eq. 8)
 *
 * OT = OE + MTP-DS, §3.2 and §4.3: one DeepSeek-V3-style sequential head predicting x_{t+2}:
 *   u_t = M [RMSNorm(h_t); RMSNorm(e_{t+1})],  then one transformer block, a norm and the shared
 *   head; e_{t+1} is the (over-encoded) input embedding of the next token; loss weight 0.1.
 *
 * n-gram row indices are computed on the host (`overEncodingIndices`) with modular arithmetic per
 * table, so no key ever overflows 2^53 (or int32 on the device). Everything here is pure: no
 * randomness except through a seed, no I/O.
 */
import { np, lax, crossEntropy, type Array } from "../../engine/index.js";
import { KeyGen } from "../../nn/init.js";
import { initEmbedding, unembed, type Embedding } from "../../nn/embedding.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { initNorm, norm, rmsNorm, type Norm, type RMSNorm } from "../../nn/norm.js";
import { attention, initAttention, type Attention } from "../../nn/attention.js";
import { initMLP, mlp, type MLP } from "../../nn/mlp.js";
import { initLM, lmForward, mlpHidden, type LMConfig, type LMParams } from "../../nn/transformer.js";

// ---------------------------------------------------------------------------------------------
// Configuration and table geometry
// ---------------------------------------------------------------------------------------------

export type OverEncodingConfig = {
  /** Largest n-gram order (the paper's default is 3: 1-, 2- and 3-gram inputs). */
  n: number;
  /** Slices per n-gram order ("multiple tables", Eq. 4). */
  k: number;
  /** Base table size m; table t has m + 2t rows. OE-m has about m·D embedding parameters. */
  m: number;
  /** Reject m sharing a factor with V (the paper's §4.2 / Table 4 shows that hurts); false for that ablation. */
  requireCoprime: boolean;
  /**
   * Row of an n-gram: "mod" (default) is the paper's `x^(-n) mod (m+2t)` (Eq. 3); "mix" first
   * scrambles the n-gram through a 32-bit mixing hash (`mixRow`), so a small vocabulary's n-grams
   * spread over every row of a table instead of the structured subset `key mod m` reaches (issue 19).
   */
  hash?: "mod" | "mix";
};

export type OverDecodingConfig = {
  /** Predict tokens up to n ahead (n = 2: one extra head for x_{t+2}; n = 3: the next 3-gram). */
  n: number;
  /** Weight λ of every extra head's cross-entropy (Table 10: 0.1 to 1.0); the joint head ignores it. */
  lambda: number;
  /**
   * "factorised" (default): Appendix C's product decomposition, extra next-j-token heads, an MTP
   * approximation. "joint": §3.1 / Fig. 2's n-gram output vocabulary: one softmax over the next
   * n-gram as a single class, plain cross-entropy; inference marginalises it to the next token.
   */
  head?: "factorised" | "joint";
  /**
   * Joint head: tokens that end an n-gram class (BOS/EOS). The class of position t is the next
   * token if it is one of these, else the run of up to n next tokens before the first of these
   * (cfg3f: 2 + 3 + 9 + 27 = 41 classes, the paper's "2 + Σ 3^i").
   */
  specials?: number[];
};

export type MTPConfig = {
  /** Weight of the x_{t+2} loss of the sequential head (the paper's OT uses 0.1). */
  lambda: number;
};

export type OverTokenizedConfig = {
  lm: LMConfig;
  oe: OverEncodingConfig | null;
  od: OverDecodingConfig | null;
  mtp: MTPConfig | null;
};

/** The k(n-1) hashed tables: their moduli (= row counts), the n-gram order each serves, their width. */
export type OverEncodingGeometry = {
  /** Number of hashed tables, k(n-1). */
  count: number;
  /** Width of every table, D/(k(n-1)) (Algorithm 1). */
  width: number;
  /** moduli[t] = m + 2t. */
  moduli: number[];
  /** gram[t] = i, the n-gram order table t embeds (t = (i-2)k + j). */
  gram: number[];
  /** How an n-gram picks its row (see OverEncodingConfig.hash). */
  hash: "mod" | "mix";
};

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Validate an OE config against V and D and lay out its tables. Errors name the field. */
export function overEncodingGeometry(oe: OverEncodingConfig, vocabSize: number, dModel: number): OverEncodingGeometry {
  const bad = (field: string, msg: string): never => {
    throw new Error(`oe.${field}: ${msg}`);
  };
  if (!Number.isInteger(oe.n) || oe.n < 2) bad("n", `must be an integer >= 2, got ${oe.n}`);
  if (!Number.isInteger(oe.k) || oe.k < 1) bad("k", `must be a positive integer, got ${oe.k}`);
  if (!Number.isInteger(oe.m) || oe.m < 1) bad("m", `must be a positive integer, got ${oe.m}`);
  const count = oe.k * (oe.n - 1);
  if (dModel % count !== 0) bad("k", `k·(n-1) = ${count} must divide model.dModel = ${dModel} (table width D/(k(n-1)), Algorithm 1)`);
  const moduli = Array.from({ length: count }, (_, t) => oe.m + 2 * t);
  if (moduli[count - 1] >= 2 ** 31) bad("m", `largest table m + 2(k(n-1)-1) = ${moduli[count - 1]} must be < 2^31 (int32 row ids)`);
  if (oe.requireCoprime && gcd(oe.m, vocabSize) !== 1) {
    bad("m", `must be coprime with the vocabulary size ${vocabSize} (gcd ${gcd(oe.m, vocabSize)}); pick a prime such as 65521, or set oe.requireCoprime=false for the collision ablation`);
  }
  const gram = Array.from({ length: count }, (_, t) => 2 + Math.floor(t / oe.k));
  return { count, width: dModel / count, moduli, gram, hash: oe.hash ?? "mod" };
}

// ---------------------------------------------------------------------------------------------
// n-gram keys -> table rows (host side, exact)
// ---------------------------------------------------------------------------------------------

/** (a·b) mod M for 0 <= a, b < M, exact for any M < 2^53 (BigInt only when a·b passes 2^53). */
export function mulMod(a: number, b: number, M: number): number {
  const p = a * b;
  if (p <= Number.MAX_SAFE_INTEGER) return p % M;
  return Number((BigInt(a) * BigInt(b)) % BigInt(M));
}

/**
 * Row of every position in every hashed table: out[t][b·T + i] = x_i^(-gram[t]) mod moduli[t],
 * with x^(-n)_i = Σ_{j=0..n-1} ids[i-j]·V^j and ids[<0] = 0 (Eq. 1-3). Computed per table as
 * Σ_j (ids[i-j] mod M)·(V^j mod M) mod M, so no intermediate exceeds 2^53 whatever V^n is.
 * ids: int32 [B·T] row-major, each in [0, V).
 */
export function overEncodingIndices(ids: Int32Array, B: number, T: number, vocabSize: number, geo: OverEncodingGeometry): Int32Array[] {
  if (ids.length !== B * T) throw new Error(`overEncodingIndices: ids has ${ids.length} entries, expected B·T = ${B * T}`);
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < vocabSize)) throw new Error(`overEncodingIndices: token ${ids[i]} at position ${i} is outside [0, ${vocabSize})`);
  }
  if (geo.hash === "mix") {
    return geo.moduli.map((M, t) => {
      const n = geo.gram[t];
      const out = new Int32Array(B * T);
      const gram = new Array<number>(n);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < n; j++) gram[j] = i - j >= 0 ? ids[b * T + i - j] : 0;
          out[b * T + i] = mixRow(gram, M);
        }
      }
      return out;
    });
  }
  return geo.moduli.map((M, t) => {
    const n = geo.gram[t];
    const pw: number[] = [1 % M]; // V^j mod M
    for (let j = 1; j < n; j++) pw.push(mulMod(pw[j - 1], vocabSize % M, M));
    const out = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < T; i++) {
        let r = 0;
        for (let j = 0; j < n && j <= i; j++) r = (r + mulMod(ids[b * T + i - j] % M, pw[j], M)) % M;
        out[b * T + i] = r;
      }
    }
    return out;
  });
}

/** murmur3's 32-bit finaliser: every input bit flips about half the output bits. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Row in [0, M) of the n-gram `gram` (gram[0] the current token, gram[j] the token j back, 0
 * before the start): the tokens folded oldest first into a 32-bit state through `fmix32`, then
 * reduced mod M. Deterministic, defined for any n and V < 2^31, and well mixed over a small
 * vocabulary (bytes, cfg3f's 5 tokens).
 */
export function mixRow(gram: readonly number[], M: number): number {
  let h = 0x9e3779b9 ^ gram.length;
  for (let j = gram.length - 1; j >= 0; j--) h = fmix32((h ^ gram[j]) + Math.imul(j + 1, 0x27d4eb2f));
  return h % M;
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/** OE parameters: hashed tables E_t [m+2t, w] and projections W_t [w, D] with bias b_t [D]. */
export type OverEncodingParams = {
  projs: Linear[];
  /** Absent when the tables live in a host `SparseTableStore` (sparse-gradient path). */
  tables?: Embedding[];
};

/** Extra block of the sequential MTP head (DeepSeek-V3 style). */
export type MTPHead = { normH: RMSNorm; normE: RMSNorm; proj: Linear; ln1: Norm; attn: Attention; ln2: Norm; mlp: MLP; lnOut: Norm };

export type OverTokenizedParams = {
  lm: LMParams;
  oe?: OverEncodingParams;
  /** Over-decoding output tables E_j [V, D] for the token j = 2..n ahead. */
  od?: Embedding[];
  mtp?: MTPHead;
};

/**
 * Hashed tables, initialised N(0, 0.02²) like the token embedding. Separate from `initOverTokenized`
 * so the sparse path can build the same values on the host.
 */
export function initOverEncodingTables(geo: OverEncodingGeometry, seed: number): Embedding[] {
  const kg = new KeyGen(seed, "over-encoding");
  return geo.moduli.map((M, t) => initEmbedding(kg, `tables.${t}`, M, geo.width));
}

/**
 * All parameters: the foundation LM (whose `wte` is the 1-gram table, tied with the head), the OE
 * projections (and tables unless `tablesOnDevice` is false), OD tables and the MTP head.
 */
export function initOverTokenized(cfg: OverTokenizedConfig, seed: number, opts: { tablesOnDevice?: boolean } = {}): OverTokenizedParams {
  const { tablesOnDevice = true } = opts;
  if (!cfg.lm.tiedHead) throw new Error("model.tiedHead: must be true (the 1-gram table is tied with the head, §3.2)");
  const D = cfg.lm.dModel;
  const V = cfg.lm.vocabSize;
  const p: OverTokenizedParams = { lm: initLM(cfg.lm, seed) };
  if (cfg.oe) {
    const geo = overEncodingGeometry(cfg.oe, V, D);
    const kg = new KeyGen(seed, "over-encoding");
    const projs = geo.moduli.map((_, t) => initLinear(kg, `projs.${t}`, geo.width, D, { bias: true }));
    p.oe = tablesOnDevice ? { projs, tables: initOverEncodingTables(geo, seed) } : { projs };
  }
  if (cfg.od) {
    if (!Number.isInteger(cfg.od.n) || cfg.od.n < 2) throw new Error(`od.n: must be an integer >= 2, got ${cfg.od.n}`);
    const kg = new KeyGen(seed, "over-decoding");
    if (isJointOD(cfg)) p.od = [initEmbedding(kg, "joint", odJointVocab(cfg).classes, D)];
    else p.od = Array.from({ length: cfg.od.n - 1 }, (_, j) => initEmbedding(kg, `heads.${j + 2}`, V, D));
  }
  if (cfg.mtp) {
    const kg = new KeyGen(seed, "mtp");
    const outStd = 0.02 / Math.sqrt(2 * (cfg.lm.nLayers + 1));
    p.mtp = {
      normH: initNorm("rms", D) as RMSNorm,
      normE: initNorm("rms", D) as RMSNorm,
      proj: initLinear(kg, "proj", 2 * D, D),
      ln1: initNorm(cfg.lm.norm, D),
      attn: initAttention(kg, "attn", D, { bias: cfg.lm.bias, outStd }),
      ln2: initNorm(cfg.lm.norm, D),
      mlp: initMLP(kg, "mlp", D, mlpHidden(cfg.lm), cfg.lm.mlp, { bias: cfg.lm.bias, outStd }),
      lnOut: initNorm(cfg.lm.norm, D),
    };
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

/**
 * OE(x) of Eq. (5) / Algorithm 1: [B, T, D]. Consumes every argument.
 * wte [V, D] (the LM's token table); ids int32 [B, T]; tables[t] [rows_t, w]; idx[t] int32 [B, T]
 * (row of each position in tables[t]; for the sparse path, rows_t are the batch's unique rows
 * and idx[t] indexes them).
 *
 * Written as wte(x)/c + Σ_t ((E_t[idx_t]/c) W_t + b_t/c) with c = 1 + k(n-1), which equals
 * Algorithm 1's (wte(x) + Σ_t (E_t[idx_t] W_t + b_t)) / c; scaling the gathered rows before the
 * projection keeps the gradient reaching the gather a materialised array, which jax-js 0.1.25
 * needs under `jit` (otherwise "routine primitive scatter input is not imm").
 */
export function overEncode(wte: Array, ids: Array, tables: Array[], projs: Linear[], idx: Array[]): Array {
  if (tables.length !== projs.length || idx.length !== projs.length) {
    throw new Error(`overEncode: ${tables.length} tables, ${projs.length} projections and ${idx.length} index arrays must match`);
  }
  const c = 1 / (1 + projs.length);
  let x = np.take(wte, ids, 0).mul(c); // [B, T, D]
  for (let t = 0; t < projs.length; t++) {
    const e = np.take(tables[t], idx[t], 0).mul(c); // [B, T, w]
    const { w, b } = projs[t];
    const y = np.matmul(e, w); // [B, T, D]
    x = x.add(b ? y.add(b.mul(c)) : y);
  }
  return x;
}

/** Tokens each batch row must hold beyond the T inputs: the farthest target offset. */
export function horizon(cfg: OverTokenizedConfig): number {
  return Math.max(1, cfg.od?.n ?? 1, cfg.mtp ? 2 : 1);
}

/** Is the OD head the joint n-gram output vocabulary? */
export const isJointOD = (cfg: OverTokenizedConfig): boolean => cfg.od?.head === "joint";

/** Target arrays in the batch: y_1..y_H, or for the joint head [y_1, joint class]. */
export function targetCount(cfg: OverTokenizedConfig): number {
  return isJointOD(cfg) ? 2 : horizon(cfg);
}

// ---------------------------------------------------------------------------------------------
// Joint n-gram output vocabulary (over-decoding as in §3.1 / Fig. 2)
// ---------------------------------------------------------------------------------------------

/**
 * The joint output vocabulary: one class per special token, then every run of 1..n non-special
 * tokens (runs of length L after those of length < L; the first token the most significant digit).
 * `first[c]` is the next token class c stands for, which is all inference keeps.
 */
export type JointVocab = { n: number; specials: number[]; alphabet: number[]; classes: number; first: Int32Array };

export function jointVocab(vocabSize: number, n: number, specials: readonly number[]): JointVocab {
  if (!Number.isInteger(n) || n < 1) throw new Error(`od.n: must be a positive integer, got ${n}`);
  const sp = [...new Set(specials)].sort((a, b) => a - b);
  for (const t of sp) if (!(Number.isInteger(t) && t >= 0 && t < vocabSize)) throw new Error(`od.specials: token ${t} is outside [0, ${vocabSize})`);
  const alphabet = Array.from({ length: vocabSize }, (_, i) => i).filter((t) => !sp.includes(t));
  const K = alphabet.length;
  let classes = sp.length;
  for (let L = 1; L <= n; L++) classes += K ** L;
  const first = new Int32Array(classes);
  sp.forEach((t, i) => (first[i] = t));
  let off = sp.length;
  for (let L = 1; L <= n; L++) {
    const size = K ** L;
    for (let r = 0; r < size; r++) first[off + r] = alphabet[Math.floor(r / K ** (L - 1))];
    off += size;
  }
  return { n, specials: sp, alphabet, classes, first };
}

/**
 * Joint class of every position from its next n tokens ys[0..n-1] (int32 [B·T] each): the special
 * token's class when y_1 is special, else the run y_1..y_L of non-special tokens (L <= n, cut at
 * the first special).
 */
export function jointTargets(ys: readonly Int32Array[], jv: JointVocab): Int32Array {
  if (ys.length < jv.n) throw new Error(`jointTargets: need ${jv.n} target arrays, got ${ys.length}`);
  const K = jv.alphabet.length;
  const digit = new Map(jv.alphabet.map((t, i) => [t, i]));
  const spIdx = new Map(jv.specials.map((t, i) => [t, i]));
  const offsets: number[] = [0, jv.specials.length];
  for (let L = 1; L <= jv.n; L++) offsets.push(offsets[L] + K ** L);
  const out = new Int32Array(ys[0].length);
  for (let i = 0; i < out.length; i++) {
    const s = spIdx.get(ys[0][i]);
    if (s !== undefined) {
      out[i] = s;
      continue;
    }
    let r = 0;
    let L = 0;
    while (L < jv.n) {
      const d = digit.get(ys[L][i]);
      if (d === undefined) break;
      r = r * K + d;
      L++;
    }
    out[i] = offsets[L] + r;
  }
  return out;
}

/** [C, V] one-hot of each joint class's next token (marginalisation matrix). */
export function jointMarginalMatrix(jv: JointVocab, vocabSize: number): Float32Array {
  const a = new Float32Array(jv.classes * vocabSize);
  jv.first.forEach((t, c) => (a[c * vocabSize + t] = 1));
  return a;
}

/**
 * Next-token logits from joint-class logits z [..., C]: log Σ_{c: first(c) = v} exp z_c for every
 * token v (normalised later by the softmax of whoever reads them). Consumes z.
 */
export function marginalLogits(z: Array, jv: JointVocab, vocabSize: number): Array {
  const A = np.array(jointMarginalMatrix(jv, vocabSize)).reshape([jv.classes, vocabSize]);
  const m = np.max(z.ref, -1, { keepdims: true });
  const p = np.exp(z.sub(m.ref)); // [..., C], max 1
  return np.log(np.matmul(p, A).add(1e-30)).add(m);
}

/** The joint vocabulary of an OD config (V from the LM). */
export function odJointVocab(cfg: OverTokenizedConfig): JointVocab {
  if (!cfg.od) throw new Error("odJointVocab: no over-decoding config");
  return jointVocab(cfg.lm.vocabSize, cfg.od.n, cfg.od.specials ?? []);
}

/**
 * The batch as device arrays, in this order: x int32 [B, T]; targets y_1..y_H int32 [B, T]
 * (y_j[i] = token i + j); then one int32 [B, T] row-index array per hashed table.
 */
export type OverTokenizedBatch = { x: Array; ys: Array[]; idx: Array[] };

export function unpackBatch(cfg: OverTokenizedConfig, batch: Array[]): OverTokenizedBatch {
  const H = targetCount(cfg);
  const nT = cfg.oe ? cfg.oe.k * (cfg.oe.n - 1) : 0;
  if (batch.length !== 1 + H + nT) throw new Error(`over-tokenized batch: expected ${1 + H + nT} arrays (x, ${H} targets, ${nT} index arrays), got ${batch.length}`);
  return { x: batch[0], ys: batch.slice(1, 1 + H), idx: batch.slice(1 + H) };
}

/** Sequential MTP head: logits for x_{t+2} from h_t and e_{t+1}, [B, T-1, V]. Consumes its arguments. */
export function mtpLogits(p: MTPHead, cfg: LMConfig, wte: Array, h: Array, e: Array): Array {
  const T = h.shape[1];
  const hPrev = h.slice([], [0, T - 1]); // [B, T-1, D]
  const eNext = e.slice([], [1, T]); // [B, T-1, D]
  let u = linear(p.proj, np.concatenate([rmsNorm(p.normH, hPrev), rmsNorm(p.normE, eNext)], -1)); // [B, T-1, D]
  u = u.ref.add(attention(p.attn, norm(p.ln1, u), { nHeads: cfg.nHeads, rope: cfg.pos === "rope" }));
  u = u.ref.add(mlp(p.mlp, norm(p.ln2, u)));
  return unembed({ table: wte }, norm(p.lnOut, u)); // [B, T-1, V]
}

/**
 * Training loss: CE of the next token, plus λ·CE of each over-decoding head, plus λ·CE of the MTP
 * head. Returns [loss, aux] with aux = [next-token CE, OD CEs (j = 2..n)..., MTP CE?]; the
 * next-token CE is what arms are compared on. `tables` are the hashed tables (or, on the sparse
 * path, the batch's gathered rows); when `p.oe.tables` exists it is used instead. Consumes `p`,
 * `tables` and `batch`.
 */
export function overTokenizedLoss(p: OverTokenizedParams, cfg: OverTokenizedConfig, tables: Array[], batch: Array[]): [Array, Array[]] {
  const { x, ys, idx } = unpackBatch(cfg, batch);
  const wte = p.lm.wte.table;
  const needHidden = !!(cfg.od || cfg.mtp);
  let inputEmbeds: Array | undefined;
  if (p.oe) {
    const tabs = p.oe.tables ? p.oe.tables.map((e) => e.table) : tables;
    if (p.oe.tables) for (const t of tables) t.dispose();
    inputEmbeds = overEncode(wte.ref, x, tabs, p.oe.projs, idx); // [B, T, D]
  } else {
    for (const t of [...tables, ...idx]) t.dispose();
    if (cfg.mtp) inputEmbeds = np.take(wte.ref, x, 0); // [B, T, D], same as the LM's own lookup
  }
  const e = cfg.mtp && inputEmbeds ? inputEmbeds.ref : null;
  const out = lmForward({ ...p.lm, wte: { table: wte.ref } }, cfg.lm, inputEmbeds ? null : x, { inputEmbeds, returnHidden: needHidden });
  const ce1 = crossEntropy(out.logits, isJointOD(cfg) ? ys[0].ref : ys[0]);
  let loss = ce1.ref;
  const aux: Array[] = [ce1];
  const h = out.hidden;
  if (isJointOD(cfg) && p.od) {
    // Joint n-gram output (§3.1): plain CE over the classes replaces the next-token CE; the
    // next-token CE of the marginal is reported as nextTokenLoss (not trained on).
    const jv = odJointVocab(cfg);
    const z = np.matmul(h!.ref, p.od[0].table.transpose()); // [B, T, C]
    const ceJoint = crossEntropy(z.ref, ys[1].ref);
    const ceNext = crossEntropy(marginalLogits(z, jv, cfg.lm.vocabSize), ys[0]);
    loss.dispose();
    aux[0].dispose();
    loss = ceJoint.ref;
    aux[0] = lax.stopGradient(ceNext);
    aux.push(ceJoint);
  } else if (cfg.od && p.od) {
    p.od.forEach((head, j) => {
      const logits = np.matmul(h!.ref, head.table.transpose()); // [B, T, V]
      const ce = crossEntropy(logits, ys[j + 1].ref);
      loss = loss.add(ce.ref.mul(cfg.od!.lambda));
      aux.push(ce);
    });
  }
  if (cfg.mtp && p.mtp) {
    const T = x.shape[1];
    const logits = mtpLogits(p.mtp, cfg.lm, wte.ref, h!.ref, e!); // [B, T-1, V]
    const target = ys[1].ref.slice([], [0, T - 1]); // x_{t+2} for t < T-1
    const ce = crossEntropy(logits, target);
    loss = loss.add(ce.ref.mul(cfg.mtp.lambda));
    aux.push(ce);
  }
  // Release what this configuration did not use.
  wte.dispose();
  h?.dispose();
  ys.slice(1).forEach((y) => y.dispose());
  return [loss, aux];
}

/** Names of the aux values `overTokenizedLoss` returns, in order. */
export function auxNames(cfg: OverTokenizedConfig): string[] {
  const names = ["nextTokenLoss"];
  if (isJointOD(cfg)) names.push("odJointLoss");
  else if (cfg.od) for (let j = 2; j <= cfg.od.n; j++) names.push(`odLoss${j}`);
  if (cfg.mtp) names.push("mtpLoss");
  return names;
}

/**
 * Next-token logits [B, T, V] for inference. The factorised OD and MTP heads are training-only; a
 * joint OD head is the model's output, marginalised to the next token (§3.1). Consumes its arguments.
 */
export function overTokenizedLogits(p: OverTokenizedParams, cfg: OverTokenizedConfig, tables: Array[], x: Array, idx: Array[]): Array {
  const wte = p.lm.wte.table;
  const joint = isJointOD(cfg) && p.od ? p.od[0].table : null;
  if (!joint) p.od?.forEach((e) => e.table.dispose());
  if (p.mtp) for (const leaf of Object.values(p.mtp).flatMap(leaves)) leaf.dispose();
  let emb: Array | undefined;
  if (!p.oe) {
    for (const t of [...tables, ...idx]) t.dispose();
  } else {
    const tabs = p.oe.tables ? p.oe.tables.map((e) => e.table) : tables;
    if (p.oe.tables) for (const t of tables) t.dispose();
    emb = overEncode(wte.ref, x, tabs, p.oe.projs, idx); // consumes x
  }
  const out = lmForward({ ...p.lm, wte: { table: wte } }, cfg.lm, emb ? null : x, { inputEmbeds: emb, returnHidden: joint !== null });
  if (!joint) return out.logits;
  out.logits.dispose();
  return marginalLogits(np.matmul(out.hidden!, joint.transpose()), odJointVocab(cfg), cfg.lm.vocabSize);
}

function leaves(t: unknown): Array[] {
  if (t && typeof t === "object" && "shape" in (t as object) && !Array.isArray(t)) return [t as Array];
  if (Array.isArray(t)) return t.flatMap(leaves);
  if (t && typeof t === "object") return Object.values(t).flatMap(leaves);
  return [];
}
