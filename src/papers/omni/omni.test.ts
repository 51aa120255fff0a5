import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { disposeTree, initEngine, np, refTree, type Array } from "../../engine/index.js";
import { initLM, type LMConfig } from "../../nn/transformer.js";
import { logMelSpectrogram } from "../../data/mel.js";
import { Rng } from "../../util/rng.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext, readVerdicts, runExperiment } from "../../train/experiment.js";
import { flattenNamed, loadRunParams } from "../../train/checkpoint.js";
import { encodeFeatures, initTokNet, tokenizerDecode, tokenizerEncode, initTokenizer, tokenizerLoss, tokenizerPost, type TokenizerConfig, type TokParams } from "./tokenizer.js";
import { codebookAudioEmbed, depthLogits, initOmni, omniLoss, PARAM_GROUPS, type OmniConfig, type OmniParams } from "./model.js";
import { batchFromList, batchList, formats, packBatch, type Codes, type Example } from "./sequences.js";
import { PAPER_STAGES, stageGroupLr, scaledLr } from "./stages.js";
import { groupOptInit, makeGroupStep, type Params } from "./train-step.js";
import { WordTokenizer, allQuestions, DIGITS, HELD_OUT_VOICES, MAX_TRAIN_VOICES, questionsOf, TRAIN_VOICES, trainVoicePool } from "./world.js";
import { planSpeech, questionSplit, espeakAvailable } from "./speech.js";
import { characterErrorRate, editDistance } from "./probe.js";
import { omniExperiment } from "./index.js";
import { omniPresets } from "./config.js";
import { initVisionClassifier } from "./vision-pretrain.js";
import { pretrainedEncoder, recogniserProjection } from "./whisper-experiment.js";
import { loadTokenizer, tokConfig } from "./tokenizer-experiment.js";
import type { OmniData } from "./prepare.js";
import { tinyTokenizerConfig } from "./testing.js";

const tcfg: TokenizerConfig = tinyTokenizerConfig();
const tok = new WordTokenizer();
const lmCfg: LMConfig = { vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 48, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 2, tiedHead: true, bias: false };
const ocfg: OmniConfig = { lm: lmCfg, codebookSizes: tcfg.codebookSizes, depthLayers: 1, depthHeads: 2, depthFfnRatio: 2, vision: { image: 28, patch: 7, width: 8, layers: 1, heads: 2 }, audioLossWeight: 1 };

const leaves = async (t: unknown) => {
  const out: Record<string, number[]> = {};
  for (const [k, a] of Object.entries(flattenNamed(t))) out[k] = Array.from((await a.ref.data()) as Float32Array);
  return out;
};

beforeAll(async () => {
  await initEngine();
});

describe("audio tokenizer", () => {
  it("turns 100 Hz mel into 12.5 Hz frames (stride-2 conv then 4x gated pooling) and back", async () => {
    const sec = 1.28;
    const x = Array.from({ length: Math.round(sec * 16000) }, (_, i) => Math.sin(i / 7) * Math.sin(i / 900));
    const m = logMelSpectrogram(x, { nMels: tcfg.nMels });
    expect(m.frames).toBe(128); // 100 frames/s
    const mel = np.array(m.data).reshape([1, 128, tcfg.nMels]);
    const net = initTokNet(tcfg, 0);
    const z = encodeFeatures(refTree(net), tcfg, mel.ref);
    expect(z.shape).toEqual([1, 16, 4 * tcfg.width]);
    expect(z.shape[1] / sec).toBe(12.5);
    z.dispose();
    const p = initTokenizer(tcfg, 0);
    const codes = tokenizerEncode(p, tcfg, mel);
    expect(codes.shape).toEqual([1, 16, 8]);
    const back = tokenizerDecode(p, tcfg, codes, np.ones([8]));
    expect(back.shape).toEqual([1, 128, tcfg.nMels]);
    back.dispose();
    disposeTree(p);
    disposeTree(net);
  });

  it("trains: the mel loss falls over a few steps and the EMA moves the codebooks (which get no gradient)", async () => {
    const B = 2;
    const T = 32;
    const rng = new Rng(3, "mel");
    const melHost = Float32Array.from({ length: B * T * tcfg.nMels }, (_, i) => Math.sin(i / 5) * 0.5 + 0.1 * rng.normal());
    const lr = { net: 3e-3 };
    let params = initTokenizer(tcfg, 1) as Params; // T1: no optional T2 groups
    let opt = groupOptInit(params, lr);
    const step = makeGroupStep<Params>((p, mel, m100, m12, cand) => tokenizerLoss(p as TokParams, tcfg, null, { mel, mask100: m100, mask12: m12, candIdx: cand }), {
      groupLr: lr,
      adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 },
      clip: 1,
      post: (p, st, t) => tokenizerPost(tcfg)(p as TokParams, st, t) as Params,
    });
    const cb0 = await leaves((params as TokParams).vq.embed);
    const losses: number[] = [];
    for (let t = 1; t <= 12; t++) {
      const batch = [np.array(melHost).reshape([B, T, tcfg.nMels]), np.ones([B, T]), np.ones([B, T / 8]), np.array(Int32Array.from({ length: 8 }, (_, i) => i % (B * T / 8)), { dtype: np.int32 })];
      const out = step.step(params, opt, batch, 3e-3, t);
      params = out.params;
      opt = out.opt;
      losses.push(Number((await out.aux[0].data())[0]));
      out.aux.slice(1).forEach((a) => a.dispose());
      out.loss.dispose();
      out.gradNorm.dispose();
    }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const cb1 = await leaves((params as TokParams).vq.embed);
    expect(cb1["0"]).not.toEqual(cb0["0"]);
    step.dispose();
    disposeTree(params);
    disposeTree(opt);
  });
});

