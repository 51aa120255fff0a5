import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { disposeTree, initEngine, np, refTree, type Array } from "../../engine/index.js";
import { adamwInit } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { createRun } from "../../train/run-dir.js";
import { quietContext } from "../../train/experiment.js";
import { Rng } from "../../util/rng.js";
import type { LMConfig } from "../../nn/transformer.js";
import { initTokNet, type TokenizerConfig } from "./tokenizer.js";
import { encoderOf, initRecogniser, recogniserLoss, withEncoder, type RecogniserParams } from "./whisper-pretrain.js";
import { WordTokenizer } from "./world.js";
import { omniPresets } from "./config.js";
import { decayMaskOf } from "./text-lm.js";
import { loadTokenizer, trainTokenizer } from "./tokenizer-experiment.js";
import type { OmniData } from "./prepare.js";
import type { Utterance } from "./speech.js";
import { tinyTokenizerConfig } from "./testing.js";

const tcfg: TokenizerConfig = tinyTokenizerConfig();
const tok = new WordTokenizer();
const dcfg: LMConfig = { ...omniPresets.tiny.textLm.model, vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 16 };
const WORDS = ["one", "seven"];

/** Two spoken "words": mel with energy in the low bins (word 0) or the high bins (word 1), plus noise. */
function melOf(w: number, rng: Rng, T = 32): Float32Array {
  const m = new Float32Array(T * tcfg.nMels);
  for (let t = 0; t < T; t++) for (let b = 0; b < tcfg.nMels; b++) m[t * tcfg.nMels + b] = (w === 0 ? b < 8 : b >= 8) ? 1 + 0.3 * rng.normal() : -1 + 0.3 * rng.normal();
  return m;
}

function batch(rng: Rng, B: number): Array[] {
  const ws = Array.from({ length: B }, () => rng.int(2));
  const mel = new Float32Array(B * 32 * tcfg.nMels);
  ws.forEach((w, b) => mel.set(melOf(w, rng), b * 32 * tcfg.nMels));
  const L = 3;
  const ti = new Int32Array(B * L);
  const tt = new Int32Array(B * L);
  const tm = new Float32Array(B * L);
  ws.forEach((w, b) => {
    ti.set([tok.id("<transcribe>"), tok.id(WORDS[w])], b * L);
    tt.set([tok.id(WORDS[w]), tok.id("<eos>")], b * L);
    tm.set([1, 1], b * L);
  });
  const i32 = (a: Int32Array) => np.array(a, { dtype: np.int32 }).reshape([B, L]);
  return [np.array(mel).reshape([B, 32, tcfg.nMels]), i32(ti), i32(tt), np.array(tm).reshape([B, L])];
}

beforeAll(async () => {
  await initEngine();
});

describe("whisper-pretrain: the tokenizer's encoder as a recogniser", () => {
  it("starts from the tokenizer's own encoder init (same seed, same names)", async () => {
    const r = initRecogniser(tcfg, dcfg, 3);
    const net = initTokNet(tcfg, 3);
    expect(await r.enc.conv1.w.ref.data()).toEqual(await net.conv1.w.ref.data());
    expect(await r.enc.pool.gate.w.ref.data()).toEqual(await net.pool.gate.w.ref.data());
    disposeTree(r);
    disposeTree(net);
  });

  it("trains: the transcript loss falls from chance to well below it on a two-word task", async () => {
    const lossFn = (p: RecogniserParams, mel: Array, ti: Array, tt: Array, tm: Array) => recogniserLoss(p, tcfg, dcfg, mel, ti, tt, tm);
    const step = makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0 }, clip: 1, decayMask: decayMaskOf(initRecogniser(tcfg, dcfg, 0)) });
    let params = initRecogniser(tcfg, dcfg, 0);
    let opt = adamwInit(params);
    const rng = new Rng(1);
    const losses: number[] = [];
    for (let t = 1; t <= 60; t++) {
      const out = step.step(params, opt, batch(rng, 8), 3e-3, t);
      params = out.params;
      opt = out.opt;
      losses.push((await out.loss.data())[0]);
      out.gradNorm.dispose();
      out.aux.forEach((a) => a.dispose());
    }
    step.dispose();
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    // Start: about ln(V)/... per target; the word is decidable from the mel, <eos> always follows: the loss must fall
    // below half its start.
    expect(first).toBeGreaterThan(1);
    expect(last).toBeLessThan(0.5 * first);
    disposeTree(params);
    disposeTree(opt);
  });

  it("withEncoder swaps in the given encoder and keeps the decoder", async () => {
    const net = initTokNet(tcfg, 0);
    const other = initTokNet(tcfg, 5);
    const decW = await net.dec.up4.w.ref.data();
    const encW = await other.conv2.w.ref.data();
    const swapped = withEncoder(net, refTree(encoderOf(other)));
    expect(await swapped.conv2.w.ref.data()).toEqual(encW);
    expect(await swapped.dec.up4.w.ref.data()).toEqual(decW);
    disposeTree(swapped);
    disposeTree(other);
  });
});

