/**
 * The `whisper-pretrain` arm of the omni experiment (issue 17): the tokenizer's encoder trained as
 * a recogniser (`whisper-pretrain.ts`; Baichuan-Omni-1.5, arXiv 2501.15368, §3.2.2 starts its
 * tokenizer from the Whisper-large encoder) on the training voices' statements and questions,
 * optionally with acoustic nuisance on the waveforms (`applyNuisance`, the tokenizer study's speed,
 * gain and noise); scored by greedy word accuracy (1 − word error rate, the ASR gate's metric) on
 * held-out voices and on training utterances. The tokenizer then starts from its encoder
 * (`pretrainedEncoder`).
 */
import { disposeTree, jit, np, refTree, type Array } from "../../engine/index.js";
import type { LMConfig } from "../../nn/transformer.js";
import type { Linear } from "../../nn/linear.js";
import { adamwInit } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { loadRunParams } from "../../train/checkpoint.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { melFeatures, type MelSet } from "./data.js";
import { editDistance } from "./probe.js";
import { argmax, cachedJit, sched, TEXT_LEN, transcriptArrays, type OmniData } from "./prepare.js";
import { DOWNSAMPLE, type EncoderNet, type TokenizerConfig } from "./tokenizer.js";
import { SAMPLE_RATE } from "./speech.js";
import { applyNuisance } from "./nuisance.js";
import { decayMaskOf } from "./text-lm.js";
import { initRecogniser, recogniserLogits, recogniserLoss, type RecogniserParams } from "./whisper-pretrain.js";

export type PretrainConfig = OmniExperimentConfig["tokenizer"]["pretrainEncoder"];

/** Speed, gain and noise of the nuisance copies (the tokenizer study's quick ranges). */
export const PRETRAIN_NUISANCE = { speed: [0.9, 1.1] as [number, number], gainDb: [-6, 6] as [number, number], snrDb: [15, 30] as [number, number] };

export type WhisperSummary = {
  status: "completed" | "interrupted";
  steps: number;
  finalLoss: number;
  /** Greedy word accuracy (1 − WER) on held-out voices' statements and questions (the ASR gate's utterances). */
  heldOutWordAcc: number;
  /** The same on training utterances (statements and questions of training voices). */
  trainWordAcc: number;
  nHeldOut: number;
  nTrain: number;
  /** Word accuracy every `pretrainEncoder.evalEvery` steps. */
  curve: { step: number; heldOut: number; train: number }[];
};

/** The decoder's shape: the text LM's settings at the pretrain decoder's size, reading T12 frames + the text. */
export function recogniserConfig(cfg: OmniExperimentConfig, data: OmniData): LMConfig {
  const pc = cfg.tokenizer.pretrainEncoder;
  return { ...cfg.textLm.model, vocabSize: data.tok.vocabSize, dModel: pc.dModel, nLayers: pc.nLayers, nHeads: pc.nHeads, contextLength: data.mels.T / DOWNSAMPLE + TEXT_LEN };
}

/** Statements and questions of `idx` (what a recogniser transcribes). */
const spoken = (data: OmniData, idx: number[]) => idx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question");

/**
 * Training rows: the clean mels of the training statements and questions, plus `copies` nuisance
 * copies of each (speed slowed no further than the padded length allows, so no word is cut).
 * Row r is utterance `utt[r]`.
 */
export function pretrainSet(data: OmniData, copies: number, seed: number): { mels: MelSet; utt: number[] } {
  const idx = spoken(data, data.trainIdx);
  if (copies === 0) return { mels: data.mels, utt: [...data.trainIdx] };
  const { T } = data.mels;
  const maxSamples = ((T - 2) * SAMPLE_RATE) / 100;
  const utts = [...idx.map((u) => data.utts[u])];
  const utt = [...idx];
  for (let c = 0; c < copies; c++)
    idx.forEach((u) => {
      const x = data.utts[u].samples;
      const rng = Rng.stream(seed, `pretrain-nuisance:${c}:${u}`);
      const lo = Math.max(PRETRAIN_NUISANCE.speed[0], x.length / maxSamples);
      utts.push({ ...data.utts[u], samples: applyNuisance(x, rng, { ...PRETRAIN_NUISANCE, speed: [lo, Math.max(lo, PRETRAIN_NUISANCE.speed[1])] }).samples });
      utt.push(u);
    });
  return { mels: melFeatures(utts, data.mels.nMels, T), utt };
}

