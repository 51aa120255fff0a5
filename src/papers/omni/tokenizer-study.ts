/**
 * `tinyfoundry run omni-tokenizer`: the tokenizer study of issue 17 (Baichuan-Omni-1.5 §3.2.2),
 * T1 (mel reconstruction only) vs T2 (+ transcript prediction by a frozen pretrained LM), with
 * power. Arms, in order (each resumable under `<run>/arms/`):
 *
 *   0. data       the `omni` speech corpus with acoustic nuisance on every waveform (speed/pitch
 *                 by resampling, gain, white noise at 15-30 dB SNR; seeded per utterance)
 *   1. reader-lm  the frozen LM. Pretrained on the world's text plus read-back sequences (a
 *                 sentence laid out over as many slots as the 12.5 Hz audio prefix, each word
 *                 repeated a few times, then `<transcribe>` and the sentence): the skill a
 *                 pretrained LLM brings to §3.2.2 and a text-only tiny LM lacks (with `readBack`
 *                 0 the LM predicts transcripts from its text prior and ignores the prefix)
 *   2. tokenizer-T1-s<i>, tokenizer-T2-s<i> (i < seeds), tokenizer-T2w<w>-s<i> (extra weights)
 *   3. probe-<tokenizer arm>-k<k>: a recogniser on the first k layers' codes (CER per utterance);
 *                 the further weights get the all-layer probe only
 */
import { disposeTree, jit, np, refTree, type Array } from "../../engine/index.js";
import { initLM, lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { loadRunParams } from "../../train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { SAMPLE_RATE, type Utterance } from "./speech.js";
import { applyNuisance } from "./nuisance.js";
import { formats } from "./sequences.js";
import { DOWNSAMPLE } from "./tokenizer.js";
import { cachedJit, dataSummary, lmConfigOf, pickText, prepareOmniData, textExample, TEXT_LEN, type OmniData } from "./prepare.js";
import { trainLmFromScratch } from "./text-lm.js";
import { encodeAll, loadTokenizer, meanFrameBaseline, tokConfig, trainTokenizer, type TokArm } from "./tokenizer-experiment.js";
import { constantTranscriptBaseline, trainProbe } from "./probe-experiment.js";
import { asOmniConfig, type TokStudyConfig } from "./tokenizer-study-config.js";
import { pretrainedEncoder, trainWhisper, type WhisperSummary } from "./whisper-experiment.js";
import type { Codes } from "./sequences.js";
import type { ProbeSummary, TokArmSummary } from "./summary.js";
import type { TokStudySummary, TokStudyRun, ReaderLmSummary } from "./tokenizer-study-summary.js";

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

// ---------------------------------------------------------------- acoustic nuisance (nuisance.ts)

export { applyNuisance } from "./nuisance.js";

/** The `omni` speech data with nuisance on every utterance (data seed fixed by `cfg.seed`). */
export async function prepareStudyData(cfg: TokStudyConfig, ctx: ExperimentContext): Promise<{ data: OmniData; nuisance: TokStudySummary["nuisance"] }> {
  const stats = { speed: [] as number[], gainDb: [] as number[], snrDb: [] as number[] };
  // The mels are computed once, of the perturbed waveforms (the clean ones' are never read here).
  const perturb = (clean: Utterance[]) => ({
    utts: clean.map((u, i) => {
      const r = applyNuisance(u.samples, Rng.stream(cfg.seed, `nuisance:${i}`), cfg.study.nuisance);
      stats.speed.push(r.speed);
      stats.gainDb.push(r.gainDb);
      stats.snrDb.push(r.snrDb);
      return { ...u, samples: r.samples };
    }),
    maxFrames: Math.ceil((cfg.speech.maxSeconds * 100) / Math.min(1, cfg.study.nuisance.speed[0])),
  });
  const data = await prepareOmniData(asOmniConfig(cfg), ctx.run, ctx.log, { mels: perturb });
  const range = (xs: number[]) => [Math.min(...xs), Math.max(...xs)] as [number, number];
  return { data, nuisance: { speed: range(stats.speed), gainDb: range(stats.gainDb), snrDb: range(stats.snrDb), seconds: data.utts.reduce((a, u) => a + u.samples.length, 0) / SAMPLE_RATE } };
}

// ---------------------------------------------------------------- the frozen reader LM

/**
 * A read-back sequence: `P` prefix slots holding the sentence's words, each repeated 1-`maxRepeats` times
 * after 0-2 `<audio_pad>` slots and followed by `<audio_pad>` to the end (the layout of a 12.5 Hz
 * audio prefix), then `<transcribe>` w1..wn with targets w1..wn `<eos>` (the T2 transcript layout).
 */
export function readBackSequence(words: number[], P: number, ids: { pad: number; transcribe: number; eos: number }, rng: Rng, maxRepeats = 4): { ids: number[]; tgt: number[] } {
  const lead = rng.int(3);
  const reps = words.map(() => 1 + rng.int(maxRepeats));
  // Too long for the prefix: take repeats off the most-repeated words, then off the lead.
  while (lead + reps.reduce((a, b) => a + b, 0) > P && reps.some((r) => r > 1)) reps[reps.indexOf(Math.max(...reps))]--;
  const prefix: number[] = [...Array.from({ length: lead }, () => ids.pad), ...words.flatMap((w, i) => Array.from({ length: reps[i] }, () => w))].slice(0, P);
  while (prefix.length < P) prefix.push(ids.pad);
  const seq = [...prefix, ids.transcribe, ...words];
  const tgt = [...prefix.map(() => -1), ...words, ids.eos];
  return { ids: seq, tgt };
}

/** [B, T] tokens/targets/mask of read-back or plain-text sequences (length T, padded). */
export function readerBatch(data: OmniData, cfg: TokStudyConfig, rng: Rng, B: number, T: number, P: number) {
  const f = formats(data.tok, { ...asOmniConfig(cfg).omni.vision, image: 28 });
  const ids = { pad: data.tok.id("<audio_pad>"), transcribe: data.tok.id("<transcribe>"), eos: data.tok.id("<eos>") };
  const statements = data.textTrain.filter((x) => x.s).map((x) => x.s!);
  const tokens = new Int32Array(B * T);
  const tgt = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    let seq: number[];
    let out: number[];
    if (rng.next() < cfg.study.readBack) {
      const r = readBackSequence(data.tok.encode(rng.pick(statements)), P, ids, rng, cfg.study.readBackRepeats);
      [seq, out] = [r.ids, r.tgt];
    } else {
      const e = textExample(f, pickText(data, rng));
      [seq, out] = [e.ids, e.textTgt];
    }
    seq.slice(0, T).forEach((id, t) => {
      tokens[b * T + t] = id;
      if (out[t] >= 0) {
        tgt[b * T + t] = out[t];
        mask[b * T + t] = 1;
      }
    });
  }
  return [np.array(tokens, { dtype: np.int32 }).reshape([B, T]), np.array(tgt, { dtype: np.int32 }).reshape([B, T]), np.array(mask).reshape([B, T])];
}

