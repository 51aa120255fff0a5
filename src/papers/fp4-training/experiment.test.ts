import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine, np, jit, tree, valueAndGrad, crossEntropy, type Array } from "../../engine/index.js";
import { initLM, lmForward, defaultLMConfig, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { fp4LinearFn } from "./model.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext, runExperiment } from "../../train/experiment.js";
import { parseVerdicts } from "../../train/claims.js";
import { pickPreset, validateConfig } from "../../train/config.js";
import { bigramLoss } from "../../lm/bigram.js";
import { ARM_NAMES, armLinearConfig, fp4TrainingPresets, fp4TrainingSchema, type FP4TrainingConfig } from "./config.js";
import { loadData, runFP4Training } from "./experiment.js";
import { fp4TrainingExperiment } from "./index.js";
import type { FP4TrainingSummary } from "./summary.js";
import { parseQuantizeLine, quantizeRequest, shortF32 } from "../../cli/fp4-training-commands.js";

beforeAll(async () => {
  await initEngine();
});

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

describe("config and arms", () => {
  it("every preset validates, and every arm has a linear config", () => {
    for (const name of ["tiny", "quick", "full"] as const) validateConfig(fp4TrainingSchema, pickPreset(fp4TrainingPresets, name));
    expect(armLinearConfig("fp32", fp4TrainingPresets.quick.fp4)).toBeNull();
    for (const a of ARM_NAMES.filter((n) => n !== "fp32")) expect(armLinearConfig(a, fp4TrainingPresets.quick.fp4)).not.toBeNull();
    const ours = armLinearConfig("w4a4-dge-occ", fp4TrainingPresets.quick.fp4)!;
    expect(ours.weight).toMatchObject({ format: "e2m1", granularity: "channel", estimator: "dge", k: 5, cap: 3 });
    expect(ours.activation).toMatchObject({ format: "e2m1", granularity: "token", occ: "compensate", quantile: 0.99 });
    expect(armLinearConfig("w4a4-direct", fp4TrainingPresets.quick.fp4)).toMatchObject({ weight: { estimator: "ste" }, activation: { occ: "none" } });
    expect(() => validateConfig(fp4TrainingSchema, { ...fp4TrainingPresets.tiny, arms: ["w2a2"] })).toThrow(/arms\.0/);
    expect(() => validateConfig(fp4TrainingSchema, { ...fp4TrainingPresets.tiny, fp4: { ...fp4TrainingPresets.tiny.fp4, quantile: 0.3 } })).toThrow(/fp4\.quantile/);
  });
});

describe("the experiment, tiny preset", () => {
  it("runs the four main arms, fp32 again for the floor, the mechanism arms, the bigram and both Table 1 analogues through the runner, writes verdicts and the report, and keeps finished arms on a rerun", async () => {
    const root = tmp("tf-fp4-");
    const cfg = pickPreset(fp4TrainingPresets, "tiny") as FP4TrainingConfig;
    const run = createRun({ experiment: "fp4-training", seed: cfg.seed, config: cfg, root, extraMeta: { preset: "tiny" } });
    const out = await runExperiment(fp4TrainingExperiment, cfg, quietContext(run));
    expect(out.status).toBe("completed");
    const s = out.summary!;
    expect(s.arms.map((a) => a.dir)).toEqual(["fp32", "w4a4-direct", "w4a4-dge-occ", "w4a4-dge-occ-tensor", "fp32-seed1", "mechanism-w8a4-direct", "mechanism-w8a4-occ-0.99"]);
    expect(s.arms.map((a) => a.seed)).toEqual([0, 0, 0, 0, 1, 0, 0]);
    expect(s.arms.map((a) => a.injected)).toEqual([false, false, false, false, false, true, true]);
    // A second seed is another model: another init and data order, the same validation batches.
    expect(s.arms[4].valLoss).not.toBe(s.arms[0].valLoss);
    for (const a of s.arms) {
      expect(a.status).toBe("completed");
      expect(a.steps).toBe(a.injected ? cfg.mechanism.steps : cfg.train.steps);
      expect(Number.isFinite(a.valLoss)).toBe(true);
      expect(Number.isFinite(a.finalTrainLoss)).toBe(true);
      // The per-batch losses are the logged validation loss, summed in the same order.
      expect(a.valBatchLosses.length).toBe(cfg.train.evalBatches);
      expect(a.valBatchLosses.reduce((x, y) => x + y, 0) / a.valBatchLosses.length).toBe(a.valLoss);
    }
    // The bigram on the same split, as the LM computes it.
    const data = loadData(cfg);
    expect(s.bigramValLoss).toBe(bigramLoss(data.train, data.val, 256).nll);
    expect(typeof s.wallSeconds).toBe("number");
    // Same init and data: the first step's loss is the same in every arm up to quantization.
    const first = s.arms.filter((a) => a.seed === 0).map((a) => JSON.parse(readFileSync(join(run.dir, "arms", a.dir!, "metrics.jsonl"), "utf8").split("\n")[0]).loss as number);
    for (const l of first) expect(Math.abs(l - first[0])).toBeLessThan(0.05);
    expect(s.fidelity).not.toBeNull();
    expect(s.fidelity!.map((r) => [r.clamp, r.compensate, r.quantile])).toEqual([
      [false, false, null],
      [true, false, 0.999],
      [true, true, 0.999],
      [true, true, 0.99],
      [true, true, 0.97],
      [true, false, 0.99],
      [false, false, null],
    ]);
    expect(s.fidelity!.map((r) => r.extra)).toEqual([false, false, false, false, false, true, true]);
    expect(s.fidelity!.map((r) => r.granularity)).toEqual(["token", "token", "token", "token", "token", "token", "tensor"]);
    for (const r of s.fidelity!) {
      expect(r.sim).toBeGreaterThan(0.9);
      expect(r.tensors).toBe(cfg.fidelity.batches * cfg.model.nLayers * 4);
    }
    expect(s.fidelityWidths).toEqual([32, 128]);
    // The mechanism test's table: the same rows, the direct cast's SNR lowered by the outlier channel.
    expect(s.mechanism!.fidelity.length).toBe(s.fidelity!.length);
    expect(s.mechanism!.fidelity[0].snrDb).toBeLessThan(s.fidelity![0].snrDb);
    for (const f of ["report.html", "report.md", "results.md", "summary.json", "verdicts.json"]) expect(existsSync(join(run.dir, f))).toBe(true);
    const verdicts = parseVerdicts(JSON.parse(readFileSync(join(run.dir, "verdicts.json"), "utf8")));
    expect(verdicts.smokeTest).toBe(true);
    expect(verdicts.claims.map((c) => c.id)).toEqual(["fp4-close-to-fp32", "direct-cast-worse", "tensor-scaling-worse", "table1-fidelity-order", "mechanism-outlier-snr", "mechanism-outlier-training"]);
    expect(verdicts.claims.map((c) => c.kind)).toEqual(["claim", "claim", "claim", "claim", "mechanism", "mechanism"]);
    expect(verdicts.claims[0].floor).not.toBeNull(); // two fp32 seeds
    // Twelve steps leave fp32 far from a 0.5-nat margin over the bigram: every loss claim is not testable.
    for (const c of verdicts.claims.slice(0, 3)) expect(c.verdict).toBe("not testable");
    expect(existsSync(join(run.dir, "wall.json"))).toBe(false);
    const results = readFileSync(join(run.dir, "results.md"), "utf8");
    expect(results).toMatch(/\| w4a4-dge-occ \| 0 \|/);
    expect(results).toMatch(/\| bigram \(add-α/);
    expect(results).toMatch(/LLaMA-2 1\.3B \| 2\.4900 \| 2\.5500/);
    expect(results).toMatch(/92\.19%/);
    expect(results).toMatch(/smoke test/);
    expect(results).toMatch(/Mechanism test \(reported apart from the claims above\)/);
    expect(results).toMatch(/\| w8a4-direct \(outlier channel\) \| 0 \| 6 \|/);
    expect(results).toMatch(/simulated quantisation/);
    // A rerun keeps every finished arm.
    const logs2: string[] = [];
    const s2: FP4TrainingSummary = await runFP4Training(cfg, { ...quietContext(run), log: (m: string) => logs2.push(m) });
    expect(logs2.filter((m) => /already completed, kept/.test(m)).length).toBe(7);
    expect(s2.arms.map((a) => a.valLoss)).toEqual(s.arms.map((a) => a.valLoss));
    expect(s2.arms.map((a) => a.valBatchLosses)).toEqual(s.arms.map((a) => a.valBatchLosses));
  }, 300_000);

  it("every ablation arm gives a finite loss and finite, non-zero gradients under jit", async () => {
    const model: LMConfig = { ...defaultLMConfig, vocabSize: 32, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8 };
    const toks = () => np.array(Int32Array.from({ length: 16 }, (_, i) => (i * 5) % 32), { dtype: np.int32 }).reshape([2, 8]);
    const p = initLM(model, 0);
    for (const arm of ARM_NAMES) {
      const lin = armLinearConfig(arm, fp4TrainingPresets.full.fp4);
      const linearFn = lin ? fp4LinearFn(lin) : undefined;
      const f = jit((pp: LMParams, x: Array, y: Array) => valueAndGrad((q: LMParams) => crossEntropy(lmForward(q, model, x.ref, { linearFn }).logits, y.ref))(pp));
      const [loss, g] = f(tree.ref(p), toks(), toks());
      expect(Number.isFinite(Number((await loss.data())[0]))).toBe(true);
      const gw = Array.from((await g.blocks[0].mlp.down.w.ref.data()) as Float32Array);
      expect(gw.every(Number.isFinite) && gw.some((v) => v !== 0)).toBe(true);
      tree.dispose(g);
      f.dispose();
    }
    tree.dispose(p);
  });
});

describe("fp4 quantize (the CLI verb)", () => {
  it("quantizes a JSON line with the training code", async () => {
    const req = parseQuantizeLine('{"x":[[0.001,0.048,0.0997],[0.1503,0.2002,0.2497],[0.2974,0.30699,0.4001]],"granularity":"tensor","pow2Scale":true}');
    const r = await quantizeRequest(req);
    expect(r.q).toEqual([
      [0, 0.0625, 0.125],
      [0.125, 0.1875, 0.25],
      [0.25, 0.25, 0.375],
    ]);
    expect(r.sim).toBeGreaterThan(0.99);
    const c = await quantizeRequest(parseQuantizeLine('{"x":[[1,2,3,100]],"granularity":"token","clampQuantile":0.75,"compensate":true}'));
    expect(c.q[0][0]).toBe(-1); // 1 is clamped to 2 (sorted[1]), quantized to 0, and the residual −1 comes back
    const exact = await quantizeRequest(parseQuantizeLine('{"x":[[0,0.5,-6]],"granularity":"token"}'));
    expect(exact).toEqual({ q: [[0, 0.5, -6]], sim: 1, mse: 0, snrDb: null });
    expect(shortF32(Math.fround(0.1))).toBe(0.1);
  });

  it("rejects bad lines with one message", () => {
    const bad: [string, RegExp][] = [
      ["{", /not valid JSON/],
      ['{"x":[[1,2],[3]],"granularity":"token"}', /rectangular: row 0 has 2 values, row 1 has 1/],
      ['{"x":[[1]],"granularity":"row"}', /granularity is "row"; expected one of "token", "channel", "tensor"/],
      ['{"x":[[1]],"granularity":"token","clampQuantile":0.2}', /clampQuantile must be a number in \(0\.5, 1\]/],
      ['{"x":[],"granularity":"token"}', /x must be a non-empty matrix/],
      ['{"x":[["a"]],"granularity":"token"}', /x must be a non-empty matrix/],
      ['{"x":[[1]],"granularity":"token","alpha":1}', /unknown key\(s\) alpha/],
      ['{"x":[[1]],"granularity":"token","compensate":true}', /compensate needs clampQuantile/],
    ];
    for (const [line, re] of bad) expect(() => parseQuantizeLine(line)).toThrow(re);
  });

  it("runs as `tinyfoundry fp4 quantize` on standard input and a file", () => {
    const BIN = new URL("../../../bin/tinyfoundry.js", import.meta.url).pathname;
    const input = '{"x":[[1,-2,3]],"granularity":"token"}\n\n{"x":[[0.5],[3]],"granularity":"channel","clampQuantile":0.99}\n';
    const r = spawnSync(process.execPath, [BIN, "fp4", "quantize"], { input, encoding: "utf8", env: { ...process.env, TINYFOUNDRY_THREADS: "1" } });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { q: number[][] });
    expect(lines.length).toBe(2);
    expect(lines[0].q).toEqual([[1, -2, 3]]);
    expect(lines[1].q).toEqual([[0.5], [3]]);
    const f = join(tmp("tf-fp4-cli-"), "in.jsonl");
    writeFileSync(f, '{"x":[[1]],"granularity":"token"}\n{"x":[[1]],"granularity":"nope"}\n');
    const e = spawnSync(process.execPath, [BIN, "fp4", "quantize", f], { encoding: "utf8", env: { ...process.env, TINYFOUNDRY_THREADS: "1" } });
    expect(e.status).toBe(2);
    expect(e.stdout.trim().split("\n").length).toBe(1);
    expect(e.stderr.trim()).toMatch(/^tinyfoundry: fp4 quantize: line 2: granularity is "nope"/);
  });
});
