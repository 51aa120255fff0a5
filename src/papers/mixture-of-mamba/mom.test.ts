import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { np, grad, jit, tree, initEngine, type Array } from "../../engine/index.js";
import { defaultMambaLMConfig, type MambaLMConfig } from "../../nn/mamba.js";
import { paramCount } from "../../nn/transformer.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext, runExperiment } from "../../train/experiment.js";
import { parseVerdicts } from "../../train/claims.js";
import { validateConfig } from "../../train/config.js";
import { Rng } from "../../util/rng.js";
import { initMoMLM, momForward, routedLinear, SPLIT_ALL, SPLIT_NONE, type RoutingArrays } from "./model.js";
import { IMAGE, TEXT, TOKENS_PER_IMAGE, kMeans, makeDocument, routingFor, vqDistortion, vocabFor } from "./data.js";
import { matchTable, smooth, stepsSaved, stepsToReach } from "./metric.js";
import { unigramLoss } from "./baselines.js";
import { momPresets, momSchema } from "./config.js";
import { mixtureOfMambaExperiment } from "./index.js";

beforeAll(async () => {
  await initEngine();
});

const read = async (x: Array) => Float64Array.from(await x.data());

function routingArrays(modality: number[], K = 2): RoutingArrays {
  const r = routingFor(Int32Array.from(modality), K);
  return { perm: np.array(r.perm, { dtype: np.int32 }), inv: np.array(r.inv, { dtype: np.int32 }), counts: r.counts };
}

describe("modality-routed linear", () => {
  const [B, T, dIn, dOut] = [2, 5, 3, 4];
  const modality = [0, 1, 1, 0, 0, 1, 0, 1, 1, 1];
  const rng = new Rng(1);
  const xs = Float32Array.from({ length: B * T * dIn }, () => rng.normal());
  const ws = Float32Array.from({ length: 2 * dIn * dOut }, () => rng.normal());
  const bs = Float32Array.from({ length: 2 * dOut }, () => rng.normal());
  const params = () => ({ w: np.array(ws).reshape([2, dIn, dOut]), b: np.array(bs).reshape([2, dOut]) });
  const x = () => np.array(xs).reshape([B, T, dIn]);

  it("sends every token through its own modality's weights", async () => {
    const r = routingArrays(modality);
    const y = await read(routedLinear(params(), x(), r));
    for (let i = 0; i < B * T; i++) {
      const m = modality[i];
      for (let o = 0; o < dOut; o++) {
        let want = bs[m * dOut + o];
        for (let j = 0; j < dIn; j++) want += xs[i * dIn + j] * ws[(m * dIn + j) * dOut + o];
        expect(y[i * dOut + o]).toBeCloseTo(want, 4);
      }
    }
    tree.dispose([r.perm, r.inv]);
  });

  for (const mode of ["eager", "jit"] as const) {
    it(`a token's loss has zero gradient on the other modality's expert (${mode})`, async () => {
      for (const m of [TEXT, IMAGE]) {
        // Loss over the tokens of modality m only.
        const sel = np.array(Float32Array.from({ length: B * T * dOut }, (_, i) => (modality[Math.floor(i / dOut)] === m ? Math.sin(i) + 2 : 0))).reshape([B, T, dOut]);
        const f = (p: { w: Array; b: Array }, xx: Array, perm: Array, inv: Array, s: Array) => {
          const y = routedLinear(p, xx, { perm: perm.ref, inv: inv.ref, counts: routingFor(Int32Array.from(modality), 2).counts });
          perm.dispose();
          inv.dispose();
          return np.square(y).mul(s).sum();
        };
        const r = routingArrays(modality);
        const g = (mode === "jit" ? jit(grad(f)) : grad(f))(params(), x(), r.perm, r.inv, sel) as { w: Array; b: Array };
        const gw = await read(g.w);
        const gb = await read(g.b);
        const other = 1 - m;
        const block = (a: Float64Array, k: number, size: number) => Array.from(a.slice(k * size, (k + 1) * size));
        expect(block(gw, other, dIn * dOut).every((v) => v === 0)).toBe(true);
        expect(block(gb, other, dOut).every((v) => v === 0)).toBe(true);
        expect(block(gw, m, dIn * dOut).some((v) => Math.abs(v) > 1e-3)).toBe(true);
      }
    });
  }
});