describe("depth transformer audio head", () => {
  it("is causal over the 8 codebooks: head i depends on codes < i only", async () => {
    const p = initOmni(ocfg, initLM(lmCfg, 0), 0);
    const h = np.array(Float32Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i))).reshape([2, 16]);
    const base = Int32Array.from([1, 2, 3, 1, 2, 3, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3]);
    const run = async (codes: Int32Array) => {
      const outs = depthLogits(refTree(p.audioHead), refTree(p.audioEmbed), ocfg, h.ref, np.array(codes, { dtype: np.int32 }).reshape([2, 8]));
      const r: number[][] = [];
      for (const o of outs) r.push(Array.from((await o.data()) as Float32Array));
      return r;
    };
    const a = await run(base);
    for (const j of [0, 3, 7]) {
      const changed = Int32Array.from(base);
      changed[j] = (changed[j] + 1) % 4;
      changed[8 + j] = (changed[8 + j] + 1) % 4;
      const b = await run(changed);
      for (let i = 0; i < 8; i++) {
        if (i <= j) expect(b[i]).toEqual(a[i]); // heads up to j never see code j
        else expect(b[i]).not.toEqual(a[i]); // later heads do
      }
    }
    expect(a.map((x) => x.length / 2)).toEqual(ocfg.codebookSizes.map((k) => k + 1)); // head i has K_i + 1 classes
    h.dispose();
    disposeTree(p);
  });
});

/** One example of every kind with random codes and a blank image: every group gets a gradient. */
function mixedBatch(B: number): Array[] {
  const f = formats(tok, ocfg.vision);
  const rng = new Rng(5, "codes");
  const codes = (n: number): Codes => Array.from({ length: n }, () => Int32Array.from(ocfg.codebookSizes, (k) => rng.int(k)));
  const img = Float32Array.from({ length: 784 }, (_, i) => (i % 29) / 29);
  const exs: Example[] = [
    f.text("the red cat sees the dog"),
    f.caption(img, "five"),
    f.asr(codes(4), "what is two plus three"),
    f.tts("the red cat", codes(3)),
    f.sqaText(codes(3), "five"),
    f.sqaSpeech(codes(3), "five", codes(2)),
    f.omni(img, codes(2), "seven"),
    f.qaText("what is two plus three", "five"),
  ];
  return batchList(packBatch(exs.slice(0, B), { batch: B, seqLen: lmCfg.contextLength, audioRows: 16, nLayers: 8, K0: ocfg.codebookSizes[0], vision: ocfg.vision }).arrays);
}