describe("the tokenizer trained from a pretrained encoder", () => {
  /** A tiny OmniData of synthetic mels (no speech synthesis): 8 training and 4 evaluation "utterances". */
  function tinyData(): OmniData {
    const T = 32;
    const n = 12;
    const rng = new Rng(2);
    const mel = new Float32Array(n * T * tcfg.nMels);
    const utts: Utterance[] = [];
    for (let i = 0; i < n; i++) {
      const w = i % 2;
      mel.set(melOf(w, rng, T), i * T * tcfg.nMels);
      utts.push({ id: `u${i}`, text: WORDS[w], voice: "en", speed: 150, pitch: 50, role: "statement", split: i < 8 ? "train" : "eval", samples: new Float32Array(1) });
    }
    return {
      tok,
      utts,
      mels: { mel, frames: new Array<number>(n).fill(T), T, nMels: tcfg.nMels },
      trainIdx: [0, 1, 2, 3, 4, 5, 6, 7],
      evalIdx: [8, 9, 10, 11],
      digits: { train: [], test: [] },
      textTrain: [],
      textEval: [],
    };
  }

  it("starts from the pretrained encoder: frozen (encLrScale 0) it ends equal to it while the decoder trains", async () => {
    const base = omniPresets.tiny;
    const cfg = { ...base, speech: { ...base.speech, nMels: tcfg.nMels }, tokenizer: { ...base.tokenizer, ...tcfg, transcriptWeight: 1, train: { steps: 3, batchSize: 4, lr: 2e-3, warmupSteps: 1 } } };
    const data = tinyData();
    const pretrained = encoderOf(initTokNet({ ...tcfg, nMels: tcfg.nMels }, 99)); // another seed: differs from the random init
    const encW = await pretrained.enc[0].attn.qkv.w.ref.data();
    const randomW = await initTokNet(tcfg, cfg.seed).enc[0].attn.qkv.w.data();
    expect(encW).not.toEqual(randomW);
    const dir = mkdtempSync(join(tmpdir(), "omni-whisper-"));
    const run = createRun({ experiment: "omni-whisper-test", seed: 0, config: {}, dir });
    const res = await trainTokenizer(cfg, data, "T1", run, quietContext(run), "", { encoder: pretrained, encLrScale: 0 });
    expect(res.steps).toBe(3);
    const trained = loadTokenizer(cfg, data, "T1", dir);
    expect(await trained.net.enc[0].attn.qkv.w.ref.data()).toEqual(encW);
    expect(await trained.net.conv1.w.ref.data()).toEqual(await pretrained.conv1.w.ref.data());
    // The rest of the tokenizer did train: its decoder moved from the init.
    const init = initTokNet(tcfg, cfg.seed);
    expect(await trained.net.dec.up4.w.ref.data()).not.toEqual(await init.dec.up4.w.ref.data());
    disposeTree(init);
    disposeTree(trained);
    disposeTree(pretrained);
  });
});
