/**
 * "SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training"
 * (Chu, Zhai, Yang, Tong, Xie, Schuurmans, Le, Levine, Ma; arXiv 2501.17161, ICML 2025).
 *
 * The two post-training objectives compared by the paper, on our tiny LM, read top to bottom:
 *
 * 1. SFT (§5, App. C.1): next-token cross-entropy on the *response tokens only* (prompt tokens masked, as the
 *    released `sft/src/training/data.py` sets them to -100):  L_SFT = -Σ_t m_t log p(y_t | y_<t) / Σ_t m_t.
 * 2. PPO in the RL4VLM style (§3, App. C.2; released `rl/trainer`):
 *    - action log-prob at the sampling temperature τ, split at the answer key (`"formula"` for GeneralPoints):
 *        log π(a|s) = c · Σ_{t < key} log p_τ(a_t) + Σ_{t ≥ key} log p_τ(a_t),  c = thought_prob_coef = 0.5,
 *      where p_τ = softmax(logits / τ);
 *    - value V(s) from an MLP head (paper: 4096→1024→ReLU→512→ReLU→1; ours D→D/4→D/8→1, the same ratios) on the
 *      last layer's hidden state at the last prompt token;
 *    - GAE:  δ_t = r_t + γ V(s_{t+1}) m_t − V(s_t),  A_t = δ_t + γλ m_t A_{t+1},  R_t = A_t + V(s_t)
 *      with γ = 0.9, λ = 0.95, m_t = 1 − done_t; advantages normalised (A − mean)/(std + 1e−5) over the buffer;
 *    - clipped surrogate  L_π = −mean(min(ρA, clip(ρ, 1−ε, 1+ε)A)), ε = 0.1, ρ = exp(log π − log π_old);
 *      if any ρ in the minibatch exceeds 10, only the clipped term is used (released trainer);
 *    - clipped value loss  L_V = 0.5 · mean(max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²)),
 *      total = L_π + value_loss_coef · L_V with value_loss_coef = 0.5 (entropy_coef is passed but unused there).
 * 3. Compute (App. C.3): X_train = 6·N·D_train, X_inference = 2·N·D_inference; X_SFT = 6N(D_init + D_SFT),
 *    X_RL = 6N(D_init + D_RL) + 2N·D_buffer, counting every token of each sequence (prompt and response).
 *
 * Everything here is pure: arrays in, arrays out; host-side helpers take plain numbers.
 */