describe("Mixture-of-Mamba parameters and forward", () => {
  const cfg: MambaLMConfig = { ...defaultMambaLMConfig, vocabSize: 20, dModel: 8, nLayers: 1, blocksPerLayer: 2, dState: 4, scanChunk: 4 };

  it("expert 0 is the dense model's draw; conv, A_log and D stay shared; only split projections grow", async () => {
    const dense = initMoMLM(cfg, SPLIT_NONE, 2, 3);
    const mom = initMoMLM(cfg, SPLIT_ALL, 2, 3);
    const onlyIn = initMoMLM(cfg, { ...SPLIT_NONE, in: true }, 2, 3);
    const projections = (p: typeof dense) => p.blocks.reduce((a, b) => a + paramCount([b.mixer.inProj, b.mixer.xProj, b.mixer.dtProj, b.mixer.outProj]), 0);
    expect(paramCount(mom) - paramCount(dense)).toBe(projections(dense));
    expect(paramCount(onlyIn) - paramCount(dense)).toBe(paramCount(dense.blocks.map((b) => b.mixer.inProj)));
    const d0 = dense.blocks[1].mixer;
    const m0 = mom.blocks[1].mixer;
    expect(m0.inProj.w.shape).toEqual([2, ...d0.inProj.w.shape]);
    expect(m0.dtProj.b!.shape).toEqual([2, d0.dtProj.b!.shape[0]]);
    expect(m0.conv.w.shape).toEqual(d0.conv.w.shape);
    const same = async (a: Array, b: Array) => expect(Array.from(await read(a))).toEqual(Array.from(await read(b)));
    await same(m0.dtProj.b!.ref.slice(0), d0.dtProj.b!.ref);
    await same(m0.outProj.w.ref.slice(0), d0.outProj.w.ref);
    await same(m0.conv.w.ref, d0.conv.w.ref);
    await same(m0.A_log.ref, d0.A_log.ref);
    const b1 = await read(m0.dtProj.b!.ref.slice(1));
    const b0 = await read(m0.dtProj.b!.ref.slice(0));
    expect(b1.some((v, i) => v !== b0[i])).toBe(true); // dt init drawn per modality
    tree.dispose([dense, mom, onlyIn]);
  });

  it("with every token routed to expert 0, MoM computes exactly the dense model", async () => {
    const tokens = Int32Array.from({ length: 2 * 9 }, (_, i) => (i * 7) % 20);
    const tok = () => np.array(tokens, { dtype: np.int32 }).reshape([2, 9]);
    const dense = await read(momForward(initMoMLM(cfg, SPLIT_NONE, 2, 5), cfg, tok(), SPLIT_NONE, null));
    const r = routingArrays(new Array(18).fill(TEXT));
    const mom = await read(momForward(initMoMLM(cfg, SPLIT_ALL, 2, 5), cfg, tok(), SPLIT_ALL, r));
    expect(Math.max(...mom.map((v, i) => Math.abs(v - dense[i])))).toBeLessThan(1e-5);
    tree.dispose([r.perm, r.inv]);
  });

  it("routing changes the output only where a token is an image", async () => {
    const tokens = Int32Array.from({ length: 12 }, (_, i) => (i * 3) % 20);
    const tok = () => np.array(tokens, { dtype: np.int32 }).reshape([1, 12]);
    const modality = [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0];
    const allText = routingArrays(new Array(12).fill(TEXT));
    const mixed = routingArrays(modality);
    const a = await read(momForward(initMoMLM(cfg, SPLIT_ALL, 2, 7), cfg, tok(), SPLIT_ALL, allText));
    const b = await read(momForward(initMoMLM(cfg, SPLIT_ALL, 2, 7), cfg, tok(), SPLIT_ALL, mixed));
    const V = 20;
    const diff = (t: number) => Math.max(...Array.from({ length: V }, (_, v) => Math.abs(a[t * V + v] - b[t * V + v])));
    for (let t = 0; t < 5; t++) expect(diff(t)).toBe(0); // causal: earlier positions are untouched
    for (let t = 5; t < 12; t++) expect(diff(t)).toBeGreaterThan(1e-6); // the state carries the image experts' effect onwards
    tree.dispose([allText.perm, allText.inv, mixed.perm, mixed.inv]);
  });
});