describe("staged training", () => {
  it("uses the paper's learning-rate ratios (γ = 1) or a compressed range", () => {
    expect(scaledLr(1e-5, 3e-3, 1)).toBeCloseTo(3e-5, 12);
    expect(scaledLr(1e-5, 3e-3, 0.5)).toBeCloseTo(3e-4, 12);
    const g = stageGroupLr(PAPER_STAGES[1], 1e-3, 1);
    expect(g.lm).toBeCloseTo(1e-5, 12);
    expect(g.vision).toBeCloseTo(1e-6, 12);
  });

  for (const stage of PAPER_STAGES) {
    it(`stage ${stage.name} changes exactly the groups it trains (${Object.keys(stage.paperLr).join(", ")})`, async () => {
      const groupLr = stageGroupLr(stage, 1e-2, 0.5);
      const params: Params = initOmni(ocfg, initLM(lmCfg, 0), 0);
      const before = Object.fromEntries(await Promise.all(PARAM_GROUPS.map(async (g) => [g, await leaves(params[g])] as const)));
      const opt = groupOptInit(params, groupLr);
      const step = makeGroupStep<Params>(
        (p, ...xs) => {
          const o = omniLoss(p as OmniParams, ocfg, batchFromList(xs));
          return { loss: o.loss, metrics: [o.textLoss, o.audioLoss] };
        },
        { groupLr, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1 },
      );
      const out = step.step(params, opt, mixedBatch(8), 1e-2, 1);
      for (const g of PARAM_GROUPS) {
        const after = await leaves(out.params[g]);
        const same = Object.keys(after).every((k) => after[k].every((v, i) => v === before[g][k][i]));
        if (g in stage.paperLr) expect(same, `${g} should be trained in ${stage.name}`).toBe(false);
        else expect(same, `${g} should be frozen in ${stage.name}`).toBe(true);
      }
      expect(Object.keys(out.opt.m)).toEqual(PARAM_GROUPS.filter((g) => g in stage.paperLr));
      step.dispose();
      disposeTree(out);
    });
  }
});

describe("sequences", () => {
  it("interleaves text then speech: <speak> predicts the word, the word predicts <audiogen_start>, the last frame predicts end-of-audio", () => {
    const f = formats(tok, ocfg.vision);
    const q: Codes = [Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1])];
    const a: Codes = [Int32Array.from([2, 2, 2, 2, 2, 2, 2, 2]), Int32Array.from([3, 3, 3, 3, 3, 3, 3, 3])];
    const e = f.sqaSpeech(q, "five", a);
    const words = e.ids.map((i) => tok.words[i]);
    expect(words).toEqual(["<bos>", "<audio_start>", "<audio_pad>", "<audio_end>", "<speak>", "five", "<audiogen_start>", "<audio_pad>", "<audio_pad>", "<audiogen_end>", "<eos>"]);
    expect(e.textTgt[4]).toBe(tok.id("five"));
    expect(e.textTgt[5]).toBe(tok.id("<audiogen_start>"));
    expect(e.audioTgt[6]).toBe(a[0]);
    expect(e.audioTgt[7]).toBe(a[1]);
    expect(e.audioTgt[8]).toBe("eoa");
    expect(e.textTgt[9]).toBe(tok.id("<eos>"));
    const pb = packBatch([e], { batch: 1, seqLen: 12, audioRows: 4, nLayers: 8, K0: 99, vision: ocfg.vision });
    expect(pb.droppedAudioRows).toBe(0);
    const oc = Array.from(pb.arrays.outCodes.ref.dataSync() as Int32Array);
    const om = Array.from(pb.arrays.outMask.ref.dataSync() as Float32Array);
    expect(oc.slice(16, 24)).toEqual([99, 0, 0, 0, 0, 0, 0, 0]); // end-of-audio on head 0 only
    expect(om.slice(16, 24)).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    disposeTree(pb.arrays);
  });

  it("plans speech with disjoint voices and never speaks held-out questions in training", () => {
    const plan = planSpeech({ ...omniPresets.quick.speech }, 0);
    const train = plan.filter((u) => u.split === "train");
    const ev = plan.filter((u) => u.split === "eval");
    expect(train.every((u) => (TRAIN_VOICES as readonly string[]).includes(u.voice))).toBe(true);
    expect(ev.every((u) => (HELD_OUT_VOICES as readonly string[]).includes(u.voice))).toBe(true);
    const held = new Set(questionSplit(32, 0).heldOut.map((q) => q.text));
    expect(held.size).toBe(32);
    expect(train.some((u) => held.has(u.text))).toBe(false);
    expect(ev.some((u) => held.has(u.text))).toBe(true);
    expect(allQuestions()).toHaveLength(128);
  });

  it("plans more training voices (voice diversity) without touching the held-out voices or the utterance count", () => {
    const q = omniPresets.quick.speech;
    const pool = trainVoicePool(MAX_TRAIN_VOICES);
    expect(new Set(pool).size).toBe(pool.length);
    expect(pool.slice(0, 12)).toEqual([...TRAIN_VOICES]);
    // No further training voice shares a held-out voice's accent or its variant.
    const heldVariants = new Set(HELD_OUT_VOICES.map((v) => v.split("+")[1]));
    const heldAccents = new Set(HELD_OUT_VOICES.map((v) => v.split("+")[0]));
    for (const v of pool.slice(12)) {
      expect(heldVariants.has(v.split("+")[1])).toBe(false);
      expect(heldAccents.has(v.split("+")[0])).toBe(false);
    }
    const base = planSpeech({ ...q }, 0);
    const wide = planSpeech({ ...q, trainVoices: 48 }, 0);
    const questions = (p: typeof base) => p.filter((u) => u.split === "train" && u.role === "question");
    expect(questions(wide)).toHaveLength(questions(base).length);
    expect(new Set(questions(wide).map((u) => u.voice)).size).toBe(48);
    expect(wide.filter((u) => u.split === "eval").every((u) => (HELD_OUT_VOICES as readonly string[]).includes(u.voice))).toBe(true);
    // Twelve voices give the original plan (and its cached WAVs).
    expect(planSpeech({ ...q, trainVoices: 12 }, 0)).toEqual(base);
  });

  it("plans the sequence question set: one digit word per spoken question, held-out ones never spoken in training, ~evalQuestionsPerVoice per held-out voice", () => {
    const seq = questionsOf("sequence");
    expect(seq).toHaveLength(18);
    expect(seq.every((x) => x.text.split(" ").filter((w) => (DIGITS as readonly string[]).includes(w)).length === 1)).toBe(true);
    const q = omniPresets.quick.speech;
    const plan = planSpeech({ ...q, questionSet: "sequence", heldOutQuestions: 4, trainQuestions: 14 }, 0);
    const held = new Set(questionSplit(4, 0, "sequence").heldOut.map((x) => x.text));
    expect(held.size).toBe(4);
    const trainQ = plan.filter((u) => u.split === "train" && u.role === "question");
    expect(trainQ.some((u) => held.has(u.text))).toBe(false);
    expect(trainQ.every((u) => seq.some((x) => x.text === u.text))).toBe(true);
    const evQ = plan.filter((u) => u.split === "eval" && u.role === "question");
    expect(evQ).toHaveLength(q.evalQuestionsPerVoice * q.heldOutVoices);
    expect(evQ.filter((u) => u.questionSplit === "heldout").every((u) => held.has(u.text))).toBe(true);
    expect(() => questionSplit(18, 0, "sequence")).toThrow(/none/);
  });

  it("scores transcripts by character error rate", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(characterErrorRate(["the cat", "two"], ["the cat", "one"])).toBeCloseTo(3 / 10, 12);
  });
});