function melRows(m: MelSet, rows: number[]): Array {
  const { T, nMels: M } = m;
  const out = new Float32Array(rows.length * T * M);
  rows.forEach((r, b) => out.set(m.mel.subarray(r * T * M, (r + 1) * T * M), b * T * M));
  return np.array(out).reshape([rows.length, T, M]);
}

/**
 * Greedy transcripts of utterances `idx` (data's clean mels), scored as 1 − word error rate. With `codebooks` (not consumed)
 * the decoder reads the RVQ-quantised features (a pilot's check of what the codes keep).
 */
export async function recogniserWordAccuracy(
  p: RecogniserParams,
  tcfg: TokenizerConfig,
  dcfg: LMConfig,
  data: OmniData,
  idx: number[],
  B: number,
  codebooks?: Array[],
): Promise<{ acc: number; n: number; hyps: string[] }> {
  const plain = cachedJit(["whisper", tcfg, dcfg], () => jit((q: RecogniserParams, mel: Array, ti: Array) => recogniserLogits(q, tcfg, dcfg, mel, ti)));
  const viaCodes = cachedJit(["whisper-rvq", tcfg, dcfg], () => jit((q: RecogniserParams, cb: Array[], mel: Array, ti: Array) => recogniserLogits(q, tcfg, dcfg, mel, ti, cb)));
  const fwd = (q: RecogniserParams, mel: Array, ti: Array) => (codebooks ? viaCodes(q, codebooks.map((c) => c.ref), mel, ti) : plain(q, mel, ti));
  const tok = data.tok;
  const V = dcfg.vocabSize;
  const eos = tok.id("<eos>");
  let edits = 0;
  let words = 0;
  const hyps: string[] = [];
  for (let i = 0; i < idx.length; i += B) {
    const chunk = idx.slice(i, i + B);
    const padded = [...chunk];
    while (padded.length < B) padded.push(chunk[0]);
    const tin = new Int32Array(B * TEXT_LEN);
    for (let b = 0; b < B; b++) tin[b * TEXT_LEN] = tok.id("<transcribe>");
    const out: number[][] = padded.map(() => []);
    const done = new Array<boolean>(B).fill(false);
    for (let t = 0; t < TEXT_LEN - 1 && !done.every(Boolean); t++) {
      const logits = (await fwd(refTree(p), melRows(data.mels, padded), np.array(tin, { dtype: np.int32 }).reshape([B, TEXT_LEN])).data()) as Float32Array;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const w = argmax(logits.subarray((b * TEXT_LEN + t) * V, (b * TEXT_LEN + t + 1) * V));
        if (w === eos) done[b] = true;
        else {
          out[b].push(w);
          tin[b * TEXT_LEN + t + 1] = w;
        }
      }
    }
    chunk.forEach((u, b) => {
      const ref = tok.encode(data.utts[u].text);
      edits += editDistance(out[b], ref);
      words += ref.length;
      hyps.push(tok.decode(out[b]));
    });
  }
  return { acc: 1 - edits / Math.max(1, words), n: idx.length, hyps };
}