/** The reader LM's transcript NLL per token after a read-back prefix of the same vs another held-out statement. */
async function readBackSanity(lm: LMParams, lmCfg: LMConfig, data: OmniData, P: number, seed: number, maxRepeats: number): Promise<{ trueNll: number; shuffledNll: number; n: number }> {
  const fwd = cachedJit(["reader", lmCfg], () => jit((p: LMParams, x: Array) => lmForward(p, lmCfg, x).logits));
  const ids = { pad: data.tok.id("<audio_pad>"), transcribe: data.tok.id("<transcribe>"), eos: data.tok.id("<eos>") };
  const sents = data.textEval.filter((x) => x.s).map((x) => data.tok.encode(x.s!));
  const rng = Rng.stream(seed, "reader-sanity");
  const T = P + TEXT_LEN;
  const V = lmCfg.vocabSize;
  const nll = [0, 0];
  let n = 0;
  for (const [k, shift] of [0, 1].entries()) {
    const seqs = sents.map((w, i) => {
      const pre = readBackSequence(sents[(i + shift) % sents.length], P, ids, rng, maxRepeats).ids.slice(0, P);
      return { ids: [...pre, ids.transcribe, ...w].slice(0, T), tgt: [...pre.map(() => -1), ...w, ids.eos].slice(0, T) };
    });
    const x = new Int32Array(seqs.length * T);
    seqs.forEach((s, b) => x.set(s.ids, b * T));
    const logits = (await fwd(refTree(lm), np.array(x, { dtype: np.int32 }).reshape([seqs.length, T])).data()) as Float32Array;
    let count = 0;
    seqs.forEach((s, b) =>
      s.tgt.forEach((y, t) => {
        if (y < 0) return;
        const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
        let mx = -Infinity;
        for (const v of row) mx = Math.max(mx, v);
        let z = 0;
        for (const v of row) z += Math.exp(v - mx);
        nll[k] += Math.log(z) - (row[y] - mx);
        count++;
      }),
    );
    nll[k] /= Math.max(1, count);
    n = seqs.length;
  }
  return { trueNll: nll[0], shuffledNll: nll[1], n };
}

