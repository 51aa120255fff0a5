import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, tree } from "../engine/index.js";
import { embed } from "./embedding.js";
import { defaultLMConfig, initLM, type LMConfig } from "./transformer.js";
import { chooseToken, generate, greedyFull } from "./generate.js";
import { Rng } from "../util/rng.js";

beforeAll(async () => {
  await initEngine();
});

describe("generation with a KV cache", () => {
  for (const pos of ["learned", "rope"] as const) {
    it(`greedy decoding equals full recomputation (${pos} positions)`, async () => {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 23, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 24, pos };
      const p = initLM(cfg, 7);
      // Large init so greedy choices are not near-ties.
      const prompt = [3, 1, 4, 1, 5];
      const cached = await generate(p, cfg, [prompt], { maxNewTokens: 10, temperature: 0 });
      const full = await greedyFull(p, cfg, prompt, 10);
      expect(cached.tokens[0]).toEqual(full);
      tree.dispose(p);
    });
  }
  it("prefillTight (rows grouped by length, each chunk over its own length at the same positions, repeated prompts once) gives the same tokens, log-probs and prompt hidden states, bit for bit", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 37, dModel: 32, nLayers: 2, nHeads: 2, contextLength: 256, pos: "rope" };
    const p = initLM(cfg, 9);
    const rng = new Rng(4, "tight-prompts");
    // Prompts of 3 to 150 tokens, so chunks pad to 16 .. 192 under a whole-batch length of 192 (bucket 64).
    const prompts = Array.from({ length: 21 }, (_, i) => Array.from({ length: i % 5 === 0 ? 120 + rng.int(31) : 3 + rng.int(90) }, () => 1 + rng.int(36)));
    // Repeated prompts (prefilled once): padding rows as rollout.ts adds them, and an equal copy.
    prompts.push(prompts[0], prompts[0], [...prompts[3]]);
    const run = (prefillTight: number) =>
      generate(p, cfg, prompts, { maxNewTokens: 12, temperature: 1, rng: new Rng(5, "tight-sample"), batchedPrefill: true, prefillBucket: 64, prefillChunk: 4, returnPromptHidden: true, prefillTight });
    const ref = await run(0);
    const got = await run(16);
    expect(got.tokens).toEqual(ref.tokens);
    expect(got.logprobs).toEqual(ref.logprobs);
    expect(got.promptHidden).toEqual(ref.promptHidden);
    await expect(generate(p, { ...cfg, pos: "learned" }, prompts, { maxNewTokens: 2, batchedPrefill: true, prefillTight: 16 })).rejects.toThrow(/prefillTight needs RoPE/);
    tree.dispose(p);
  });
  it("compactDone (decoding on with fewer rows as rows finish) gives the same tokens and log-probs (bit for bit on this model)", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 37, dModel: 32, nLayers: 2, nHeads: 2, contextLength: 128, pos: "rope" };
    const p = initLM(cfg, 11);
    const rng = new Rng(6, "compact-prompts");
    const prompts = Array.from({ length: 24 }, () => Array.from({ length: 3 + rng.int(40) }, () => 1 + rng.int(36)));
    prompts.push(prompts[0], prompts[0]);
    // Stop token 5 (about 1 in 37 per draw): rows end at many different lengths, so the batch compacts several times.
    const run = (compactDone: number, prefillTight: number) =>
      generate(p, cfg, prompts, { maxNewTokens: 60, temperature: 1, rng: new Rng(7, "compact-sample"), stopIds: [5], batchedPrefill: true, prefillBucket: 16, prefillChunk: 8, kvRecent: 16, compactDone, prefillTight });
    const ref = await run(0, 0);
    const lens = ref.tokens.map((t) => t.length);
    expect(Math.min(...lens)).toBeLessThan(15);
    expect(Math.max(...lens)).toBeGreaterThan(40);
    for (const [compactDone, tight] of [[2, 0], [4, 16]]) {
      const got = await run(compactDone, tight);
      expect(got.tokens).toEqual(ref.tokens);
      expect(got.logprobs).toEqual(ref.logprobs);
    }
    tree.dispose(p);
  });
  it("left-padded batches give each row the same tokens as alone (RoPE)", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 24, pos: "rope" };
    const p = initLM(cfg, 3);
    const a = [5, 6, 7, 8, 9, 10];
    const b = [2, 3];
    const batch = await generate(p, cfg, [a, b], { maxNewTokens: 6, temperature: 0 });
    const alone = await generate(p, cfg, [b], { maxNewTokens: 6, temperature: 0 });
    expect(batch.tokens[1]).toEqual(alone.tokens[0]);
    for (let i = 0; i < 6; i++) expect(batch.logprobs[1][i]).toBeCloseTo(alone.logprobs[0][i], 4);
    tree.dispose(p);
  });
  it("batched prefill from prompt embeddings (prefillEmbeds) equals the token-embedding path; the default path is unchanged", async () => {
    for (const tiedHead of [true, false]) {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 24, pos: "rope", tiedHead };
      const p = initLM(cfg, 5);
      const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
      const rowsSeen: number[] = [];
      const base = await generate(p, cfg, prompts, { maxNewTokens: 6, temperature: 0, batchedPrefill: true, prefillChunk: 2, returnPromptHidden: true });
      const viaEmbeds = await generate(p, cfg, prompts, {
        maxNewTokens: 6,
        temperature: 0,
        batchedPrefill: true,
        prefillChunk: 2,
        returnPromptHidden: true,
        prefillEmbeds: (t, rows, L) => {
          rowsSeen.push(...rows);
          return embed({ table: p.wte.table.ref }, np.array(t, { dtype: np.int32 }).reshape([rows.length, L]));
        },
      });
      expect(viaEmbeds.tokens).toEqual(base.tokens);
      for (let b = 0; b < 3; b++) for (let i = 0; i < base.logprobs[b].length; i++) expect(viaEmbeds.logprobs[b][i]).toBeCloseTo(base.logprobs[b][i], 5);
      for (let b = 0; b < 3; b++) for (let d = 0; d < 16; d++) expect(viaEmbeds.promptHidden![b][d]).toBeCloseTo(base.promptHidden![b][d], 5);
      expect(rowsSeen).toEqual([0, 1, 2, 2]); // the last chunk is padded with its last row
      // The default (token) path still equals full recomputation.
      for (const [b, pr] of prompts.entries()) expect(base.tokens[b]).toEqual(await greedyFull(p, cfg, pr, 6));
      await expect(generate(p, cfg, prompts, { maxNewTokens: 2, prefillEmbeds: () => np.zeros([1]) })).rejects.toThrow(/needs batchedPrefill/);
      tree.dispose(p);
    }
  });
  it("stops at stop ids and respects maxNewTokens and the context limit", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 11, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 12 };
    const p = initLM(cfg, 1);
    const r = await generate(p, cfg, [[1, 2]], { maxNewTokens: 5, temperature: 1, rng: new Rng(2), stopIds: Array.from({ length: 11 }, (_, i) => i) });
    expect(r.tokens[0].length).toBe(1);
    await expect(generate(p, cfg, [[1, 2, 3]], { maxNewTokens: 10 })).rejects.toThrow(/exceeds model.contextLength 12/);
    tree.dispose(p);
  });
});