describe("interleaved data", () => {
  it("routing permutation groups positions by modality and its inverse undoes it", () => {
    const m = Int32Array.from([1, 0, 1, 1, 0, 0, 1]);
    const r = routingFor(m, 2);
    expect(r.counts).toEqual([3, 4]);
    expect(Array.from(r.perm)).toEqual([1, 4, 5, 0, 2, 3, 6]);
    for (let i = 0; i < m.length; i++) expect(r.perm[r.inv[i]]).toBe(i);
    expect(() => routingFor(Int32Array.from([0, 2]), 2)).toThrow(/modality id 2 outside 0..1/);
  });

  it("documents hold a fixed number of images, each <boi> 49 codes <eoi>, with modality ids", () => {
    const vocab = vocabFor(8);
    const data = {
      vocab,
      text: { train: Int32Array.from({ length: 500 }, (_, i) => 97 + (i % 26)), val: new Int32Array(0) },
      imageCodes: { train: [Int32Array.from({ length: TOKENS_PER_IMAGE }, (_, i) => i % 8)], val: [] },
    };
    const rng = new Rng(2);
    for (let k = 0; k < 20; k++) {
      const d = makeDocument(data, "train", 120, 2, rng);
      expect(d.tokens.length).toBe(121);
      let img = 0;
      for (let i = 0; i < 121; i++) {
        const isCode = d.tokens[i] >= vocab.codeBase && d.tokens[i] < vocab.boi;
        expect(d.modality[i]).toBe(isCode ? IMAGE : TEXT);
        if (isCode) img++;
        if (d.tokens[i] === vocab.boi) {
          expect(d.tokens[i + TOKENS_PER_IMAGE + 1]).toBe(vocab.eoi);
          for (let j = 1; j <= TOKENS_PER_IMAGE; j++) expect(d.modality[i + j]).toBe(IMAGE);
        }
      }
      expect(img).toBe(2 * TOKENS_PER_IMAGE);
      expect(d.modality[120]).toBe(TEXT); // last token is text: every input window has all the codes
    }
    expect(() => makeDocument(data, "train", 90, 2, rng)).toThrow(/contextLength 90 is too short/);
  });

  it("k-means codebook is deterministic and beats a codebook of random points", () => {
    const rng = new Rng(3);
    // Three blobs in 4-D.
    const centers = [
      [0, 0, 0, 0],
      [1, 1, 0, 0],
      [0, 0, 1, 1],
    ];
    const x = new Float32Array(300 * 4);
    for (let i = 0; i < 300; i++) for (let d = 0; d < 4; d++) x[i * 4 + d] = centers[i % 3][d] + 0.05 * rng.normal();
    const a = kMeans(x, 4, 3, 10, new Rng(9));
    const b = kMeans(x, 4, 3, 10, new Rng(9));
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    expect(vqDistortion(a, x)).toBeLessThan(0.003); // ≈ noise variance 0.0025
    const random = { K: 3, dim: 4, centroids: x.slice(0, 4 * 3).map((v, i) => v + (i % 2) * 0.5) };
    expect(vqDistortion(random, x)).toBeGreaterThan(2 * vqDistortion(a, x));
  });
});

