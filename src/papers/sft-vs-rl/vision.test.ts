/**
 * GeneralPoints-VL pieces: the card image encodes the hand (rank and suit colour), the patch encoder's shapes and
 * splice, generation with image embeddings (KV cache + batched prefill) equals full recomputation greedily,
 * gradients reach the encoder in both SFT and PPO losses, card-recognition accuracy is counted correctly, and the
 * presets keep GP-L unchanged.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, grad, initEngine, np, refTree, tree, type Array } from "../../engine/index.js";
import { makeHand, type Card } from "../../envs/index.js";
import { generate } from "../../nn/generate.js";
import { defaultLMConfig, initLM, lmForward, type LMConfig } from "../../nn/transformer.js";
import { sftVsRlPresets } from "./config.js";
import { initValueHead, ppoLoss, vlSftLoss, type PolicyParams, type VLParams } from "./model.js";
import type { LMEvalResult } from "./rollout.js";
import { gpVlAnswerTags, gpVlEvalRow, gpVlSpec, VisionGPEnv } from "./tasks.js";
import { GP_PHRASES, PhraseTokenizer, phrasesFor } from "./tokenizer.js";
import { cardImage, IMAGE_TEXT, IMAGE_TOKEN, imageBatch, imageTokens, initVision, patchify, prefillEmbedder, recognizesCards, spliceImage, VL_IMAGE_H, VL_IMAGE_TOKENS, VL_IMAGE_W, VL_PATCH_DIM, type VisionParams } from "./vision.js";

beforeAll(async () => {
  await initEngine();
});

const cards = (ranks: number[], suit: Card["suit"] = "S"): Card[] => ranks.map((rank) => ({ rank, suit }));
const diff = (a: Float32Array, b: Float32Array, x0 = 0, x1 = VL_IMAGE_W) => {
  let n = 0;
  for (let y = 0; y < VL_IMAGE_H; y++) for (let x = x0; x < x1; x++) if (Math.abs(a[y * VL_IMAGE_W + x] - b[y * VL_IMAGE_W + x]) > 0.1) n++;
  return n;
};

describe("GP-VL card image", () => {
  it("is a 36×112 grayscale grid in [0, 1] that encodes each card's rank where that card is drawn", () => {
    const a = cardImage(cards([1, 3, 13, 6]));
    expect(a.length).toBe(VL_IMAGE_H * VL_IMAGE_W);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    expect(cardImage(cards([1, 3, 13, 6]))).toEqual(a);
    // Change only the second card (3 → 4): pixels differ inside its column range only (card i spans x = 5 + i·27.5 .. +25).
    const b = cardImage(cards([1, 4, 13, 6]));
    expect(diff(a, b, 32, 57)).toBeGreaterThan(5);
    expect(diff(a, b, 0, 32) + diff(a, b, 58, VL_IMAGE_W)).toBe(0);
    // Every pair of distinct ranks in the first slot gives a different image.
    const imgs = Array.from({ length: 13 }, (_, r) => cardImage(cards([r + 1, 2, 2, 2])));
    for (let i = 0; i < 13; i++) for (let j = i + 1; j < 13; j++) expect(diff(imgs[i], imgs[j])).toBeGreaterThan(0);
    // Visual OOD: red suits render a different ink than black ones (same ranks).
    expect(diff(cardImage(cards([1, 3, 13, 6], "S")), cardImage(cards([1, 3, 13, 6], "H")))).toBeGreaterThan(50);
  });
  it("the VL environment shows the image of its current hand and prefixes the prompt with the placeholders", () => {
    const env = new VisionGPEnv("id", 5);
    const o = env.reset(11);
    expect(o.text.startsWith(IMAGE_TEXT + "[Task Description]")).toBe(true);
    expect(o.text).not.toContain("Cards:");
    expect(env.image()).toEqual(cardImage(env.inner.currentHand.cards));
    expect(env.inner.currentHand.cards.every((c) => c.suit === "S" || c.suit === "C")).toBe(true);
    const red = new VisionGPEnv("visual-ood", 5);
    red.reset(11);
    expect(red.inner.currentHand.cards.every((c) => c.suit === "H" || c.suit === "D")).toBe(true);
    const tok = new PhraseTokenizer(phrasesFor(["general-points", "general-points-vl"]));
    expect(tok.encode(IMAGE_TEXT).filter((t) => t === tok.id(IMAGE_TOKEN)).length).toBe(VL_IMAGE_TOKENS);
  });
});

describe("GP-VL patch encoder", () => {
  it("maps patches [B, 14, 288] to image tokens [B, 14, D] and splices them at the placeholder positions only", async () => {
    const D = 16;
    const v = initVision(D, 3, 8);
    const imgs = [cardImage(cards([1, 3, 13, 6])), cardImage(cards([2, 2, 2, 2]))];
    const patches = patchify(imgs);
    expect(patches.length).toBe(2 * VL_IMAGE_TOKENS * VL_PATCH_DIM);
    const ref = (x: VisionParams) => refTree(x);
    const t = imageTokens(ref(v), np.array(patches).reshape([2, VL_IMAGE_TOKENS, VL_PATCH_DIM]));
    expect(t.shape).toEqual([2, VL_IMAGE_TOKENS, D]);
    const tv = (await t.data()) as Float32Array;
    // different hands → different image tokens
    let d = 0;
    for (let i = 0; i < VL_IMAGE_TOKENS * D; i++) d += Math.abs(tv[i] - tv[VL_IMAGE_TOKENS * D + i]);
    expect(d).toBeGreaterThan(1e-3);
    // splice: row 0 = [7, IMG×14, 9], T = 16
    const img = 5;
    const ids = [7, ...Array(VL_IMAGE_TOKENS).fill(img), 9];
    const wte = np.array(Float32Array.from({ length: 12 * D }, (_, i) => i / 100)).reshape([12, D]);
    const [slots, pt] = imageBatch(ids, 1, ids.length, img, [imgs[0]]);
    const e = (await spliceImage(wte, ref(v), np.array(Int32Array.from(ids), { dtype: np.int32 }).reshape([1, ids.length]), slots, pt).data()) as Float32Array;
    for (let k = 0; k < D; k++) {
      expect(e[k]).toBeCloseTo((7 * D + k) / 100, 6);
      expect(e[(ids.length - 1) * D + k]).toBeCloseTo((9 * D + k) / 100, 6);
      for (let s = 0; s < VL_IMAGE_TOKENS; s++) expect(e[(1 + s) * D + k]).toBeCloseTo(tv[s * D + k], 5);
    }
    disposeTree(v);
  });

  it("KV-cache generation with image embeddings (batched prefill, left padding) equals greedy full recomputation", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 24, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 40, pos: "rope" };
    const lm = initLM(cfg, 9);
    const v = initVision(cfg.dModel, 4, 8);
    // Larger encoder output so the image changes the greedy choices.
    v.proj.w = v.proj.w.mul(50);
    const img = 23;
    const imgs = [cardImage(cards([1, 3, 13, 6])), cardImage(cards([10, 10, 4, 7], "C"))];
    const prompts = [[1, ...Array(VL_IMAGE_TOKENS).fill(img), 2, 3, 4], [1, ...Array(VL_IMAGE_TOKENS).fill(img), 5]];
    const n = 8;
    const out = await generate(lm, cfg, prompts, { maxNewTokens: n, temperature: 0, batchedPrefill: true, prefillBucket: 8, prefillEmbeds: prefillEmbedder(lm, v, img, imgs) });
    const full = async (prompt: number[], image: Float32Array) => {
      const seq = [...prompt];
      const lps: number[] = [];
      const firstRow: number[] = [];
      for (let i = 0; i < n; i++) {
        const T = seq.length;
        const [slots, patches] = imageBatch(seq, 1, T, img, [image]);
        const x = np.array(Int32Array.from(seq), { dtype: np.int32 }).reshape([1, T]);
        const vr = refTree(v);
        const emb = spliceImage(lm.wte.table.ref, vr, x.ref, slots, patches);
        const { logits } = lmForward(refTree(lm), cfg, x, { inputEmbeds: emb });
        const row = ((await logits.data()) as Float32Array).subarray((T - 1) * cfg.vocabSize, T * cfg.vocabSize);
        let best = 0;
        for (let j = 1; j < cfg.vocabSize; j++) if (row[j] > row[best]) best = j;
        const lse = Math.log(Array.from(row).reduce((s, z) => s + Math.exp(z - row[best]), 0)) + row[best];
        lps.push(row[best] - lse);
        if (i === 0) firstRow.push(...row);
        seq.push(best);
      }
      return { tokens: seq.slice(prompt.length), lps, firstRow };
    };
    for (const b of [0, 1]) {
      const ref = await full(prompts[b], imgs[b]);
      expect(out.tokens[b]).toEqual(ref.tokens);
      for (let i = 0; i < n; i++) expect(out.logprobs[b][i]).toBeCloseTo(ref.lps[i], 4);
    }
    // The image matters: the same prompt with the other image gives other next-token logits.
    const a0 = (await full(prompts[0], imgs[0])).firstRow;
    const a1 = (await full(prompts[0], imgs[1])).firstRow;
    expect(a0.reduce((s, z, j) => s + Math.abs(z - a1[j]), 0)).toBeGreaterThan(1e-3);
    tree.dispose(lm);
    disposeTree(v);
  });

  it("SFT and PPO losses send gradients into the encoder (LM + encoder are trained)", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 24, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 32, pos: "rope" };
    const img = 23;
    const ids = [1, ...Array(VL_IMAGE_TOKENS).fill(img), 2, 3, 4, 5];
    const T = ids.length - 1;
    const x = Int32Array.from(ids.slice(0, -1));
    const y = Int32Array.from(ids.slice(1));
    const im = [cardImage(cards([1, 3, 13, 6]))];
    const arr = () => {
      const [slots, patches] = imageBatch(x, 1, T, img, im);
      return { x: np.array(x, { dtype: np.int32 }).reshape([1, T]), y: np.array(y, { dtype: np.int32 }).reshape([1, T]), slots, patches };
    };
    const mask = Float32Array.from({ length: T }, (_, t) => (t >= T - 3 ? 1 : 0));
    const p: VLParams = { lm: initLM(cfg, 1), vis: initVision(cfg.dModel, 2, 8) };
    const a = arr();
    const g = grad((q: VLParams) => vlSftLoss(q, cfg, a.x, a.y, np.array(mask).reshape([1, T]), a.slots, a.patches))(refTree(p));
    const gw = (await g.vis.patch.w.ref.data()) as Float32Array;
    expect(gw.reduce((s, v) => s + Math.abs(v), 0)).toBeGreaterThan(0);
    disposeTree(g);
    const pp: PolicyParams = { lm: p.lm, value: initValueHead(cfg.dModel, 0), vis: p.vis };
    const b = arr();
    const last = new Float32Array(T);
    last[T - 4] = 1;
    const v1 = (xs: number[]) => np.array(Float32Array.from(xs));
    const gp = grad((q: PolicyParams) => ppoLoss(q, cfg, { clip: 0.1, valueLossCoef: 0.5, temperature: 1, ratioCap: 10 }, b.x, b.y, np.array(mask).reshape([1, T]), np.array(last).reshape([1, T]), v1([-3]), v1([0]), v1([1]), v1([1]), b.slots, b.patches)[0])(pp);
    const gpw = (await gp.vis!.patch.w.ref.data()) as Float32Array;
    expect(gpw.reduce((s, v) => s + Math.abs(v), 0)).toBeGreaterThan(0);
    disposeTree(gp);
  });
});

describe("GP-VL card recognition (§5.3)", () => {
  const answer = (cs: string[]) => `{\n  "cards": [${cs.map((c) => `'${c}'`).join(", ")}],\n  "number": [1, 3, 10, 6],\n  "formula": "10*3-6*1=24",\n}`;
  it("an answer recognises the cards when its cards list equals the shown hand as a multiset", () => {
    const hand = makeHand([1, 3, 13, 6], "id");
    expect(recognizesCards(hand, answer(["A", "3", "K", "6"]))).toBe(true);
    expect(recognizesCards(hand, answer(["K", "6", "A", "3"]))).toBe(true);
    expect(recognizesCards(hand, answer(["A", "3", "Q", "6"]))).toBe(false);
    expect(recognizesCards(hand, answer(["A", "3", "K"]))).toBe(false);
    expect(recognizesCards(hand, answer(["A", "3", "K", "6", "6"]))).toBe(false);
    expect(recognizesCards(hand, "no json here")).toBe(false);
  });
  it("counts first-answer recognition per split into the metrics row (visual OOD under `vis`)", () => {
    const env = new VisionGPEnv("id", 5);
    env.reset(5);
    const names = env.inner.currentHand.names;
    const wrong = names.map((n) => (n === "A" ? "2" : "A"));
    expect(gpVlAnswerTags(env, answer(names))).toContain("cards-recognized");
    expect(gpVlAnswerTags(env, answer(wrong))).not.toContain("cards-recognized");
    const res = (recognized: number, episodes: number): LMEvalResult => ({ episodes, successes: 1, successRate: 1 / episodes, stdErr: 0.1, meanReward: 0, perStepAccuracy: 0, gradedSteps: episodes, firstAnswerTags: { "cards-recognized": recognized, parsed: episodes }, records: [] });
    const row = gpVlEvalRow({ id: res(3, 4), ood: res(0, 4), "visual-ood": res(1, 8) });
    expect(row.idRecognition).toBe(0.75);
    expect(row.oodRecognition).toBe(0);
    expect(row.visRecognition).toBe(0.125);
    expect(row.visRecognitionStdErr).toBeCloseTo(Math.sqrt((0.125 * 0.875) / 8), 9);
    expect(row.visSuccess).toBe(0.125);
    expect(row.idParsed).toBe(1);
  });
});

describe("GP-VL in the presets", () => {
  it("quick stays GeneralPoints-language only (no vl section, GP phrases only); tiny and full add GP-VL", () => {
    expect(sftVsRlPresets.quick.envs).toEqual(["general-points"]);
    expect("vl" in sftVsRlPresets.quick).toBe(false);
    expect(phrasesFor(["general-points"])).toEqual([...GP_PHRASES]);
    expect(sftVsRlPresets.tiny.envs).toContain("general-points-vl");
    expect(sftVsRlPresets.full.envs).toContain("general-points-vl");
    // Navigation's phrases keep their ids when GP-VL is added (its phrases are appended at the end).
    const nav = phrasesFor(["general-points", "navigation"]);
    expect(phrasesFor(["general-points", "navigation", "general-points-vl"]).slice(0, nav.length)).toEqual(nav);
    const spec = gpVlSpec(sftVsRlPresets.tiny);
    expect(spec.splits).toEqual(["id", "ood", "visual-ood"]);
    expect(spec.arm("ppo")).toBe("vl-ppo");
  });
});