describe("token choice", () => {
  const logits = Float32Array.from([2, 1, 0, -1]);
  it("greedy picks the argmax and reports its log-probability", () => {
    const c = chooseToken(logits, { temperature: 0, topK: 0, topP: 1, rng: new Rng(0) });
    const lse = Math.log([2, 1, 0, -1].reduce((a, v) => a + Math.exp(v), 0));
    expect(c.id).toBe(0);
    expect(c.logprob).toBeCloseTo(2 - lse, 6);
  });
  it("top-k=1 and top-p tiny are greedy; sampling follows the distribution", () => {
    const rng = new Rng(1);
    for (let i = 0; i < 20; i++) expect(chooseToken(logits, { temperature: 1, topK: 1, topP: 1, rng }).id).toBe(0);
    for (let i = 0; i < 20; i++) expect(chooseToken(logits, { temperature: 1, topK: 0, topP: 0.01, rng }).id).toBe(0);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[chooseToken(logits, { temperature: 1, topK: 0, topP: 1, rng }).id]++;
    const z = [2, 1, 0, -1].reduce((a, v) => a + Math.exp(v), 0);
    counts.forEach((c, i) => expect(Math.abs(c / 4000 - Math.exp([2, 1, 0, -1][i]) / z)).toBeLessThan(0.03));
  });
});

