/**
 * Residual vector quantisation with EMA codebooks, as in Baichuan-Audio-Tokenizer
 * (Baichuan-Omni-1.5, arXiv 2501.15368, §3.2.2: "An 8-layer residual vector quantizer is then used
 * to quantize these features"; released `vector_quantize.py`: Euclidean nearest neighbour, each
 * layer quantises the residual of the previous ones, codebooks carry `cluster_size` and
 * `embed_avg` buffers, i.e. k-means-style EMA updates; sizes [8192, 4096, 2048, 1024×5]).
 *
 * Layer i (residual r_0 = z):
 *   c_i = argmin_k ‖r_i − e_{i,k}‖²,   q_i = e_{i,c_i},   r_{i+1} = r_i − q_i,   ẑ = Σ_i q_i
 * Straight-through estimator (van den Oord et al. 2017, VQ-VAE eq. 3): z + sg(ẑ − z).
 * Commitment loss (VQ-VAE eq. 3, third term): Σ_i mean ‖r_i − sg(q_i)‖².
 * EMA codebook update (VQ-VAE appendix A.1, eqs. 6-8), per layer, with decay γ:
 *   N_k ← γ·N_k + (1−γ)·n_k,   m_k ← γ·m_k + (1−γ)·Σ_{c(n)=k} r_n,
 *   Ñ_k = (N_k + ε)/(Σ_j N_j + K·ε)·Σ_j N_j  (Laplace smoothing),   e_k = m_k / Ñ_k.
 * Optional dead-code restart (SoundStream/EnCodec practice, not stated by the paper): codes whose
 * N_k falls below a threshold are replaced by residual vectors drawn from the batch.
 *
 * All functions are pure and `jit`-able; the codebooks are not trained by gradients.
 */
import { np, jnn, lax, random, type Array } from "../../engine/index.js";

/** EMA codebook state of every layer: embed [K_i, D], clusterSize [K_i], embedAvg [K_i, D]. */
export type RVQState = { embed: Array[]; clusterSize: Array[]; embedAvg: Array[] };

/** Initial state: N(0, std²) codebooks, cluster sizes `initCount`, embedAvg = embed·initCount. */
export function initRVQ(sizes: number[], dim: number, keyFor: (i: number) => Array, std: number, initCount = 1): RVQState {
  const embed: Array[] = [];
  const clusterSize: Array[] = [];
  const embedAvg: Array[] = [];
  sizes.forEach((K, i) => {
    const e = random.normal(keyFor(i), [K, dim]).mul(std);
    embedAvg.push(e.ref.mul(initCount));
    embed.push(e);
    clusterSize.push(np.full([K], initCount));
  });
  return { embed, clusterSize, embedAvg };
}

/** Nearest codebook entry of each row: x [N, D], embed [K, D] -> int32 [N]. Consumes both. */
export function nearestCode(x: Array, embed: Array): Array {
  const x2 = np.square(x.ref).sum(-1, { keepdims: true }); // [N, 1]
  const e2 = np.square(embed.ref).sum(-1); // [K]
  const d = x2.sub(np.matmul(x, embed.transpose()).mul(2)).add(e2); // [N, K]
  return np.argmin(d, -1);
}

export type RVQOutput = {
  /** Σ_i q_i over the layers used, [N, D] (no gradient path). */
  quantized: Array;
  /** Codes per layer, int32 [N] each. */
  codes: Array[];
  /** Σ_i mean over valid rows of ‖r_i − sg(q_i)‖² (gradient flows into z). */
  commitLoss: Array;
  /** Per-layer statistics for the EMA update: counts [K_i] and residual sums [K_i, D] (valid rows). */
  counts: Array[];
  sums: Array[];
  /** The residual each layer quantised, [N, D] (detached), for dead-code restarts. */
  residuals: Array[];
};

/**
 * Quantise z [N, D] with every layer of `embed` (consumed: pass refs to keep the codebooks).
 * `mask` [N] float marks valid rows (padding is excluded from the loss and the statistics).
 */