describe("metric", () => {
  it("smooths with a trailing window and finds the first step at the target", () => {
    expect(smooth([4, 2, 6, 0], 2)).toEqual([4, 3, 4, 3]);
    expect(stepsToReach([5, 4, 3, 2, 1], 3, 5)).toEqual({ step: 3, pct: 60 });
    expect(stepsToReach([5, 4], 3, 2)).toEqual({ step: null, pct: null });
  });

  it("match rows measure the saving of a faster arm and the deficit of a slower one", () => {
    const curves = {
      dense: { loss: [5, 4, 3, 2], textLoss: [5, 4, 3, 2], imageLoss: [5, 4, 3, 2] },
      fast: { loss: [4, 2, 1, 1], textLoss: [5, 4, 3, 2], imageLoss: [4, 2, 1, 1] },
      slow: { loss: [5, 5, 4, 4], textLoss: [5, 5, 4, 4], imageLoss: [5, 5, 4, 4] },
    };
    const rows = matchTable(curves, 4, 7);
    const row = (arm: string, m: string) => rows.find((r) => r.arm === arm && r.modality === m)!;
    expect(row("fast", "image")).toMatchObject({ seed: 7, refSeed: 7, denseFinal: 2, step: 2, pct: 50, reverseStep: null });
    expect(stepsSaved(row("fast", "image"))).toBe(50);
    expect(stepsSaved(row("fast", "text"))).toBe(0); // reaches it at the last step: no saving
    expect(row("slow", "image")).toMatchObject({ step: null, pct: null, reverseStep: 2, reversePct: 50 });
    expect(stepsSaved(row("slow", "image"))).toBe(-50);
  });

  it("unigram baseline: the held-out entropy under smoothed training frequencies", () => {
    const train = Int32Array.from([0, 0, 0, 1]);
    const val = Int32Array.from([0, 1]);
    const want = -(Math.log((3 + 0.001) / (4 + 0.002)) + Math.log((1 + 0.001) / (4 + 0.002))) / 2;
    expect(unigramLoss(train, val, 2, [0.001])).toBeCloseTo(want, 12);
  });

  it("the config schema names a bad field and requires the dense arm", () => {
    expect(() => validateConfig(momSchema, { ...momPresets.tiny, arms: ["mom-all"] })).toThrow(/arms/);
    expect(() => validateConfig(momSchema, { ...momPresets.tiny, model: { ...momPresets.tiny.model, scanChunk: 0 } })).toThrow(/model.scanChunk/);
  });
});

describe("tiny preset end to end", () => {
  it("trains every arm; the runner writes summary, verdicts, results.md and report.html", async () => {
    const root = mkdtempSync(join(tmpdir(), "mom-"));
    try {
      const cfg = momPresets.tiny;
      const run = createRun({ experiment: "mixture-of-mamba", seed: cfg.seed, config: cfg, root, extraMeta: { preset: "tiny" } });
      const out = await runExperiment(mixtureOfMambaExperiment, cfg, quietContext(run));
      const s = out.summary!;
      expect(out.status).toBe("completed");
      expect(s.arms.map((a) => a.arm)).toEqual(["dense", "mom-all", "transformer"]);
      for (const a of s.arms) {
        expect(a.steps).toBe(cfg.train.steps);
        expect(a.seed).toBe(cfg.seed);
        expect(Number.isFinite(a.valImage) && Number.isFinite(a.valText)).toBe(true);
        expect(a.finalImage).toBeLessThan(Math.log(vocabFor(cfg.data.codebookSize).size)); // learned something
      }
      expect(s.baselines.text.bigram).toBeLessThan(s.baselines.text.unigram);
      expect(s.baselines.image.bigram).toBeLessThan(s.baselines.image.unigram);
      const momRow = s.arms.find((a) => a.arm === "mom-all")!;
      const denseRow = s.arms.find((a) => a.arm === "dense")!;
      expect(momRow.params).toBeGreaterThan(denseRow.params);
      expect(s.match.filter((r) => r.arm === "mom-all").map((r) => r.modality).sort()).toEqual(["image", "text", "total"]);
      for (const f of ["results.md", "report.html", "report.md", "summary.json", "verdicts.json", "samples/vq-digits.png"]) expect(existsSync(join(run.dir, f)), f).toBe(true);
      const v = parseVerdicts(JSON.parse(readFileSync(join(run.dir, "verdicts.json"), "utf8")));
      expect(v.smokeTest).toBe(true);
      expect(v.claims.map((c) => c.id)).toEqual(["image-steps", "text-steps", "image-gains-more", "beyond-params", "joint-split"]);
      const md = readFileSync(join(run.dir, "results.md"), "utf8");
      expect(md).toContain("42.5%");
      expect(md).toMatch(/\| image \| 42\.5% \|/);
      expect(md).toContain("smoke test");
      const rows = readFileSync(join(run.dir, "arms", "mom-all", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
      expect(rows.length).toBe(cfg.train.steps);
      expect(rows.every((r) => Number.isFinite(r.textLoss) && Number.isFinite(r.imageLoss))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
