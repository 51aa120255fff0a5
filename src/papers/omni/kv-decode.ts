/**
 * KV-cache greedy decoding of the omni model (issue 25: evaluation time). Baichuan-Omni (arXiv 2501.15368) §3.3 / Fig. 2:
 * the LLM decodes its text (and, in speech out, one LM step per 12.5 Hz audio frame) causally, so the key/value of
 * a position never changes once written: the prompt batch is run once (`omniPrefill`, the same layers as
 * `omniForward`, keeping each layer's keys and values), then each step runs one position per row (`omniDecodeStep`).
 *
 * Omni's input embedding (text ids, audio codes, image patches) is only needed at prefill: every decoded position is
 * a text token or an audio frame, embedded as `omniEmbeds` embeds them (`omniStepEmbeds`: text·(1 − a) + audio·a,
 * the image term being zero there). Rows of a packed batch end their prompts at different lengths; the cache keeps
 * the packed layout (slot t = position t of the prompt batch, length L) and writes step s of every row at slot L + s,
 * with each row's own RoPE position (its length so far); the prefill runs only up to the longest prompt (rounded
 * up). Attention over slots ignores their order, so with a per-row mask of the slots a row holds (its prompt's, then
 * its decoded ones) each row attends exactly the keys the full forward's causal mask gives it: the same values up to
 * the order of the sums (logits within ~1e-5).
 * RoPE positions only (learned absolute positions would need per-row position lookups; omni's presets use RoPE).
 */
import { jit, jnn, np, refTree, type Array } from "../../engine/index.js";
import { embed, unembed } from "../../nn/embedding.js";
import { linear } from "../../nn/linear.js";
import { norm } from "../../nn/norm.js";
import { mlp } from "../../nn/mlp.js";
import { applyRope, attentionWithKV, ropeTables } from "../../nn/attention.js";
import type { KVCache, LMConfig, LMParams } from "../../nn/transformer.js";
import { audioInputEmbeds, omniEmbeds, type AudioEmbed, type OmniBatch, type OmniConfig, type OmniParams } from "./model.js";
import { batchFromList, batchList, packBatch, type BatchShape, type Example } from "./sequences.js";
import { cachedJit } from "./prepare.js";

type Trunk = Omit<OmniParams, "audioHead">;
const trunkOf = (p: OmniParams): Trunk => refTree({ lm: p.lm, vision: p.vision, projector: p.projector, audioEmbed: p.audioEmbed });

function checkRope(cfg: LMConfig): void {
  if (cfg.pos !== "rope") throw new Error(`omni KV decoding: textLm.model.pos must be "rope" (got "${cfg.pos}"); use the full-forward decode path`);
}

const headOf = (p: LMParams, h: Array): Array => (p.head ? linear(p.head, h) : unembed(p.wte, h));

/**
 * The packed prompt batch through the LM, as `omniForward` computes it (same layers, same attention), keeping every
 * layer's keys and values in a cache of `cap` slots (the first T filled). Returns logits [B, T, V], hidden [B, T, D]
 * and the cache. Consumes everything.
 */
export function omniPrefill(p: Trunk, cfg: OmniConfig, b: Pick<OmniBatch, "tokens" | "codes" | "audioMask" | "patches" | "imgSlots">, cap: number): { logits: Array; hidden: Array; cache: KVCache } {
  const lc = cfg.lm;
  checkRope(lc);
  const [B, T] = b.tokens.shape;
  if (cap < T) throw new Error(`omniPrefill: cache of ${cap} slots is shorter than the batch (${T})`);
  let x = omniEmbeds(p, cfg, b);
  if (!lc.tiedHead) p.lm.wte.table.dispose();
  const hd = lc.dModel / lc.nHeads;
  const grow = (a: Array) => (cap === T ? a : np.concatenate([a, np.zeros([B, cap - T, lc.nHeads, hd])], 1));
  const cache: KVCache = [];
  for (const blk of p.lm.blocks) {
    const r = attentionWithKV(blk.attn, norm(blk.ln1, x.ref), { nHeads: lc.nHeads, rope: true });
    cache.push({ k: grow(r.k), v: grow(r.v) });
    x = x.add(r.y);
    x = x.ref.add(mlp(blk.mlp, norm(blk.ln2, x)));
  }
  const h = norm(p.lm.lnF, x);
  return { logits: headOf(p.lm, h.ref), hidden: h, cache };
}