export function rvqQuantize(embed: Array[], z: Array, mask: Array): RVQOutput {
  const N = z.shape[0];
  const nValid = np.maximum(mask.ref.sum(), 1);
  let r = z; // [N, D], carries gradient
  let quantized: Array | null = null;
  const codes: Array[] = [];
  const counts: Array[] = [];
  const sums: Array[] = [];
  const residuals: Array[] = [];
  let commit: Array = np.zeros([]);
  const m1 = mask.reshape([N, 1]);
  for (let i = 0; i < embed.length; i++) {
    const E = lax.stopGradient(embed[i]); // [K, D]
    const K = E.shape[0];
    const rd = lax.stopGradient(r.ref);
    const c = nearestCode(rd.ref, E.ref); // [N]
    const oh = jnn.oneHot(c.ref, K).mul(m1.ref); // [N, K], zero rows for padding
    const q = np.matmul(jnn.oneHot(c.ref, K), E); // [N, D]
    commit = commit.add(np.square(r.ref.sub(q.ref)).sum(-1).mul(m1.ref.reshape([N])).sum().div(nValid.ref).div(r.shape[1]));
    counts.push(oh.ref.sum(0));
    sums.push(np.matmul(oh.transpose(), rd.ref)); // [K, D]
    residuals.push(rd);
    codes.push(c);
    r = r.sub(q.ref);
    quantized = quantized ? quantized.add(q) : q;
  }
  r.dispose();
  m1.dispose();
  nValid.dispose();
  return { quantized: quantized!, codes, commitLoss: commit, counts, sums, residuals };
}

/** Σ_{i<k} e_{i, codes_i}: decode codes [N] per layer with the first `k` layers (all by default). */
export function rvqDecode(embed: Array[], codes: Array[], k = embed.length): Array {
  let out: Array | null = null;
  for (let i = 0; i < embed.length; i++) {
    if (i >= k) {
      embed[i].dispose();
      codes[i].dispose();
      continue;
    }
    const q = np.take(embed[i], codes[i], 0); // [N, D]
    out = out ? out.add(q) : q;
  }
  return out!;
}

export type EMAOptions = { decay: number; eps?: number };

/**
 * One EMA update of every layer from the batch statistics (consumes state and stats).
 * `restart` (optional): per layer, candidate vectors [K_i, D] and a threshold; codes with
 * N_k < threshold after the update take the candidate (N_k reset to 1, m_k = candidate).
 */
export function rvqEmaUpdate(
  state: RVQState,
  counts: Array[],
  sums: Array[],
  o: EMAOptions,
  restart?: { candidates: Array[]; threshold: number; force?: Array },
): RVQState {
  const g = o.decay;
  const eps = o.eps ?? 1e-5;
  const embed: Array[] = [];
  const clusterSize: Array[] = [];
  const embedAvg: Array[] = [];
  for (let i = 0; i < state.embed.length; i++) {
    state.embed[i].dispose();
    const K = state.clusterSize[i].shape[0];
    let cs = state.clusterSize[i].mul(g).add(counts[i].mul(1 - g)); // [K]
    let ea = state.embedAvg[i].mul(g).add(sums[i].mul(1 - g)); // [K, D]
    if (restart) {
      let dead = cs.ref.less(restart.threshold); // bool [K]
      if (restart.force) dead = np.logicalOr(dead, np.broadcastTo(restart.force.ref, [K]));
      const deadF = dead.astype(np.float32); // [K]
      const keep = deadF.ref.mul(-1).add(1);
      cs = cs.mul(keep.ref).add(deadF.ref);
      ea = ea.mul(keep.reshape([K, 1])).add(restart.candidates[i].mul(deadF.reshape([K, 1])));
    }
    const n = cs.ref.sum();
    const smoothed = cs.ref.add(eps).div(n.ref.add(K * eps)).mul(n); // [K]
    embed.push(ea.ref.div(smoothed.reshape([K, 1])));
    clusterSize.push(cs);
    embedAvg.push(ea);
  }
  if (restart?.force) restart.force.dispose();
  return { embed, clusterSize, embedAvg };
}

/** Bits per second of an RVQ stream: frameRate · Σ_i log2 K_i. */
export function rvqBitrate(sizes: number[], frameRate: number): number {
  return frameRate * sizes.reduce((s, K) => s + Math.log2(K), 0);
}

/** Codebook usage of one layer from code counts: fraction of entries used and perplexity exp(H). */
export function codebookUsage(counts: ArrayLike<number>): { used: number; perplexity: number } {
  let total = 0;
  let used = 0;
  for (let k = 0; k < counts.length; k++) {
    total += counts[k];
    if (counts[k] > 0) used++;
  }
  let h = 0;
  for (let k = 0; k < counts.length; k++) if (counts[k] > 0) h -= (counts[k] / total) * Math.log(counts[k] / total);
  return { used: used / counts.length, perplexity: Math.exp(h) };
}