describe("omni experiment (tiny preset, end to end)", () => {
  it("runs every arm through the runner: summary, schema-valid verdicts, report with samples, results", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    const root = mkdtempSync(join(tmpdir(), "omni-"));
    // The tiny preset has route 5's settings (as quick): the encoder pretrained as a recogniser first, slowed in the
    // tokenizer, its projection starting the stages' audio embeddings from T2's codebooks, spoken questions transcribed first.
    // The encoder is frozen here (encLrScale 0, quick slows it to 0.1) so the test can check the tokenizer holds it.
    const t = omniPresets.tiny.tokenizer;
    const config = { ...omniPresets.tiny, speech: { ...omniPresets.tiny.speech, cacheDir: join(root, "speech") }, tokenizer: { ...t, pretrainEncoder: { ...t.pretrainEncoder, encLrScale: 0 } } };
    expect(config.omni.audioEmbedInit).toBe("codebooks");
    expect(config.omni.speechQaFormat).toBe("transcribe");
    expect(config.tokenizer.pretrainEncoder.steps).toBeGreaterThan(0);
    const run = createRun({ experiment: "omni", seed: 0, config, root, extraMeta: { preset: "tiny" } });
    const out = await runExperiment(omniExperiment, config, quietContext(run));
    expect(out.status).toBe("completed");
    const s = out.summary!;
    for (const f of ["summary.json", "verdicts.json", "report.html", "report.md", "results.md", "samples/digits.png", "samples/utt0-T2.wav"]) expect(existsSync(run.path(f))).toBe(true);
    expect(readFileSync(run.path("report.html"), "utf8")).toContain("data:audio/wav;base64,");
    expect(readFileSync(run.path("results.md"), "utf8")).toContain("smoke test");
    const v = readVerdicts(run.dir)!;
    expect(v.smokeTest).toBe(true);
    expect(v.claims.map((c) => c.id)).toEqual(["staging-keeps-text", "speech-out-below-in"]);
    // Both staging controls are trained: S2 on S1's data (text included), S1 without replay.
    expect(s.s1NoReplay?.mix.text).toBeUndefined();
    expect(s.s2.mix.text).toBeGreaterThan(0);
    expect(s.judge!.heldOutN).toBeGreaterThan(0);
    expect(v.claims.find((c) => c.id === "staging-keeps-text")!.why).not.toContain("missing from S2's mix");
    expect(s.tokenizers.T2.frameRate).toBe(12.5);
    // Only the tokenizer the stages read is trained here (the T1-vs-T2 study is omni-tokenizer).
    expect(s.tokenizers.T1).toBeUndefined();
    expect(s.tokenizers.T2.reconL1ByLayers).toHaveLength(8);
    expect(s.controlSeeds?.length ?? 0).toBe(config.omni.controlSeeds);
    // S1 without replay: only its final model is scored (the stages before it are trained, their scores NaN, stored as null).
    const nrMid = JSON.parse(readFileSync(run.path("arms", "s1nr-2-image-2", "summary.json"), "utf8")) as { textQaAcc: number | null; steps: number };
    expect(nrMid.textQaAcc).toBeNull();
    expect(nrMid.steps).toBe(config.omni.stageSteps["image-2"]);
    expect(Number.isFinite(s.s1NoReplay!.textQaAcc)).toBe(true);
    // ASR is measured after every stage, not only the last.
    for (const st of Object.values(s.s1)) expect(Number.isFinite(st.asrWordAcc)).toBe(true);
    expect(Object.keys(s.s1)).toEqual(PAPER_STAGES.map((x) => x.name));
    expect(s.samples.generated.length).toBeGreaterThan(0);
    // The stages start from the MNIST-pretrained tower: image stage I trains the projector only, so its tower is the pretrained one.
    expect(s.visionPretrain && "heldOutAcc" in s.visionPretrain).toBe(true);
    const tower = { ...config.omni.vision, image: 28 };
    const tinyOmni: OmniConfig = { lm: { ...config.textLm.model, vocabSize: tok.vocabSize }, codebookSizes: config.tokenizer.codebookSizes, depthLayers: config.omni.depthLayers, depthHeads: config.omni.depthHeads, depthFfnRatio: config.omni.depthFfnRatio, vision: tower, audioLossWeight: 1 };
    const pretrained = await leaves({ vision: loadRunParams(run.path("arms", "vision-pretrain"), initVisionClassifier(tower, 0)).vision });
    const image1 = loadRunParams(run.path("arms", "s1-1-image-1"), initOmni(tinyOmni, initLM(tinyOmni.lm, 0), 0));
    expect(await leaves({ vision: image1.vision })).toEqual(pretrained);
    // The tokenizer started from the whisper-pretrain arm's encoder and, frozen, still holds it.
    const data = { tok: new WordTokenizer(), mels: { T: 8 * Math.ceil((config.speech.maxSeconds * 100) / 8) } } as unknown as OmniData;
    const enc = pretrainedEncoder(config, data, tokConfig(config, "T2"), run.path("arms", "whisper-pretrain"));
    const tokT2 = loadTokenizer(config, data, "T2", run.path("arms", "tokenizer-T2"));
    expect(await tokT2.net.enc[0].attn.qkv.w.ref.data()).toEqual(await enc.enc[0].attn.qkv.w.ref.data());
    expect(await tokT2.net.pool.down.w.ref.data()).toEqual(await enc.pool.down.w.ref.data());
    // Image stage I leaves the audio embeddings as they started: T2's codebooks through the recogniser's projection.
    const proj = recogniserProjection(config, data, tokConfig(config, "T2"), run.path("arms", "whisper-pretrain"));
    const started = codebookAudioEmbed(initOmni(tinyOmni, initLM(tinyOmni.lm, 0), 0).audioEmbed.tables, tokT2.vq.embed, proj);
    expect(await leaves(image1.audioEmbed)).toEqual(await leaves(started));
    disposeTree(proj);
    disposeTree(enc);
    disposeTree(tokT2);
    const lmRows = readFileSync(run.path("arms", "text-lm", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { loss: number });
    expect(lmRows[lmRows.length - 1].loss).toBeLessThan(lmRows[0].loss);
  }, 600_000);
});