/**
 * Input embeddings [B, 1, D] of one decoded position per row: tokens int32 [B, 1], codes int32 [B, 1, nL], audio
 * mask [B, 1] (1: an audio frame), as `omniEmbeds` makes them where no image token sits. Consumes everything.
 */
export function omniStepEmbeds(wte: Array, emb: AudioEmbed, tokens: Array, codes: Array, audioMask: Array): Array {
  const [B] = tokens.shape;
  const text = embed({ table: wte }, tokens);
  const aud = audioInputEmbeds(emb, codes);
  const am = audioMask.reshape([B, 1, 1]);
  const textMask = am.ref.mul(-1).add(1);
  return text.mul(textMask).add(aud.mul(am));
}

/**
 * One position per row: x [B, 1, D] input embeddings, `ropePos` int32 [B] (each row's position), `slot` int32
 * scalar (the cache slot written, the same for all rows), `valid` [B, C] (1 where row b may attend slot j: its prompt
 * positions and its decoded slots, this one included). Returns logits [B, V], hidden [B, D] and the new cache.
 * Consumes everything.
 */
export function omniDecodeStep(lm: LMParams, cfg: LMConfig, x: Array, ropePos: Array, slot: Array, valid: Array, cache: KVCache): { logits: Array; hidden: Array; cache: KVCache } {
  checkRope(cfg);
  const [B, , D] = x.shape;
  const H = cfg.nHeads;
  const hd = D / H;
  const C = cache[0].k.shape[1];
  if (!cfg.tiedHead) lm.wte.table.dispose();
  const tabs = ropeTables(cfg.contextLength, hd);
  const cos = np.take(tabs.cos, ropePos.ref, 0).reshape([B, 1, 1, hd / 2]);
  const sin = np.take(tabs.sin, ropePos, 0).reshape([B, 1, 1, hd / 2]);
  const onehot = np.arange(C).astype(np.int32).equal(slot).astype(np.float32).reshape([1, C, 1, 1]);
  const keep = onehot.ref.mul(-1).add(1);
  const bias = valid.sub(1).mul(1e9).reshape([B, 1, 1, C]);
  const next: KVCache = [];
  lm.blocks.forEach((blk, l) => {
    const qkv = linear(blk.attn.qkv, norm(blk.ln1, x.ref)).reshape([B, 1, 3, H, hd]);
    const [q0, k0, v] = np.split(qkv, 3, 2).map((a) => a.reshape([B, 1, H, hd]));
    const q = applyRope(q0, cos.ref, sin.ref);
    const k = applyRope(k0, cos.ref, sin.ref);
    const kc = cache[l].k.mul(keep.ref).add(k.mul(onehot.ref));
    const vc = cache[l].v.mul(keep.ref).add(v.mul(onehot.ref));
    const y = jnn.dotProductAttention(q, kc.ref, vc.ref, { bias: bias.ref }).reshape([B, 1, D]);
    next.push({ k: kc, v: vc });
    x = x.add(linear(blk.attn.out, y));
    x = x.ref.add(mlp(blk.mlp, norm(blk.ln2, x)));
  });
  for (const a of [cos, sin, onehot, keep, bias]) a.dispose();
  const h = norm(lm.lnF, x).reshape([B, D]);
  return { logits: headOf(lm, h.ref), hidden: h, cache: next };
}