export async function trainReaderLM(cfg: TokStudyConfig, data: OmniData, run: RunDir, ctx: ExperimentContext): Promise<ReaderLmSummary> {
  const lmCfg = lmConfigOf(asOmniConfig(cfg), data.tok);
  const P = data.mels.T / DOWNSAMPLE;
  const T = P + TEXT_LEN;
  if (T > lmCfg.contextLength) throw new Error(`omni-tokenizer: the reader LM's context (${lmCfg.contextLength}) is shorter than the audio prefix + transcript (${T})`);
  const B = cfg.textLm.train.batchSize;
  const { res, nParams } = await trainLmFromScratch(lmCfg, cfg.seed, cfg.textLm.train, B * T, "data:reader-lm", (rng) => readerBatch(data, cfg, rng, B, T, P), run, ctx, "reader-lm");
  const sanity = await readBackSanity(res.params, lmCfg, data, P, cfg.seed, cfg.study.readBackRepeats);
  disposeTree(res.params);
  disposeTree(res.opt);
  return { status: res.status, steps: res.step, params: nParams, finalLoss: res.lastLoss, readBack: cfg.study.readBack, readBackRepeats: cfg.study.readBackRepeats, readBackSanity: sanity };
}

// ---------------------------------------------------------------- the study

/** Arm name of a tokenizer: T1 / T2 at the main weight, or T2 at another weight. */
export const tokArmName = (arm: TokArm, seed: number, weight?: number) => `tokenizer-${arm}${weight === undefined ? "" : `w${weight}`}-s${seed}`;

/** The seeds of the study: the run seed, then the next ones. */
export const studySeeds = (cfg: TokStudyConfig, n: number) => Array.from({ length: n }, (_, i) => cfg.seed + i);

