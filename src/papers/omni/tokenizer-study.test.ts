import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { disposeTree, initEngine } from "../../engine/index.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext, runExperiment } from "../../train/experiment.js";
import { espeakAvailable } from "./speech.js";
import { omniTokenizerExperiment, tokStudyPresets } from "./tokenizer-study-entry.js";
import { asOmniConfig } from "./tokenizer-study-config.js";
import { prepareStudyData } from "./tokenizer-study.js";
import { encodeAll, loadTokenizer, tokConfig, trainTokenizer } from "./tokenizer-experiment.js";
import type { Codes } from "./sequences.js";
import { pretrainedEncoder } from "./whisper-experiment.js";
import { WordTokenizer } from "./world.js";
import type { OmniData } from "./prepare.js";

describe("omni-tokenizer study presets", () => {
  it("keep the random encoder and the 48-token reader while omni's presets take route 5 (recogniser, context 56)", () => {
    for (const p of Object.values(tokStudyPresets)) {
      expect(p.tokenizer.pretrainEncoder.steps).toBe(0);
      expect(p.tokenizer.pretrainEncoder.encLrScale).toBe(0);
      expect(p.textLm.model.contextLength).toBe(48);
    }
    expect(tokStudyPresets.quick.tokenizer.train.steps).toBe(600);
  });
});

describe("omni-tokenizer study (tiny preset)", () => {
  it("runs T1 and T2 per seed with their probes through the runner", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    await initEngine();
    const root = mkdtempSync(join(tmpdir(), "omni-tok-"));
    const config = { ...tokStudyPresets.tiny, speech: { ...tokStudyPresets.tiny.speech, cacheDir: join(root, "speech") } };
    const run = createRun({ experiment: "omni-tokenizer", seed: 0, config, root, extraMeta: { preset: "tiny" } });
    const out = await runExperiment(omniTokenizerExperiment, config, quietContext(run));
    expect(out.status).toBe("completed");
    const s = out.summary!;
    expect(s.runs.map((r) => r.seed)).toEqual([0, 1]);
    for (const r of s.runs)
      for (const arm of [r.T1, r.T2]) {
        expect(arm.tokenizer.reconL1ByLayers).toHaveLength(8);
        expect(Object.keys(arm.probes).sort()).toEqual(["k1", "k8"]);
        for (const p of Object.values(arm.probes)) expect(p.evalUtterances).toBeGreaterThan(0);
      }
    expect(s.runs[0].T2.tokenizer.transcriptSanity).toBeDefined();
    expect(s.weights.map((w) => w.weight)).toEqual(config.study.extraWeights);
    expect(s.whisperPretrain).toBeUndefined();
  }, 600_000);

  it("starts every tokenizer arm from one recogniser-pretrained encoder when tokenizer.pretrainEncoder.steps > 0 (frozen here)", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    await initEngine();
    const root = mkdtempSync(join(tmpdir(), "omni-tok-enc-"));
    const t = tokStudyPresets.tiny.tokenizer;
    const pretrainEncoder = { ...t.pretrainEncoder, steps: 2, batchSize: 4, dModel: 16, nLayers: 1, nHeads: 2, encLrScale: 0 };
    const config = { ...tokStudyPresets.tiny, speech: { ...tokStudyPresets.tiny.speech, cacheDir: join(root, "speech") }, tokenizer: { ...t, pretrainEncoder }, study: { ...tokStudyPresets.tiny.study, extraWeights: [] } };
    const run = createRun({ experiment: "omni-tokenizer", seed: 0, config, root, extraMeta: { preset: "tiny" } });
    const out = await runExperiment(omniTokenizerExperiment, config, quietContext(run));
    expect(out.status).toBe("completed");
    expect(out.summary!.whisperPretrain?.steps).toBe(2);
    const ocfg = asOmniConfig(config);
    const data = { tok: new WordTokenizer(), mels: { T: 8 * Math.ceil((Math.ceil((config.speech.maxSeconds * 100) / Math.min(1, config.study.nuisance.speed[0]))) / 8) } } as unknown as OmniData;
    const enc = pretrainedEncoder(ocfg, data, tokConfig(ocfg, "T2"), run.path("arms", "whisper-pretrain"));
    const want = await enc.enc[0].attn.qkv.w.ref.data();
    // Frozen: T1 and T2 of both seeds hold the same (pretrained) encoder.
    for (const arm of ["T1", "T2"] as const)
      for (const seed of [0, 1]) {
        const c = asOmniConfig(config, seed);
        const p = loadTokenizer(c, data, arm, run.path("arms", `tokenizer-${arm}-s${seed}`));
        expect(await p.net.enc[0].attn.qkv.w.ref.data()).toEqual(want);
        disposeTree(p);
      }
    disposeTree(enc);
  }, 600_000);

  it("hands the probes the evaluation's codes: the same as encoding every utterance again from the checkpoint", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    await initEngine();
    const root = mkdtempSync(join(tmpdir(), "omni-tok-codes-"));
    const config = { ...tokStudyPresets.tiny, speech: { ...tokStudyPresets.tiny.speech, cacheDir: join(root, "speech") } };
    const run = createRun({ experiment: "omni-tokenizer", seed: 0, config, root });
    const c = quietContext(run);
    const { data } = await prepareStudyData(config, c);
    const ocfg = asOmniConfig(config);
    let handed: Map<number, Codes> | undefined;
    await trainTokenizer(ocfg, data, "T1", run, c, "", { onCodes: (m) => (handed = m) });
    const all = [...data.trainIdx, ...data.evalIdx];
    const p = loadTokenizer(ocfg, data, "T1", run.dir);
    const fresh = await encodeAll(p, tokConfig(ocfg, "T1"), data, all, config.tokenizer.train.batchSize);
    disposeTree(p);
    expect(handed!.size).toBe(all.length);
    all.forEach((u, i) => expect(handed!.get(u)!.map((f) => Array.from(f))).toEqual(fresh[i].map((f) => Array.from(f))));
  }, 600_000);
});