describe("two-level KV cache (kvRecent)", () => {
  it("merging the recent slots into the main cache places every value bit for bit", async () => {
    const { mergeRecentKV } = await import("./attention.js");
    const B = 2;
    const T = 7;
    const K = 3;
    const H = 2;
    const hd = 2;
    // Host-made inputs (a lazy expression would be fused into the merge and rounded differently).
    const m0 = Float32Array.from({ length: B * T * H * hd }, (_, i) => 0.5 - 0.37 * i);
    const r0 = Float32Array.from({ length: B * K * H * hd }, (_, i) => 0.1 + 1.13 * i);
    const main = np.array(m0).reshape([B, T, H, hd]);
    const recent = np.array(r0).reshape([B, K, H, hd]);
    // base 5: slots 5, 6 take recent 0, 1; recent 2 falls past the end and is dropped.
    const out = mergeRecentKV({ k: main.ref, v: main }, { k: recent.ref, v: recent }, np.array(5, { dtype: np.int32 }));
    const got = (await out.k.data()) as Float32Array;
    out.v.dispose();
    const want = Float32Array.from(m0);
    for (let b = 0; b < B; b++)
      for (let j = 0; j < 2; j++)
        for (let e = 0; e < H * hd; e++) want[((b * T + 5 + j) * H) * hd + e] = r0[((b * K + j) * H) * hd + e];
    expect(Array.from(got)).toEqual(Array.from(want));
  });
  for (const batchedPrefill of [false, true]) {
    it(`greedy tokens equal the single-cache sampler's for several recent sizes, merges included (batchedPrefill ${batchedPrefill})`, async () => {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 24, pos: "rope" };
      const p = initLM(cfg, 3);
      const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
      const ref = await generate(p, cfg, prompts, { maxNewTokens: 12, temperature: 0, batchedPrefill, kvRecent: 0 });
      for (const kvRecent of [1, 3, 5, 16, 30]) {
        const r = await generate(p, cfg, prompts, { maxNewTokens: 12, temperature: 0, batchedPrefill, kvRecent });
        expect(r.tokens).toEqual(ref.tokens);
        r.logprobs.flat().forEach((lp, i) => expect(lp).toBeCloseTo(ref.logprobs.flat()[i], 5));
      }
      tree.dispose(p);
    });
  }
  it("the growing main cache gives the fixed-capacity cache's tokens and log-probabilities bit for bit, merges included", async () => {
    for (const pos of ["rope", "learned"] as const) {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 40, pos };
      const p = initLM(cfg, 3);
      const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
      for (const kvRecent of [1, 4, 16]) {
        for (const temperature of [0, 1]) {
          const o = { maxNewTokens: 20, temperature, batchedPrefill: true, kvRecent };
          const fixed = await generate(p, cfg, prompts, { ...o, rng: new Rng(4, "g"), kvGrow: false });
          const grown = await generate(p, cfg, prompts, { ...o, rng: new Rng(4, "g") });
          expect(grown.tokens).toEqual(fixed.tokens);
          expect(grown.logprobs).toEqual(fixed.logprobs);
        }
      }
      tree.dispose(p);
    }
  });
  it("the fewer-kernel decode step (lmDecodeStepKV) gives the split step's tokens and log-probabilities bit for bit", async () => {
    const variants: Partial<LMConfig>[] = [
      { pos: "rope", norm: "rms", mlp: "swiglu", mlpRatio: 8 / 3 },
      { pos: "learned", norm: "layer", mlp: "gelu", bias: true, tiedHead: false },
    ];
    for (const v of variants) {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 40, ...v };
      const p = initLM(cfg, 5);
      const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
      for (const temperature of [0, 1]) {
        const o = { maxNewTokens: 20, temperature, batchedPrefill: true, kvRecent: 4 };
        const split = await generate(p, cfg, prompts, { ...o, rng: new Rng(4, "k"), decodeKV: false });
        const kv = await generate(p, cfg, prompts, { ...o, rng: new Rng(4, "k") });
        expect(kv.tokens).toEqual(split.tokens);
        expect(kv.logprobs).toEqual(split.logprobs);
      }
      tree.dispose(p);
    }
  });
  it("prompt embeddings, chunked prefill and the prompts' hidden states give the same results on the growing, fewer-kernel path", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 40, pos: "rope" };
    const p = initLM(cfg, 8);
    const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
    const o = {
      maxNewTokens: 10,
      temperature: 1,
      batchedPrefill: true,
      prefillChunk: 2,
      returnPromptHidden: true,
      kvRecent: 4,
      prefillEmbeds: (t: Int32Array, rows: number[], L: number) => embed({ table: p.wte.table.ref }, np.array(t, { dtype: np.int32 }).reshape([rows.length, L])),
    };
    const old = await generate(p, cfg, prompts, { ...o, rng: new Rng(3, "e"), kvGrow: false, prefillHeadsLast: false });
    const now = await generate(p, cfg, prompts, { ...o, rng: new Rng(3, "e") });
    expect(now.tokens).toEqual(old.tokens);
    expect(now.logprobs).toEqual(old.logprobs);
    expect(now.promptHidden).toEqual(old.promptHidden);
    tree.dispose(p);
  });
  it("the prefill's heads-last attention gives jnn.dotProductAttention's tokens and log-probabilities bit for bit", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 40, pos: "rope" };
    const p = initLM(cfg, 6);
    const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
    const o = { maxNewTokens: 8, temperature: 1, batchedPrefill: true, returnPromptHidden: true };
    const jnnRun = await generate(p, cfg, prompts, { ...o, rng: new Rng(4, "h"), prefillHeadsLast: false });
    const hl = await generate(p, cfg, prompts, { ...o, rng: new Rng(4, "h") });
    expect(hl.tokens).toEqual(jnnRun.tokens);
    expect(hl.logprobs).toEqual(jnnRun.logprobs);
    expect(hl.promptHidden).toEqual(jnnRun.promptHidden);
    tree.dispose(p);
  });
  it("generate leaks no buffers on the growing, fewer-kernel path", async () => {
    const { liveBuffers } = await import("../engine/index.js");
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 40, pos: "rope" };
    const p = initLM(cfg, 6);
    const run = () => generate(p, cfg, [[5, 6, 7], [2]], { maxNewTokens: 12, temperature: 1, rng: new Rng(1), batchedPrefill: true, kvRecent: 4 });
    await run();
    const before = liveBuffers();
    await run();
    expect(liveBuffers()).toBe(before);
    tree.dispose(p);
  });
  it("with learned positions too, and sampled tokens follow the same draws", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 23, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 24, pos: "learned" };
    const p = initLM(cfg, 7);
    const prompt = [3, 1, 4, 1, 5];
    const full = await greedyFull(p, cfg, prompt, 10);
    const cached = await generate(p, cfg, [prompt], { maxNewTokens: 10, temperature: 0, kvRecent: 4 });
    expect(cached.tokens[0]).toEqual(full);
    const a = await generate(p, cfg, [prompt, prompt], { maxNewTokens: 10, temperature: 1, rng: new Rng(2, "t"), kvRecent: 0 });
    const b = await generate(p, cfg, [prompt, prompt], { maxNewTokens: 10, temperature: 1, rng: new Rng(2, "t"), kvRecent: 4 });
    expect(b.tokens).toEqual(a.tokens);
    tree.dispose(p);
  });
});