/** `omniPrefill` jitted once per model config and cache length: (trunk, packed batch list) → { logits, hidden, cache }. */
export function omniPrefillFn(cfg: OmniConfig, cap: number) {
  return cachedJit(["omni-prefill", cfg, cap], () => jit((q: Trunk, xs: Array[]) => {
    const b = batchFromList(xs);
    for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
    return omniPrefill(q, cfg, b, cap);
  }));
}

/** Step embeddings then `omniDecodeStep`, jitted once per model config. */
export function omniDecodeFn(cfg: OmniConfig) {
  return cachedJit(["omni-decode", cfg], () =>
    jit((lm: LMParams, emb: AudioEmbed, tokens: Array, codes: Array, audioMask: Array, ropePos: Array, slot: Array, valid: Array, cache: KVCache) => {
      const x = omniStepEmbeds(lm.wte.table.ref, emb, tokens, codes, audioMask);
      return omniDecodeStep(lm, cfg.lm, x, ropePos, slot, valid, cache);
    }),
  );
}

// ---------------------------------------------------------------- greedy decoding sessions (host side)

/** Row b's next-token logits [V] and final hidden state [D] at its last position. */
export type StepOut = { logits: (b: number) => Float32Array; hidden: (b: number) => Float32Array };

/**
 * One batch's greedy decode: `next(exs)` gets the rows' examples as they are now (each grown by the tokens or frames
 * the caller appended since the last call, or not at all) and returns each row's next-token logits and hidden state
 * at its last position (`want`: what the caller reads; the KV session always has both, the full forward computes only
 * what is asked, by default its own `want`). `close` frees what the session holds. The same interface for both paths, so the decode loops
 * do not know which one runs.
 */
export type DecodeSession = { next: (exs: Example[], want?: "logits" | "hidden" | "both") => Promise<StepOut>; close: () => void };

/** Which path a greedy evaluation decodes with: `kv` (prefill once, one position per step) or `full` (the whole packed batch every step, the reference). */
export type DecodePath = "kv" | "full";
export const DECODE_PATHS: readonly DecodePath[] = ["kv", "full"];

/** The reference: every call packs the batch and runs the whole forward (`full(xs)` returns logits [B, T, V] and/or hidden [B, T, D] on the host). */
export function fullSession(full: (xs: Array[], want: "logits" | "hidden") => Promise<Float32Array>, shape: BatchShape, V: number, D: number, want: "logits" | "hidden" | "both" = "logits"): DecodeSession {
  const T = shape.seqLen;
  return {
    async next(exs, asked = want) {
      const lg = asked === "hidden" ? null : await full(batchList(packBatch(exs, shape).arrays), "logits");
      const hd = asked === "logits" ? null : await full(batchList(packBatch(exs, shape).arrays), "hidden");
      const at = (a: Float32Array | null, W: number, what: string) => (b: number) => {
        if (!a) throw new Error(`fullSession: ${what} not computed (want "${asked}")`);
        const n = exs[b].ids.length;
        return a.subarray((b * T + n - 1) * W, (b * T + n) * W);
      };
      return { logits: at(lg, V, "logits"), hidden: at(hd, D, "hidden") };
    },
    close() {},
  };
}

/** Prefill lengths are the longest prompt rounded up to a multiple of this (at most the context): a few compiled shapes. */
export const PREFILL_STEP = 8;

/**
 * The KV-cache session: the first `next` prefills the packed batch over L positions (the longest prompt rounded up to
 * `PREFILL_STEP`; causality makes the rows' positions the same as in the reference's first forward over the whole
 * context T); each later one feeds every row's new positions one step at a time (a row grown by k gets k steps, rows
 * with nothing new a masked dummy position), at most `maxSteps` steps in all (the cache holds L + maxSteps slots).
 */