export async function runTokenizerStudy(cfg: TokStudyConfig, ctx: ExperimentContext): Promise<TokStudySummary> {
  const { data, nuisance } = await prepareStudyData(cfg, ctx);
  ctx.log(`data: ${data.trainIdx.length} training / ${data.evalIdx.length} held-out utterances; nuisance speed ${nuisance.speed.map((x) => x.toFixed(2)).join("-")}, SNR ${nuisance.snrDb.map((x) => x.toFixed(1)).join("-")} dB`);
  const armDir = (a: string) => ctx.run.path("arms", a);
  const reader = await runArm(ctx, "reader-lm", { textLm: cfg.textLm, readBack: cfg.study.readBack, readBackRepeats: cfg.study.readBackRepeats }, (r) => trainReaderLM(cfg, data, r, ctx));
  ctx.log(`reader-lm: read-back transcript NLL ${reader.readBackSanity.trueNll.toFixed(3)} (true prefix) vs ${reader.readBackSanity.shuffledNll.toFixed(3)} (another sentence's)`);
  const B = cfg.tokenizer.train.batchSize;
  const allIdx = [...data.trainIdx, ...data.evalIdx];
  // With `tokenizer.pretrainEncoder.steps` > 0 (off at every preset) the encoder is first trained as a recogniser (the
  // paper's Whisper-large encoder in small), once: every tokenizer arm, T1 and T2 of every seed, starts from that encoder
  // and trains it at `encLrScale` × its rate (0: frozen, then T1 and T2 differ only in data order, sem adapter and decoder).
  const pre = cfg.tokenizer.pretrainEncoder;
  let whisper: WhisperSummary | undefined;
  if (pre.steps > 0) {
    const wcfg = asOmniConfig(cfg);
    whisper = await runArm(ctx, "whisper-pretrain", { pre, tok: tokConfig(wcfg, "T2") }, (r) => trainWhisper(wcfg, data, tokConfig(wcfg, "T2"), r, ctx, ctx.log));
    ctx.log(`whisper-pretrain: word accuracy held-out voices ${pct(whisper.heldOutWordAcc)}, training utterances ${pct(whisper.trainWordAcc)} after ${whisper.steps} steps`);
  }
  const encoderOpts = (ocfg: ReturnType<typeof asOmniConfig>) =>
    pre.steps > 0 ? { encoder: pretrainedEncoder(ocfg, data, tokConfig(ocfg, "T2"), armDir("whisper-pretrain")), encLrScale: pre.encLrScale } : {};

  /** Every utterance's codes from a finished tokenizer arm's checkpoint. */
  const encodeStored = async (ocfg: ReturnType<typeof asOmniConfig>, arm: TokArm, name: string): Promise<Map<number, Codes>> => {
    const p = loadTokenizer(ocfg, data, arm, armDir(name));
    const codes = await encodeAll(p, tokConfig(ocfg, arm), data, allIdx, B);
    disposeTree(p);
    return new Map<number, Codes>(allIdx.map((u, i) => [u, codes[i]]));
  };

  /** Train one tokenizer arm and its probes. */
  const tokenizerWithProbes = async (arm: TokArm, seed: number, weight?: number): Promise<{ tokenizer: TokArmSummary; probes: Record<string, ProbeSummary> }> => {
    // The further weights get the all-layer probe only (the budget); the main T1/T2 pairs get every probed layer count.
    const layers = weight === undefined ? cfg.probe.layers : [Math.max(...cfg.probe.layers)];
    const ocfg = asOmniConfig(cfg, seed, weight ?? cfg.tokenizer.transcriptWeight);
    const name = tokArmName(arm, seed, weight);
    // The evaluation's codes of every utterance feed the probes; a resumed (already finished) arm encodes them again.
    let evalCodes: Map<number, Codes> | undefined;
    const tokenizer = await runArm(ctx, name, tokConfig(ocfg, arm), (r) => {
      const enc = encoderOpts(ocfg);
      return trainTokenizer(ocfg, data, arm, r, ctx, armDir("reader-lm"), { ...enc, onCodes: (c) => (evalCodes = c) }).finally(() => enc.encoder && disposeTree(enc.encoder));
    });
    const sanity = tokenizer.transcriptSanity;
    ctx.log(`${name}: mel L1 1/8 layers ${tokenizer.reconL1ByLayers[0].toFixed(3)}/${tokenizer.reconL1ByLayers.at(-1)!.toFixed(3)}${sanity ? `, frozen-LM transcript NLL true ${sanity.trueNll.toFixed(3)} vs shuffled ${sanity.shuffledNll.toFixed(3)} per token` : ""}`);
    const codeMap = evalCodes ?? (await encodeStored(ocfg, arm, name));
    const probes: Record<string, ProbeSummary> = {};
    for (const k of layers) {
      const label = `probe-${name.slice("tokenizer-".length)}-k${k}`;
      probes[`k${k}`] = await runArm(ctx, label, { ...cfg.probe, tokenizer: name, layers: k }, (r) => trainProbe(ocfg, data, codeMap, cfg.tokenizer.codebookSizes, k, r, ctx, label));
      ctx.log(`${label}: held-out CER ${pct(probes[`k${k}`].cer)}`);
    }
    return { tokenizer, probes };
  };

  const runs: TokStudyRun[] = [];
  for (const seed of studySeeds(cfg, cfg.study.seeds)) {
    const t1 = await tokenizerWithProbes("T1", seed);
    const t2 = await tokenizerWithProbes("T2", seed);
    runs.push({ seed, weight: cfg.tokenizer.transcriptWeight, T1: t1, T2: t2 });
  }
  const weights: TokStudySummary["weights"] = [];
  for (const w of cfg.study.extraWeights) {
    const wr: TokStudySummary["weights"][number] = { weight: w, runs: [] };
    for (const seed of studySeeds(cfg, cfg.study.extraWeightSeeds)) wr.runs.push({ seed, ...(await tokenizerWithProbes("T2", seed, w)) });
    weights.push(wr);
  }
  return {
    data: dataSummary(data),
    nuisance,
    readerLm: reader,
    tokenizerBaseline: meanFrameBaseline(data),
    probeBaseline: constantTranscriptBaseline(data),
    probeLayers: cfg.probe.layers,
    runs,
    weights,
    ...(whisper ? { whisperPretrain: { ...whisper, encLrScale: pre.encLrScale } } : {}),
  };
}

/** Load the frozen reader LM of a finished run (pilots). */
export function loadReaderLM(cfg: TokStudyConfig, data: OmniData, dir: string): LMParams {
  return loadRunParams(dir, initLM(lmConfigOf(asOmniConfig(cfg), data.tok), cfg.seed));
}
