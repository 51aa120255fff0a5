/**
 * The semantic probes of the tokenizer study: a small recogniser trained on the codes of the
 * first k RVQ layers (training voices) and scored by greedy character error rate on held-out
 * voices and sentences, per utterance so the claims get standard errors. The baseline a
 * recogniser that ignores the audio reaches: one constant transcript. The T2 all-layer probe is
 * also the recogniser that transcribes the omni model's generated speech.
 */
import { writeFileSync } from "node:fs";
import { disposeTree, jit, np, refTree, type Array } from "../../engine/index.js";
import type { LMConfig } from "../../nn/transformer.js";
import { adamwInit } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { latestCheckpoint, loadRunParams } from "../../train/checkpoint.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { DOWNSAMPLE } from "./tokenizer.js";
import { characterErrorRate, editDistance, initProbe, probeLogits, probeLoss, type ProbeParams } from "./probe.js";
import type { Codes } from "./sequences.js";
import { argmax, cachedJit, sched, TEXT_LEN, transcriptArrays, type OmniData } from "./prepare.js";
import { decayMaskOf } from "./text-lm.js";
import type { ProbeBaseline, ProbeSummary } from "./summary.js";

/** The probe's LM shape: the text LM's settings at the probe's size, reading T12 frames + the text. */
function probeConfig(cfg: OmniExperimentConfig, data: OmniData): LMConfig {
  const T12 = data.mels.T / DOWNSAMPLE;
  return { ...cfg.textLm.model, vocabSize: data.tok.vocabSize, dModel: cfg.probe.dModel, nLayers: cfg.probe.nLayers, nHeads: cfg.probe.nHeads, contextLength: T12 + TEXT_LEN };
}

/** Held-out utterances the probes transcribe: statements and questions in held-out voices. */
export const probeEvalUtterances = (data: OmniData) => data.evalIdx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question");

export async function trainProbe(cfg: OmniExperimentConfig, data: OmniData, codes: Map<number, Codes>, sizes: number[], k: number, run: RunDir, ctx: ExperimentContext, label: string): Promise<ProbeSummary> {
  const T12 = data.mels.T / DOWNSAMPLE;
  const pc = probeConfig(cfg, data);
  const { batchSize: B, steps } = cfg.probe.train;
  const nL = sizes.length;
  const codeArray = (idx: number[]) => {
    const a = new Int32Array(idx.length * T12 * nL);
    idx.forEach((u, b) => codes.get(u)!.forEach((f, t) => a.set(f, (b * T12 + t) * nL)));
    return np.array(a, { dtype: np.int32 }).reshape([idx.length, T12, nL]);
  };
  const lossFn = (p: ProbeParams, c: Array, ti: Array, tt: Array, tm: Array) => probeLoss(p, pc, c, ti, tt, tm);
  const res = await trainLoop<ProbeParams>({
    run,
    totalSteps: steps,
    init: () => {
      const params = initProbe(sizes, k, pc, cfg.seed);
      return { params, opt: adamwInit(params) };
    },
    trainStep: makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: decayMaskOf(initProbe(sizes, k, pc, cfg.seed)) }),
    rngs: { data: Rng.stream(cfg.seed, `data:${label}`) },
    nextBatch: (_s, rngs) => {
      const idx = Array.from({ length: B }, () => rngs.data.pick(data.trainIdx));
      const tx = transcriptArrays(data, idx, TEXT_LEN);
      return [codeArray(idx), tx.textIn, tx.textTgt, tx.textMask];
    },
    lr: sched(cfg.probe.train),
    tokensPerStep: B * pc.contextLength,
    evalEvery: steps,
    checkpointEvery: steps,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, label),
  });
  // Greedy transcription of held-out-voice statements and questions.
  const evalU = probeEvalUtterances(data);
  const fwd = cachedJit(["probe", pc, k], () => jit((p: ProbeParams, c: Array, ti: Array) => probeLogits(p, pc, c, ti)));
  const hyps: string[] = [];
  const refs: string[] = [];
  const V = pc.vocabSize;
  const eos = data.tok.id("<eos>");
  for (let i = 0; i < evalU.length; i += B) {
    const chunk = evalU.slice(i, i + B);
    const padded = [...chunk];
    while (padded.length < B) padded.push(chunk[0]);
    const tin = new Int32Array(B * TEXT_LEN);
    for (let b = 0; b < B; b++) tin[b * TEXT_LEN] = data.tok.id("<transcribe>");
    const out: number[][] = padded.map(() => []);
    const done = new Array<boolean>(B).fill(false);
    for (let t = 0; t < TEXT_LEN - 1; t++) {
      const logits = (await fwd(refTree(res.params), codeArray(padded), np.array(tin, { dtype: np.int32 }).reshape([B, TEXT_LEN])).data()) as Float32Array;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const arg = argmax(logits.subarray((b * TEXT_LEN + t) * V, (b * TEXT_LEN + t + 1) * V));
        if (arg === eos) done[b] = true;
        else {
          out[b].push(arg);
          tin[b * TEXT_LEN + t + 1] = arg;
        }
      }
      if (done.every(Boolean)) break;
    }
    chunk.forEach((u, b) => {
      hyps.push(data.tok.decode(out[b]));
      refs.push(data.utts[u].text);
    });
  }
  disposeTree(res.params);
  disposeTree(res.opt);
  const cer = characterErrorRate(hyps, refs);
  writeFileSync(run.path("transcripts.txt"), hyps.map((h, i) => `REF ${refs[i]}\nHYP ${h}`).join("\n") + "\n");
  return {
    status: res.status,
    steps: res.step,
    layers: k,
    finalLoss: res.lastLoss,
    cer,
    evalUtterances: hyps.length,
    edits: hyps.map((h, i) => editDistance(h, refs[i])),
    refChars: refs.map((r) => r.length),
    examples: hyps.slice(0, 4).map((h, i) => ({ ref: refs[i], hyp: h })),
  };
}