export function kvSession(p: OmniParams, cfg: OmniConfig, shape: BatchShape, maxSteps: number): DecodeSession {
  const T = shape.seqLen;
  const B = shape.batch;
  const nL = shape.nLayers;
  const V = cfg.lm.vocabSize;
  const D = cfg.lm.dModel;
  const decode = omniDecodeFn(cfg);
  let cache: KVCache | null = null;
  let fed: number[] = [];
  let step = 0;
  let L = T; // prefill length (set at the first call)
  let C = T + maxSteps;
  let valid = new Float32Array(0);
  const lastLogits = new Float32Array(B * V);
  const lastHidden = new Float32Array(B * D);
  const out: StepOut = { logits: (b) => lastLogits.subarray(b * V, (b + 1) * V), hidden: (b) => lastHidden.subarray(b * D, (b + 1) * D) };
  return {
    async next(exs) {
      if (exs.length !== B) throw new Error(`kvSession: got ${exs.length} rows for batch ${B}`);
      if (!cache) {
        L = Math.min(T, Math.ceil(Math.max(...exs.map((e) => e.ids.length)) / PREFILL_STEP) * PREFILL_STEP);
        C = L + maxSteps;
        valid = new Float32Array(B * C);
        const r = omniPrefillFn(cfg, C)(trunkOf(p), batchList(packBatch(exs, { ...shape, seqLen: L }).arrays));
        cache = r.cache;
        const lg = (await r.logits.data()) as Float32Array;
        const hd = (await r.hidden.data()) as Float32Array;
        fed = exs.map((e) => e.ids.length);
        exs.forEach((e, b) => {
          const n = e.ids.length;
          valid.fill(1, b * C, b * C + n);
          lastLogits.set(lg.subarray((b * L + n - 1) * V, (b * L + n) * V), b * V);
          lastHidden.set(hd.subarray((b * L + n - 1) * D, (b * L + n) * D), b * D);
        });
        return out;
      }
      exs.forEach((e, b) => {
        if (e.ids.length < fed[b]) throw new Error(`kvSession: row ${b} shrank from ${fed[b]} to ${e.ids.length} positions`);
        if (e.ids.length > T) throw new Error(`kvSession: row ${b} has ${e.ids.length} positions, more than the context ${T}`);
      });
      while (exs.some((e, b) => e.ids.length > fed[b])) {
        if (step >= maxSteps) throw new Error(`kvSession: more than ${maxSteps} decode steps (the cache's slots)`);
        const tokens = new Int32Array(B);
        const codes = new Int32Array(B * nL);
        const am = new Float32Array(B);
        const pos = new Int32Array(B);
        const moved = exs.map((e, b) => e.ids.length > fed[b]);
        exs.forEach((e, b) => {
          if (!moved[b]) return void (pos[b] = Math.min(fed[b], T - 1)); // a dummy position, not attended by the row
          const t = fed[b];
          tokens[b] = e.ids[t];
          const c = e.codes[t];
          if (c) {
            codes.set(c, b * nL);
            am[b] = 1;
          }
          pos[b] = t;
          valid[b * C + L + step] = 1;
        });
        const r: { logits: Array; hidden: Array; cache: KVCache } = decode(
          refTree(p.lm),
          refTree(p.audioEmbed),
          np.array(tokens, { dtype: np.int32 }).reshape([B, 1]),
          np.array(codes, { dtype: np.int32 }).reshape([B, 1, nL]),
          np.array(am).reshape([B, 1]),
          np.array(pos, { dtype: np.int32 }),
          np.array(L + step, { dtype: np.int32 }),
          np.array(valid).reshape([B, C]),
          cache!,
        );
        cache = r.cache;
        step++;
        const lg = (await r.logits.data()) as Float32Array;
        const hd = (await r.hidden.data()) as Float32Array;
        exs.forEach((_, b) => {
          if (!moved[b]) return;
          lastLogits.set(lg.subarray(b * V, (b + 1) * V), b * V);
          lastHidden.set(hd.subarray(b * D, (b + 1) * D), b * D);
          fed[b]++;
        });
      }
      return out;
    },
    close() {
      for (const l of cache ?? []) {
        l.k.dispose();
        l.v.dispose();
      }
      cache = null;
    },
  };
}
