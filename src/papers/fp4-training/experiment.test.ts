import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine, np, jit, tree, valueAndGrad, crossEntropy, type Array } from "../../engine/index.js";
import { initLM, lmForward, defaultLMConfig, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { fp4LinearFn } from "./model.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext } from "../../train/experiment.js";
import { pickPreset, validateConfig } from "../../train/config.js";
import { ARM_NAMES, armLinearConfig, fp4TrainingPresets, fp4TrainingSchema, type FP4TrainingConfig } from "./config.js";
import { runFP4Training, type FP4TrainingSummary } from "./experiment.js";
import { judge } from "./report.js";
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
  it("runs the four main arms and the Table 1 analogue, writes the report, and keeps finished arms on a rerun", async () => {
    const root = tmp("tf-fp4-");
    const cfg = pickPreset(fp4TrainingPresets, "tiny") as FP4TrainingConfig;
    const run = createRun({ experiment: "fp4-training", seed: cfg.seed, config: cfg, root, extraMeta: { preset: "tiny" } });
    const logs: string[] = [];
    const ctx = { ...quietContext(run), log: (m: string) => logs.push(m) };
    const s = await runFP4Training(cfg, ctx);
    expect(s.status).toBe("completed");
    expect(s.arms.map((a) => a.arm)).toEqual(["fp32", "w4a4-direct", "w4a4-dge-occ", "w4a4-dge-occ-tensor"]);
    for (const a of s.arms) {
      expect(a.status).toBe("completed");
      expect(a.steps).toBe(cfg.train.steps);
      expect(Number.isFinite(a.valLoss)).toBe(true);
      expect(Number.isFinite(a.finalTrainLoss)).toBe(true);
    }
    // Same init and data: the first step's loss is the same in every arm up to quantization.
    const first = s.arms.map((a) => JSON.parse(readFileSync(join(run.dir, "arms", a.arm, "metrics.jsonl"), "utf8").split("\n")[0]).loss as number);
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
    expect(s.verdicts.length).toBeGreaterThanOrEqual(4);
    for (const f of ["report.html", "report.md", "results.md", "summary.json"]) expect(existsSync(join(run.dir, f))).toBe(true);
    const results = readFileSync(join(run.dir, "results.md"), "utf8");
    expect(results).toMatch(/\| w4a4-dge-occ \|/);
    expect(results).toMatch(/LLaMA-2 1\.3B \| 2\.4900 \| 2\.5500/);
    expect(results).toMatch(/92\.19%/);
    // A rerun keeps every finished arm.
    const logs2: string[] = [];
    const s2 = await runFP4Training(cfg, { ...quietContext(run), log: (m: string) => logs2.push(m) });
    expect(logs2.filter((m) => /already completed, kept/.test(m)).length).toBe(4);
    expect(s2.arms.map((a) => a.valLoss)).toEqual(s.arms.map((a) => a.valLoss));
  }, 300_000);

  it("every ablation arm gives a finite loss and finite, non-zero gradients under jit", async () => {
    const model: LMConfig = { ...defaultLMConfig, vocabSize: 32, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8 };
    const toks = () => np.array(Int32Array.from({ length: 16 }, (_, i) => (i * 5) % 32), { dtype: np.int32 }).reshape([2, 8]);
    const p = initLM(model, 0);
    for (const arm of ARM_NAMES) {
      const lin = armLinearConfig(arm, fp4TrainingPresets.full.fp4);
      const linearFn = lin ? fp4LinearFn(lin) : undefined;
      const f = jit((pp: LMParams, x: Array, y: Array) => valueAndGrad((q: LMParams) => crossEntropy(lmForward(q, model, x.ref, { linearFn }).logits, y.ref))(pp));
      const [loss, g] = f(tree.ref(p), toks(), toks()) as unknown as [Array, LMParams];
      expect(Number.isFinite(Number((await loss.data())[0]))).toBe(true);
      const gw = Array.from((await g.blocks[0].mlp.down.w.ref.data()) as Float32Array);
      expect(gw.every(Number.isFinite) && gw.some((v) => v !== 0)).toBe(true);
      tree.dispose(g);
      f.dispose();
    }
    tree.dispose(p);
  });
});

describe("verdicts", () => {
  const arm = (name: string, valLoss: number, status = "completed") => ({ arm: name, valLoss, status, divergedAtStep: status === "diverged" ? 7 : null }) as unknown as FP4TrainingSummary["arms"][number];
  it("judges the claims with the stated margins", () => {
    const v = judge([arm("fp32", 2.0), arm("w4a4-direct", 2.1), arm("w4a4-dge-occ", 2.03), arm("w4a4-dge-occ-tensor", 2.04)], null, []);
    expect(v.map((x) => x.verdict)).toEqual(["reproduced", "reproduced", "reproduced in direction"]);
    const w = judge([arm("fp32", 2.0), arm("w4a4-direct", 2.0), arm("w4a4-dge-occ", 2.2), arm("w8a4-direct", NaN, "diverged")], null, []);
    expect(w.map((x) => x.verdict)).toEqual(["not reproduced", "not reproduced", "reproduced"]);
    const tie = judge([arm("w4a4-direct", 2.0), arm("w4a4-dge-occ", 1.998)], null, []);
    expect(tie[0].verdict).toBe("not reproduced");
    expect(tie[0].detail).toMatch(/no difference/);
  });
  it("reports a 0.999 clamp that cannot clamp short rows", () => {
    const row = (clamp: boolean, compensate: boolean, quantile: number | null, snrDb: number, extra = false) => ({ clamp, compensate, quantile, snrDb, sim: 1, mse: 0, residualDensity: 0, tensors: 1, extra, granularity: "token" as const });
    const v = judge([], [row(false, false, null, 10), row(true, false, 0.999, 10), row(true, true, 0.999, 10), row(true, true, 0.99, 12), row(true, true, 0.97, 13), row(true, false, 0.99, 9, true)], [128, 512]);
    expect(v[0].verdict).toBe("partly reproduced");
    expect(v[0].detail).toMatch(/0\.999 clamps nothing in rows of 128 \/ 512 values/);
    expect(v[0].detail).toMatch(/clamp only at α = 0\.99 gives 9\.00 dB against 10\.00 dB without a clamp/);
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