/** Train the recogniser (arm `whisper-pretrain`); `tcfg` is the tokenizer's config (its encoder shape). */
export async function trainWhisper(cfg: OmniExperimentConfig, data: OmniData, tcfg: TokenizerConfig, run: RunDir, ctx: ExperimentContext, log: (m: string) => void = () => {}): Promise<WhisperSummary> {
  const pc = cfg.tokenizer.pretrainEncoder;
  if (pc.steps <= 0) throw new Error("tokenizer.pretrainEncoder.steps must be > 0 to train the recogniser");
  const dcfg = recogniserConfig(cfg, data);
  const set = pretrainSet(data, pc.nuisanceCopies, cfg.seed);
  const rows = set.utt.map((_, r) => r).filter((r) => ["statement", "question"].includes(data.utts[set.utt[r]].role));
  const heldOut = spoken(data, data.evalIdx);
  const trainEval = Rng.stream(cfg.seed, "whisper-eval").shuffle(spoken(data, data.trainIdx)).slice(0, heldOut.length);
  const B = pc.batchSize;
  const curve: WhisperSummary["curve"] = [];
  const lossFn = (p: RecogniserParams, mel: Array, ti: Array, tt: Array, tm: Array) => recogniserLoss(p, tcfg, dcfg, mel, ti, tt, tm);
  const score = async (p: RecogniserParams, step: number) => {
    const h = await recogniserWordAccuracy(p, tcfg, dcfg, data, heldOut, B);
    const t = await recogniserWordAccuracy(p, tcfg, dcfg, data, trainEval, B);
    curve.push({ step, heldOut: h.acc, train: t.acc });
    log(`whisper-pretrain step ${step}: word accuracy held-out voices ${(100 * h.acc).toFixed(1)} %, training utterances ${(100 * t.acc).toFixed(1)} %`);
    return { heldOutWordAcc: h.acc, trainWordAcc: t.acc };
  };
  const res = await trainLoop<RecogniserParams>({
    run,
    totalSteps: pc.steps,
    init: () => {
      const params = initRecogniser(tcfg, dcfg, cfg.seed);
      return { params, opt: adamwInit(params) };
    },
    trainStep: makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.01 }, clip: 1, decayMask: decayMaskOf(initRecogniser(tcfg, dcfg, cfg.seed)) }),
    rngs: { data: Rng.stream(cfg.seed, "data:whisper-pretrain") },
    nextBatch: (_s, rngs) => {
      const r = Array.from({ length: B }, () => rngs.data.pick(rows));
      const tx = transcriptArrays(data, r.map((x) => set.utt[x]), TEXT_LEN);
      return [melRows(set.mels, r), tx.textIn, tx.textTgt, tx.textMask];
    },
    lr: sched(pc),
    tokensPerStep: B * dcfg.contextLength,
    evalEvery: pc.evalEvery > 0 ? pc.evalEvery : pc.steps,
    evaluate: score,
    checkpointEvery: pc.steps,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, "whisper-pretrain"),
  });
  disposeTree(res.params);
  disposeTree(res.opt);
  const last = curve[curve.length - 1] ?? { heldOut: res.lastEval.heldOutWordAcc ?? NaN, train: res.lastEval.trainWordAcc ?? NaN };
  return { status: res.status, steps: res.step, finalLoss: res.lastLoss, heldOutWordAcc: last.heldOut, trainWordAcc: last.train, nHeldOut: heldOut.length, nTrain: trainEval.length, curve };
}

/** The recogniser's projection of the 12.5 Hz features into its decoder (W [4C, dModel], b) from the `whisper-pretrain` arm's directory. */
export function recogniserProjection(cfg: OmniExperimentConfig, data: OmniData, tcfg: TokenizerConfig, armDir: string): Linear {
  const p = loadRunParams(armDir, initRecogniser(tcfg, recogniserConfig(cfg, data), cfg.seed));
  disposeTree(p.enc);
  disposeTree(p.dec.lm);
  return p.dec.proj;
}

/** The pretrained encoder from the `whisper-pretrain` arm's directory. */
export function pretrainedEncoder(cfg: OmniExperimentConfig, data: OmniData, tcfg: TokenizerConfig, armDir: string): EncoderNet {
  const p = loadRunParams(armDir, initRecogniser(tcfg, recogniserConfig(cfg, data), cfg.seed));
  disposeTree(p.dec);
  return p.enc;
}