import { np, jnn, lax, refTree, type Array } from "../../engine/index.js";
import { KeyGen, normalInit } from "../../nn/init.js";
import { linear, type Linear } from "../../nn/linear.js";
import { lmForward, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import type { PhraseTokenizer } from "./tokenizer.js";
import { spliceImage, type VisionParams } from "./vision.js";

// ---------------------------------------------------------------------------------------------------------------
// 1. SFT: response-only next-token loss.
// ---------------------------------------------------------------------------------------------------------------

/**
 * Build one SFT example: input/target ids of `prompt ++ response` shifted by one, and a loss mask that is 1 only
 * where the *target* is a response token. Returns plain arrays of length `T` (right-padded with 0, mask 0).
 */
export function sftExample(prompt: readonly number[], response: readonly number[], T: number): { x: number[]; y: number[]; mask: number[] } {
  const seq = [...prompt, ...response];
  if (seq.length - 1 > T) throw new Error(`sftExample: prompt (${prompt.length}) + response (${response.length}) tokens exceed the sequence length ${T} + 1`);
  const x = new Array<number>(T).fill(0);
  const y = new Array<number>(T).fill(0);
  const mask = new Array<number>(T).fill(0);
  for (let t = 0; t < seq.length - 1; t++) {
    x[t] = seq[t];
    y[t] = seq[t + 1];
    mask[t] = t + 1 >= prompt.length ? 1 : 0; // target seq[t+1] is a response token
  }
  return { x, y, mask };
}

/**
 * Response-only cross-entropy. x: int32 [B, T]; y: int32 and mask: float, [B, T], or [B, R] with `headRows`, a
 * one-hot [B, R, T] that picks the R columns' positions (`lmForward`'s option: the head and its log-softmax run only
 * there, where the mask can be non-zero). Consumes everything.
 */
export function sftLoss(p: LMParams, cfg: LMConfig, x: Array, y: Array, mask: Array, headRows?: Array): Array {
  const { logits } = lmForward(p, cfg, x, headRows ? { headRows } : {}); // [B, T or R, V]
  const V = logits.shape[2];
  const nll = jnn.logSoftmax(logits, -1).mul(jnn.oneHot(y, V)).sum(-1).neg(); // [B, T]
  const denom = np.maximum(mask.ref.sum(), 1);
  return nll.mul(mask).sum().div(denom);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. PPO pieces.
// ---------------------------------------------------------------------------------------------------------------

/** Value head: D → D/4 → ReLU → D/8 → ReLU → 1 (the paper's 4096→1024→512→1 ratios). */
export type ValueHead = { l1: Linear; l2: Linear; l3: Linear };
/** `vis`: the image encoder of a vision-language policy (GP-VL), trained with the LM. */
export type PolicyParams = { lm: LMParams; value: ValueHead; vis?: VisionParams };
/** SFT parameters of a vision-language policy. */
export type VLParams = { lm: LMParams; vis: VisionParams };

/** `sftLoss` of a vision-language policy: the image spliced in at its slots [B, T, N], patches [B, N, P]. */
export function vlSftLoss(p: VLParams, cfg: LMConfig, x: Array, y: Array, mask: Array, slots: Array, patches: Array): Array {
  const inputEmbeds = spliceImage(p.lm.wte.table.ref, p.vis, x.ref, slots, patches);
  const { logits } = lmForward(p.lm, cfg, x, { inputEmbeds });
  const V = logits.shape[2];
  const nll = jnn.logSoftmax(logits, -1).mul(jnn.oneHot(y, V)).sum(-1).neg();
  const denom = np.maximum(mask.ref.sum(), 1);
  return nll.mul(mask).sum().div(denom);
}

export function initValueHead(D: number, seed: number): ValueHead {
  const kg = new KeyGen(seed, "value-head");
  const h1 = Math.max(4, Math.round(D / 4));
  const h2 = Math.max(2, Math.round(D / 8));
  return {
    l1: { w: normalInit(kg, "l1.w", [D, h1], 1 / Math.sqrt(D)), b: np.zeros([h1]) },
    l2: { w: normalInit(kg, "l2.w", [h1, h2], 1 / Math.sqrt(h1)), b: np.zeros([h2]) },
    l3: { w: normalInit(kg, "l3.w", [h2, 1], 0.01 / Math.sqrt(h2)), b: np.zeros([1]) },
  };
}

/** h: [..., D] -> [...]. Consumes the head and h. */
export function valueHead(v: ValueHead, h: Array): Array {
  const a = jnn.relu(linear(v.l1, h));
  const b = jnn.relu(linear(v.l2, a));
  const out = linear(v.l3, b); // [..., 1]
  return out.reshape(out.shape.slice(0, -1));
}

/** Host copy of `valueHead` for one hidden vector (used on rollout hidden states; exact same math in float64). */
export function valueHeadHost(w: { l1: Float32Array[]; l2: Float32Array[]; l3: Float32Array[] }, h: readonly number[]): number {
  const lin = (x: readonly number[], [W, b]: Float32Array[], relu: boolean) => {
    const out = b.length;
    const y = new Array<number>(out);
    for (let j = 0; j < out; j++) {
      let s = b[j];
      for (let i = 0; i < x.length; i++) s += x[i] * W[i * out + j];
      y[j] = relu ? Math.max(0, s) : s;
    }
    return y;
  };
  return lin(lin(lin(h, w.l1, true), w.l2, true), w.l3, false)[0];
}

/**
 * Per-token weights of the action log-prob: `thoughtCoef` on response tokens that end before the key (e.g.
 * `"formula"`), 1 from the token that contains the key's first character on. When the key is absent every token
 * gets weight 1 (the whole answer is the action). `tokens` are the response ids as generated.
 */
export function keySplitWeights(tok: PhraseTokenizer, tokens: readonly number[], key: string, thoughtCoef: number): number[] {
  const pieces = tokens.map((t) => tok.decode([t]));
  const text = pieces.join("");
  const at = text.indexOf(key);
  if (at < 0) return tokens.map(() => 1);
  const w: number[] = [];
  let end = 0;
  for (const p of pieces) {
    end += p.length;
    w.push(end <= at ? thoughtCoef : 1);
  }
  return w;
}

/** Weighted action log-prob from per-token log-probs (host side, e.g. the sampler's log-probs). */
export function weightedLogProb(logprobs: readonly number[], weights: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < logprobs.length; i++) s += weights[i] * logprobs[i];
  return s;
}

/**
 * Generalised advantage estimation over one stream of consecutive transitions (Schulman et al. 2016), as the
 * RL4VLM storage computes it: `masks[t] = 1 − done_t` multiplies the bootstrap from step t+1; `nextValue` is V of
 * the state after the last transition. Returns advantages and returns R = A + V.
 */
export function gae(rewards: readonly number[], values: readonly number[], masks: readonly number[], nextValue: number, gamma: number, lambda: number): { advantages: number[]; returns: number[] } {
  const n = rewards.length;
  const adv = new Array<number>(n).fill(0);
  let last = 0;
  for (let t = n - 1; t >= 0; t--) {
    const vNext = t === n - 1 ? nextValue : values[t + 1];
    const delta = rewards[t] + gamma * vNext * masks[t] - values[t];
    last = delta + gamma * lambda * masks[t] * last;
    adv[t] = last;
  }
  return { advantages: adv, returns: adv.map((a, t) => a + values[t]) };
}

/** (A − mean) / (std + 1e−5) over the whole buffer (sample std with n − 1, as torch's `.std()` in the released trainer). */
export function normalizeAdvantages(adv: readonly number[]): number[] {
  const n = adv.length;
  if (n === 0) return [];
  const mean = adv.reduce((a, b) => a + b, 0) / n;
  const varc = adv.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1);
  const sd = Math.sqrt(varc);
  return adv.map((a) => (a - mean) / (sd + 1e-5));
}