describe("defaultKvRecent", () => {
  it("picks the two-level cache only for large caches", async () => {
    const { defaultKvRecent, DEFAULT_KV_RECENT } = await import("./generate.js");
    const cfg: LMConfig = { ...defaultLMConfig, dModel: 128, contextLength: 128 };
    expect(defaultKvRecent(cfg, 1)).toBe(0);
    expect(defaultKvRecent(cfg, 4)).toBe(0);
    expect(defaultKvRecent(cfg, 16)).toBe(DEFAULT_KV_RECENT);
    expect(defaultKvRecent(cfg, 32)).toBe(DEFAULT_KV_RECENT);
  });
});

describe("KV-cache capacity", () => {
  it("kvCapacityFor rounds the needed slots up and stays within the context", async () => {
    const { kvCapacityFor, KV_CAPACITY_STEP } = await import("./generate.js");
    const cfg: LMConfig = { ...defaultLMConfig, contextLength: 100 };
    expect(kvCapacityFor(cfg, 1)).toBe(KV_CAPACITY_STEP);
    expect(kvCapacityFor(cfg, 33)).toBe(64);
    expect(kvCapacityFor(cfg, 97)).toBe(100);
    expect(kvCapacityFor(cfg, 40, { kvCapacity: 100 })).toBe(100);
    expect(kvCapacityFor(cfg, 40, { kvCapacity: 10 })).toBe(40);
  });
  for (const batchedPrefill of [false, true]) {
    it(`a cache trimmed to the needed slots gives the full-context cache's greedy tokens (batchedPrefill ${batchedPrefill})`, async () => {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 19, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 96, pos: "rope" };
      const p = initLM(cfg, 3);
      const prompts = [[5, 6, 7, 8, 9, 10], [2, 3], [4, 4, 1]];
      for (const kvRecent of [0, 4]) {
        const full = await generate(p, cfg, prompts, { maxNewTokens: 12, temperature: 0, batchedPrefill, kvRecent, kvCapacity: 96 });
        const trimmed = await generate(p, cfg, prompts, { maxNewTokens: 12, temperature: 0, batchedPrefill, kvRecent });
        expect(trimmed.tokens).toEqual(full.tokens);
        trimmed.logprobs.flat().forEach((lp, i) => expect(lp).toBeCloseTo(full.logprobs.flat()[i], 5));
      }
      tree.dispose(p);
    });
  }
});