/**
 * The recogniser that ignores the audio: the one training transcript (statement or question) with
 * the lowest CER on all training transcripts, scored on the probes' held-out references.
 */
export function constantTranscriptBaseline(data: OmniData): ProbeBaseline {
  const spoken = (idx: number[]) => idx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question").map((u) => data.utts[u].text);
  const train = spoken(data.trainIdx);
  const candidates = [...new Set(train)];
  let best = candidates[0] ?? "";
  let bestCer = Infinity;
  for (const c of candidates) {
    const cer = characterErrorRate(train.map(() => c), train);
    if (cer < bestCer) [best, bestCer] = [c, cer];
  }
  const refs = probeEvalUtterances(data).map((u) => data.utts[u].text);
  return { constantText: best, constantCer: characterErrorRate(refs.map(() => best), refs) };
}

/** Load the T2 all-layer probe as a speech recogniser for generated audio (null if not trained). */
export function makeRecogniser(cfg: OmniExperimentConfig, data: OmniData, armDir: (a: string) => string): ((codes: Codes[]) => Promise<string[]>) | null {
  const k = Math.max(...cfg.probe.layers);
  const label = `probe-T2-k${k}`;
  const T12 = data.mels.T / DOWNSAMPLE;
  const pc = probeConfig(cfg, data);
  if (!latestCheckpoint(armDir(label))) return null;
  const p = loadRunParams(armDir(label), initProbe(cfg.tokenizer.codebookSizes, k, pc, cfg.seed));
  const nL = cfg.tokenizer.codebookSizes.length;
  const fwd = jit((q: ProbeParams, c: Array, ti: Array) => probeLogits(q, pc, c, ti));
  const B = cfg.probe.train.batchSize;
  const V = pc.vocabSize;
  return async (codes: Codes[]): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < codes.length; i += B) {
      const chunk = codes.slice(i, i + B);
      const a = new Int32Array(B * T12 * nL);
      chunk.forEach((c, b) => c.slice(0, T12).forEach((f, t) => a.set(f, (b * T12 + t) * nL)));
      const tin = new Int32Array(B * TEXT_LEN);
      for (let b = 0; b < B; b++) tin[b * TEXT_LEN] = data.tok.id("<transcribe>");
      const logits = (await fwd(refTree(p), np.array(a, { dtype: np.int32 }).reshape([B, T12, nL]), np.array(tin, { dtype: np.int32 }).reshape([B, TEXT_LEN])).data()) as Float32Array;
      chunk.forEach((_, b) => out.push(data.tok.words[argmax(logits.subarray(b * TEXT_LEN * V, (b * TEXT_LEN + 1) * V))]));
    }
    return out;
  };
}