/** PPO hyper-parameters used inside the loss. */
/**
 * `clip`: the ratio clip; `valueClip`: the clip of the value change around the rollout's value (the released trainer
 * reuses `clip`, 0.1, default here too); `valueOnly`: a value warm-up step (the policy term is dropped and the value
 * head reads the trunk's hidden state through a stop-gradient, so only the value head moves).
 */
export type PPOLossConfig = { clip: number; valueLossCoef: number; temperature: number; ratioCap: number; valueClip?: number; valueOnly?: boolean };

/**
 * PPO minibatch loss. Inputs (all consumed):
 * - x, y: int32 [B, T] (sequence `prompt ++ response` shifted by one), w: [B, T] per-target weight (0 on prompt and
 *   padding, `thoughtCoef` before the key, 1 after), last: [B, T] one-hot of the last prompt token (value position);
 * - oldLogp, oldValue, returns, adv: [B];
 * - vision-language policy (`p.vis`): slots [B, T, N] and patches [B, N, P] of the prompts' images;
 * - headRows [B, R, T] (optional): a one-hot picking R positions per sequence (the response's); y and w are then
 *   [B, R] and the head runs only there (the same log-probs: the other positions have weight 0).
 * Returns [loss, [policyLoss, valueLoss, clipFrac, approxKL]].
 */
export function ppoLoss(p: PolicyParams, cfg: LMConfig, c: PPOLossConfig, x: Array, y: Array, w: Array, last: Array, oldLogp: Array, oldValue: Array, returns: Array, adv: Array, slots?: Array, patches?: Array, headRows?: Array): [Array, Array[]] {
  const inputEmbeds = p.vis ? spliceImage(p.lm.wte.table.ref, p.vis, x.ref, slots!, patches!) : undefined;
  const { logits, hidden } = lmForward(p.lm, cfg, x, { returnHidden: true, ...(inputEmbeds ? { inputEmbeds } : {}), ...(headRows ? { headRows } : {}) }); // [B, T or R, V], [B, T, D]
  const V = logits.shape[2];
  const logpTok = jnn.logSoftmax(logits.mul(1 / c.temperature), -1).mul(jnn.oneHot(y, V)).sum(-1); // [B, T]
  const logp = logpTok.mul(w).sum(-1); // [B]
  const hLast0 = hidden!.mul(last.reshape([...last.shape, 1])).sum(1); // [B, D]
  const hLast = c.valueOnly ? lax.stopGradient(hLast0) : hLast0;
  const value = valueHead(p.value, hLast); // [B]

  const logRatio = logp.sub(oldLogp); // [B]
  const ratio = np.exp(logRatio.ref);
  const clipped = np.clip(ratio.ref, 1 - c.clip, 1 + c.clip);
  const surr1 = ratio.ref.mul(adv.ref);
  const surr2 = clipped.mul(adv);
  const anyHuge = np.max(ratio.ref).greater(c.ratioCap); // scalar bool
  const surr = np.where(anyHuge, surr2.ref, np.minimum(surr1, surr2)); // [B]
  const policyLoss = surr.mean().neg();

  const vc = c.valueClip ?? c.clip;
  const vClipped = oldValue.ref.add(np.clip(value.ref.sub(oldValue), -vc, vc));
  const vl1 = np.square(value.sub(returns.ref));
  const vl2 = np.square(vClipped.sub(returns));
  const valueLoss = np.maximum(vl1, vl2).mean().mul(0.5);

  const clipFrac = np.abs(ratio.sub(1)).greater(c.clip).astype(np.float32).mean();
  const approxKL = logRatio.neg().mean();
  const loss = c.valueOnly ? valueLoss.ref.mul(c.valueLossCoef) : policyLoss.ref.add(valueLoss.ref.mul(c.valueLossCoef));
  return [loss, [policyLoss, valueLoss, clipFrac, approxKL]];
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Compute accounting (App. C.3).
// ---------------------------------------------------------------------------------------------------------------

/** N of the paper's formulas: every parameter of the LM (the value head, < 1 %, is left out as in the paper). */
export function modelParams(lm: LMParams): number {
  return paramCount(lm);
}
/** X_train = 6·N·D. */
export const trainFlops = (N: number, tokens: number): number => 6 * N * tokens;
/** X_inference = 2·N·D. */
export const inferenceFlops = (N: number, tokens: number): number => 2 * N * tokens;

/** Read the value head's weights to the host (for `valueHeadHost`); the head is not consumed. */
export async function valueHeadToHost(v: ValueHead): Promise<{ l1: Float32Array[]; l2: Float32Array[]; l3: Float32Array[] }> {
  const r = refTree(v);
  const get = async (l: Linear) => [(await l.w.data()) as Float32Array, (await l.b!.data()) as Float32Array];
  return { l1: await get(r.l1), l2: await get(r.l2), l3: await get(r.l3) };
}
