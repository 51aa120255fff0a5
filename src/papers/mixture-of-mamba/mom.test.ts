import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { np, grad, jit, tree, initEngine, type Array } from "../../engine/index.js";
import { defaultMambaLMConfig, type MambaLMConfig, type MambaLMParams } from "../../nn/mamba.js";
import { paramCount } from "../../nn/transformer.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext, runExperiment } from "../../train/experiment.js";
import { parseVerdicts } from "../../train/claims.js";
import { validateConfig } from "../../train/config.js";
import { Rng } from "../../util/rng.js";
import { initMoMLM, momForward, routedLinear, SPLIT_ALL, SPLIT_NONE, type RoutingArrays } from "./model.js";
import { IMAGE, TEXT, TOKENS_PER_IMAGE, kMeans, makeDocument, routingFor, shuffledModality, vqDistortion, vocabFor } from "./data.js";
import { ARM_SPLITS, SHUFFLE_STREAM, initArm } from "./experiment.js";
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

  it("mom-shuffled holds exactly mom-all's parameters (the same experts, the same init)", async () => {
    const cfg = momPresets.tiny;
    const V = vocabFor(cfg.data.codebookSize).size;
    const all = initArm("mom-all", cfg, V);
    const shuffled = initArm("mom-shuffled", cfg, V);
    const dense = initArm("dense", cfg, V);
    expect(ARM_SPLITS["mom-shuffled"]).toEqual(ARM_SPLITS["mom-all"]);
    expect(paramCount(shuffled)).toBe(paramCount(all));
    expect(paramCount(shuffled)).toBeGreaterThan(paramCount(dense));
    const a = await read((all as MambaLMParams).blocks[0].mixer.inProj.w.ref);
    const b = await read((shuffled as MambaLMParams).blocks[0].mixer.inProj.w.ref);
    expect(Array.from(a)).toEqual(Array.from(b));
    tree.dispose([all, shuffled, dense]);
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

  it("mom-shuffled's routing ids keep every modality's count but no longer follow the tokens", () => {
    const m = Int32Array.from({ length: 8 * 112 }, (_, i) => (i % 112 >= 30 && i % 112 < 79 ? IMAGE : TEXT));
    const a = shuffledModality(m, Rng.stream(0, SHUFFLE_STREAM));
    const b = shuffledModality(m, Rng.stream(0, SHUFFLE_STREAM));
    expect(Array.from(a)).toEqual(Array.from(b)); // one named stream: the same ids every time
    expect(routingFor(a, 2).counts).toEqual(routingFor(m, 2).counts);
    const moved = a.filter((v, i) => v !== m[i]).length / m.length;
    const p = 49 / 112;
    expect(moved).toBeGreaterThan(0.8 * 2 * p * (1 - p)); // an independent draw differs at about 2p(1-p) of the positions
    expect(moved).toBeLessThan(1.2 * 2 * p * (1 - p));
    // Redrawn for every batch: the next draw of the stream routes differently.
    const rng = Rng.stream(0, SHUFFLE_STREAM);
    const first = shuffledModality(m, rng);
    const second = shuffledModality(m, rng);
    expect(first.some((v, i) => v !== second[i])).toBe(true);
    expect(routingFor(second, 2).counts).toEqual(routingFor(m, 2).counts);
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
    const same = (xs: number[]) => ({ loss: xs, textLoss: xs, imageLoss: xs });
    const runs = [
      { arm: "dense", seed: 7, curves: same([5, 4, 3, 2]) },
      { arm: "fast", seed: 7, curves: { loss: [4, 2, 1, 1], textLoss: [5, 4, 3, 2], imageLoss: [4, 2, 1, 1] } },
      { arm: "slow", seed: 7, curves: same([5, 5, 4, 4]) },
    ];
    const rows = matchTable(runs, 4, [1]);
    const row = (arm: string, m: string) => rows.find((r) => r.arm === arm && r.modality === m)!;
    expect(rows.every((r) => r.horizon === 1)).toBe(true);
    expect(row("fast", "image")).toMatchObject({ seed: 7, refSeed: 7, denseFinal: 2, step: 2, pct: 50, reverseStep: null });
    expect(stepsSaved(row("fast", "image"))).toBe(50);
    expect(stepsSaved(row("fast", "text"))).toBe(0); // reaches it at the last step: no saving
    expect(row("slow", "image")).toMatchObject({ step: null, pct: null, reverseStep: 2, reversePct: 50 });
    expect(stepsSaved(row("slow", "image"))).toBe(-50);
  });

  it("reads every horizon; each seed against its own dense seed; dense seeds against each other", () => {
    const same = (xs: number[]) => ({ loss: xs, textLoss: xs, imageLoss: xs });
    const runs = [
      { arm: "dense", seed: 0, curves: same([8, 6, 4, 3, 2, 1]) },
      { arm: "dense", seed: 1, curves: same([8, 7, 5, 4, 3, 2]) },
      { arm: "mom-all", seed: 0, curves: same([7, 4, 3, 2, 1, 0.5]) },
      { arm: "mom-all", seed: 1, curves: same([8, 6, 4, 3, 2, 1]) },
      { arm: "mom-shuffled", seed: 0, curves: same([8, 6, 4, 3, 2, 1]) },
    ];
    const rows = matchTable(runs, 6).filter((r) => r.modality === "total");
    const at = (arm: string, seed: number, h: number, refSeed?: number) => rows.find((r) => r.arm === arm && r.seed === seed && r.horizon === h && (refSeed === undefined || r.refSeed === refSeed))!;
    // End: mom-all seed 0 reaches dense seed 0's final 1 at step 5 of 6; seed 1 reaches dense seed 1's 2 at step 5.
    expect(at("mom-all", 0, 1)).toMatchObject({ refSeed: 0, step: 5 });
    expect(at("mom-all", 1, 1)).toMatchObject({ refSeed: 1, step: 5 });
    expect(at("mom-shuffled", 0, 1)).toMatchObject({ refSeed: 0, step: 6, pct: 100 });
    // Half-way (3 steps): dense seed 0 is at 4 there; mom-all seed 0 reaches 4 at step 2 of 3.
    expect(at("mom-all", 0, 0.5)).toMatchObject({ denseFinal: 4, step: 2 });
    expect(at("mom-all", 0, 0.5).pct).toBeCloseTo(200 / 3, 10);
    // Dense replicates, both ways: seed 1 ends above seed 0 (dense 0 reaches 2 at step 5), seed 0 below seed 1.
    expect(at("dense", 1, 1, 0)).toMatchObject({ pct: null, reverseStep: 5 });
    expect(stepsSaved(at("dense", 1, 1, 0))).toBeCloseTo(-100 / 6, 10);
    expect(stepsSaved(at("dense", 0, 1, 1))).toBeCloseTo(100 / 6, 10);
    expect(rows.filter((r) => r.arm === "dense" && r.seed === r.refSeed)).toEqual([]);
    expect(() => matchTable(runs.slice(2), 6)).toThrow(/no dense run/);
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
      // The claims' arms first (the dense floor seed among them), then the reference line.
      expect(s.arms.map((a) => `${a.arm}@${a.seed}`)).toEqual(["dense@0", "mom-all@0", "mom-shuffled@0", "dense@1", "transformer@0"]);
      expect(existsSync(join(run.dir, "arms", "dense-s1", "metrics.jsonl"))).toBe(true);
      for (const a of s.arms) {
        expect(a.steps).toBe(cfg.train.steps);
        expect(Number.isFinite(a.valImage) && Number.isFinite(a.valText)).toBe(true);
        expect(a.valTextSE).toBeGreaterThan(0); // over evalBatches = 2 held-out batches
        expect(a.finalImage).toBeLessThan(Math.log(vocabFor(cfg.data.codebookSize).size)); // learned something
      }
      expect(s.baselines.text.bigram).toBeLessThan(s.baselines.text.unigram);
      expect(s.baselines.image.bigram).toBeLessThan(s.baselines.image.unigram);
      const momRow = s.arms.find((a) => a.arm === "mom-all")!;
      const denseRow = s.arms.find((a) => a.arm === "dense")!;
      expect(momRow.params).toBeGreaterThan(denseRow.params);
      expect(s.arms.find((a) => a.arm === "mom-shuffled")!.params).toBe(momRow.params);
      expect(s.match.filter((r) => r.arm === "mom-all" && r.horizon === 1).map((r) => r.modality).sort()).toEqual(["image", "text", "total"]);
      expect(s.match.filter((r) => r.arm === "dense").map((r) => `${r.seed}-${r.refSeed}-${r.horizon}`).sort()).toEqual([
        ...Array(3).fill("0-1-0.5"),
        ...Array(3).fill("0-1-1"),
        ...Array(3).fill("1-0-0.5"),
        ...Array(3).fill("1-0-1"),
      ]);
      // Same data order, different routing: the control's first losses differ from mom-all's.
      const first = (a: string) => JSON.parse(readFileSync(join(run.dir, "arms", a, "metrics.jsonl"), "utf8").split("\n")[0]) as Record<string, number>;
      expect(first("mom-shuffled").loss).not.toBe(first("mom-all").loss);
      for (const f of ["results.md", "report.html", "report.md", "summary.json", "verdicts.json", "samples/vq-digits.png"]) expect(existsSync(join(run.dir, f)), f).toBe(true);
      const v = parseVerdicts(JSON.parse(readFileSync(join(run.dir, "verdicts.json"), "utf8")));
      expect(v.smokeTest).toBe(true);
      expect(v.claims.map((c) => c.id)).toEqual(["image-steps", "text-steps", "image-gains-more", "beyond-params", "joint-split"]);
      const md = readFileSync(join(run.dir, "results.md"), "utf8");
      expect(md).toContain("42.5%");
      expect(md).toMatch(/\| paper: Mixture-of-Mamba, Chameleon 1\.4B \| end \| 42\.5% \| 65\.4% \|/);
      expect(md).toMatch(/\| dense seed floor \| end \| ±/);
      expect(md).toContain("smoke test");
      const rows = readFileSync(join(run.dir, "arms", "mom-all", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
      expect(rows.length).toBe(cfg.train.steps);
      expect(rows.every((r) => Number.isFinite(r.textLoss) && Number.isFinite(r.imageLoss))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
