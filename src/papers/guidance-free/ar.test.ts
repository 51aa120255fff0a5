import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, jit, valueAndGrad, np, tree, type Array } from "../../engine/index.js";
import { defaultLMConfig, initKVCache } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import { addARBeta, arCfgLoss, arDecodeStep, arGftLoss, arInputs, arLogits, initAR, sampleAR, type ARConfig, type ARParams } from "./ar.js";

beforeAll(async () => {
  await initEngine();
});

const T = 6;
const cfg: ARConfig = { lm: { ...defaultLMConfig, vocabSize: 3, dModel: 16, nLayers: 1, nHeads: 2, contextLength: T }, numClasses: 2, freqDim: 8 };
const read = async (a: Array) => globalThis.Array.from((await a.data()) as Float32Array);
const boosted = (p: ARParams): ARParams => tree.map((a: Array) => a.mul(5), p as never) as ARParams;

const B = 4;
const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 1) % 3);
const labels = [0, 1, 2, 1];
const betas = [0.25, 0.6, 1, 0.9];

function logSoftmaxRow(l: number[]): number[] {
  const m = Math.max(...l);
  const z = Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
  return l.map((v) => v - z);
}

describe("autoregressive GFT", () => {
  it("the AR GFT loss is the cross-entropy of β·ℓ_s + (1−β)·ℓ_u (plain-JS reference)", async () => {
    const p = boosted(initAR(cfg, 1, true));
    const V = cfg.lm.vocabSize;
    const a = arInputs(tokens, B, T);
    const ls = await read(arLogits(tree.ref(p), cfg, a.inTokens.ref, np.array(labels, { dtype: np.int32 }), np.array(betas)));
    const lu = await read(arLogits(tree.ref(p), cfg, a.inTokens.ref, np.full([B], cfg.numClasses, { dtype: np.int32 }), np.ones([B])));
    let ref = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const o = (b * T + t) * V;
        const mixed = globalThis.Array.from({ length: V }, (_, v) => betas[b] * ls[o + v] + (1 - betas[b]) * lu[o + v]);
        ref -= logSoftmaxRow(mixed)[tokens[b * T + t]];
      }
    }
    ref /= B * T;
    const got = (await read(arGftLoss(tree.ref(p), cfg, a.inTokens, a.targets, np.array(labels, { dtype: np.int32 }), np.array(betas))))[0];
    expect(got).toBeCloseTo(ref, 4);
    // With β = 1 everywhere it is the sampling model's own conditional cross-entropy.
    const b1 = arInputs(tokens, B, T);
    const ce1 = (await read(arGftLoss(tree.ref(p), cfg, b1.inTokens, b1.targets, np.array(labels, { dtype: np.int32 }), np.ones([B]))))[0];
    let refCond = 0;
    const lc = await read(arLogits(tree.ref(p), cfg, arInputs(tokens, B, T).inTokens, np.array(labels, { dtype: np.int32 }), np.ones([B])));
    for (let i = 0; i < B * T; i++) refCond -= logSoftmaxRow(lc.slice(i * V, (i + 1) * V))[tokens[i]];
    expect(ce1).toBeCloseTo(refCond / (B * T), 4);
    tree.dispose(p);
  });

  it("no gradient reaches the null class through the unconditional logits; the ablation lets it through", async () => {
    const p = boosted(initAR(cfg, 2, true));
    const nullRow = async (stop: boolean) => {
      const a = arInputs(tokens, B, T);
      const f = jit((pp: ARParams, inT: Array, tg: Array, y: Array, be: Array) => valueAndGrad((q: ARParams) => arGftLoss(q, cfg, inT, tg, y, be, { stopGradient: stop }))(pp));
      const [v, g] = f(tree.ref(p), a.inTokens, a.targets, np.array([0, 1, 0, 1], { dtype: np.int32 }), np.array([0.3, 0.5, 0.7, 0.2])) as [Array, ARParams];
      v.dispose();
      const table = await read(g.classEmb.table.ref);
      tree.dispose(g);
      return table.slice(cfg.numClasses * cfg.lm.dModel).reduce((s, x) => s + Math.abs(x), 0);
    };
    expect(await nullRow(true)).toBe(0);
    expect(await nullRow(false)).toBeGreaterThan(1e-6);
    tree.dispose(p);
  });

  it("KV-cached decoding gives the full forward's logits at every position", async () => {
    const p = boosted(initAR(cfg, 3, true));
    const V = cfg.lm.vocabSize;
    const y = [0, 1, 2, 0];
    const beta = [0.5, 1, 1, 0.3];
    const full = await read(arLogits(tree.ref(p), cfg, arInputs(tokens, B, T).inTokens, np.array(y, { dtype: np.int32 }), np.array(beta)));
    let cache = initKVCache(cfg.lm, B);
    const step = jit((pp: ARParams, prev: Array, yy: Array, bb: Array, pos: Array, first: Array, valid: Array, c: typeof cache) => arDecodeStep(pp, cfg, prev, yy, bb, pos, first, valid, c) as never);
    for (let i = 0; i < T; i++) {
      const prev = Int32Array.from({ length: B }, (_, b) => (i === 0 ? 0 : tokens[b * T + i - 1]));
      const r = step(tree.ref(p), np.array(prev, { dtype: np.int32 }), np.array(y, { dtype: np.int32 }), np.array(beta), np.array(i, { dtype: np.int32 }), np.array(i === 0 ? 1 : 0), np.ones([B, T]), cache) as { logits: Array; cache: typeof cache };
      cache = r.cache;
      const l = await read(r.logits);
      for (let b = 0; b < B; b++) for (let v = 0; v < V; v++) expect(l[b * V + v]).toBeCloseTo(full[(b * T + i) * V + v], 3);
    }
    tree.dispose(cache);
    tree.dispose(p);
  });

  it("CFG on logits at w = 1 and GFT at β = 1 sample exactly like the conditional model; w = 3 differs", async () => {
    const lab = Int32Array.from([0, 1, 0, 1, 1]);
    const pc = boosted(initAR(cfg, 4, false));
    const cond = await sampleAR(pc, cfg, { labels: lab, guidance: { kind: "cond" }, rng: new Rng(5) });
    const w1 = await sampleAR(pc, cfg, { labels: lab, guidance: { kind: "cfg", w: 1 }, rng: new Rng(5) });
    expect(globalThis.Array.from(w1.tokens)).toEqual(globalThis.Array.from(cond.tokens));
    expect(w1.nfe).toBe(2 * T);
    expect(cond.nfe).toBe(T);
    const w3 = await sampleAR(pc, cfg, { labels: Int32Array.from({ length: 40 }, (_, i) => i % 2), guidance: { kind: "cfg", w: 3 }, rng: new Rng(5) });
    const c40 = await sampleAR(pc, cfg, { labels: Int32Array.from({ length: 40 }, (_, i) => i % 2), guidance: { kind: "cond" }, rng: new Rng(5) });
    expect(globalThis.Array.from(w3.tokens)).not.toEqual(globalThis.Array.from(c40.tokens));
    const pg = boosted(initAR(cfg, 4, true));
    const g1 = await sampleAR(pg, cfg, { labels: lab, guidance: { kind: "gft", beta: 1 }, rng: new Rng(6) });
    const c1 = await sampleAR(pg, cfg, { labels: lab, guidance: { kind: "cond" }, rng: new Rng(6) });
    expect(globalThis.Array.from(g1.tokens)).toEqual(globalThis.Array.from(c1.tokens));
    tree.dispose(pc);
    tree.dispose(pg);
  });

  it("fine-tuning starts from the CFG model: the added β embedder outputs zero", async () => {
    const pc = boosted(initAR(cfg, 7, false));
    const pf = addARBeta(tree.ref(pc), cfg, 7);
    const a = await read(arLogits(pc, cfg, arInputs(tokens, B, T).inTokens, np.array(labels, { dtype: np.int32 }), null));
    const b = await read(arLogits(pf, cfg, arInputs(tokens, B, T).inTokens, np.array(labels, { dtype: np.int32 }), np.array(betas)));
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 5));
  });

  it("the CFG loss is the conditional cross-entropy (β ignored)", async () => {
    const p = initAR(cfg, 8, false);
    const a = arInputs(tokens, B, T);
    const x = (await read(arCfgLoss(tree.ref(p), cfg, a.inTokens, a.targets, np.array(labels, { dtype: np.int32 }), np.array(betas))))[0];
    const b = arInputs(tokens, B, T);
    const yv = (await read(arCfgLoss(tree.ref(p), cfg, b.inTokens, b.targets, np.array(labels, { dtype: np.int32 }), np.ones([B]))))[0];
    expect(x).toBeCloseTo(yv, 6);
    expect(x).toBeGreaterThan(0.5); // ≈ ln 3 for a near-uniform fresh model
    tree.dispose(p);
  });
});
