/**
 * Data preparation for the omni experiment, and the small helpers every sub-experiment shares:
 * espeak-ng speech (training voices / held-out voices, held-out sentences and questions), its
 * Whisper log-mel, MNIST digits, the fixed-vocabulary text corpus; text and mel batches; the
 * model configs derived from the experiment config; a cache of jitted evaluation functions.
 */
import { np, type Array } from "../../engine/index.js";
import type { LMConfig } from "../../nn/transformer.js";
import { warmupCosine } from "../../optim/schedule.js";
import type { RunDir } from "../../train/run-dir.js";
import type { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { buildSpeech, planSpeech, questionSplit, statementSplit, SAMPLE_RATE, type Utterance } from "./speech.js";
import { allQuestions, WordTokenizer } from "./world.js";
import { frames12, loadDigits, melFeatures, type Digit, type MelSet } from "./data.js";
import { DOWNSAMPLE } from "./tokenizer.js";
import type { OmniConfig } from "./model.js";
import { formats, type Codes, type Example, type Formats } from "./sequences.js";

export type TextItem = { q?: string; a?: string; s?: string };

export type OmniData = {
  tok: WordTokenizer;
  utts: Utterance[];
  mels: MelSet;
  trainIdx: number[];
  evalIdx: number[];
  digits: { train: Digit[]; test: Digit[] };
  textTrain: TextItem[];
  textEval: TextItem[];
};

/**
 * The speech corpus, its mels, the text and the digits. `opts.mels`: the (utterances, frame count) the mels are computed
 * from, when not the synthesised ones (the tokenizer study's nuisance): the mels are computed once, of those.
 */
export async function prepareOmniData(
  cfg: OmniExperimentConfig,
  run: RunDir,
  log: (m: string) => void,
  opts: { mels?: (utts: Utterance[], maxFrames: number) => { utts: Utterance[]; maxFrames: number } } = {},
): Promise<OmniData> {
  const plan = planSpeech({ ...cfg.speech }, cfg.seed);
  const cacheDir = cfg.speech.cacheDir ?? run.path("data", "speech");
  let last = 0;
  const synthesised = await buildSpeech(plan, cacheDir, cfg.speech.maxSeconds, (d, n) => {
    if (d === n || d - last >= 50) {
      last = d;
      log(`speech: ${d}/${n} utterances (cache ${cacheDir})`);
    }
  });
  const from = opts.mels ? opts.mels(synthesised, Math.round(cfg.speech.maxSeconds * 100)) : { utts: synthesised, maxFrames: Math.round(cfg.speech.maxSeconds * 100) };
  const utts = from.utts;
  const mels = melFeatures(utts, cfg.speech.nMels, from.maxFrames);
  const trainIdx = utts.flatMap((u, i) => (u.split === "train" ? [i] : []));
  const evalIdx = utts.flatMap((u, i) => (u.split === "eval" ? [i] : []));
  const st = statementSplit(cfg.seed);
  const qa = allQuestions().map((q) => ({ q: q.text, a: q.answer }));
  const textTrain = [...st.train.map((s) => ({ s })), ...qa];
  const textEval = [...st.heldOut.slice(0, 64).map((s) => ({ s })), ...qa];
  run.writeJson("data.json", {
    utterances: synthesised.map((u) => ({ id: u.id, text: u.text, voice: u.voice, speed: u.speed, pitch: u.pitch, role: u.role, split: u.split, seconds: u.samples.length / SAMPLE_RATE })),
    heldOutQuestions: questionSplit(cfg.speech.heldOutQuestions, cfg.seed, cfg.speech.questionSet).heldOut.map((q) => q.text),
    heldOutStatements: st.heldOut.length,
  });
  return { tok: new WordTokenizer(), utts, mels, trainIdx, evalIdx, digits: loadDigits(cfg.digits.trainPerDigit, cfg.digits.testPerDigit), textTrain, textEval };
}

/** The size of the speech corpus (for the report's structure table). */
export function dataSummary(data: OmniData): { utterances: number; speechSeconds: number; evalUtterances: number } {
  return { utterances: data.utts.length, speechSeconds: data.utts.reduce((a, u) => a + u.samples.length, 0) / SAMPLE_RATE, evalUtterances: data.evalIdx.length };
}

/** Training and evaluation material of the omni stages: utterances by role, their codes. */
export type Pools = {
  f: Formats;
  codes: Map<number, Codes>;
  byRole: Record<string, number[]>;
  answers: Map<string, number[]>;
};

export function makePools(data: OmniData, cfg: OmniExperimentConfig, codes: Map<number, Codes>): Pools {
  const f = formats(data.tok, { ...cfg.omni.vision, image: 28 }, cfg.omni.speechQaFormat);
  const byRole: Record<string, number[]> = {};
  for (const u of data.trainIdx) (byRole[data.utts[u].role] ??= []).push(u);
  for (const u of data.evalIdx) (byRole[`eval-${data.utts[u].role}`] ??= []).push(u);
  const answers = new Map<string, number[]>();
  for (const u of byRole.answer ?? []) {
    const w = data.utts[u].text;
    answers.set(w, [...(answers.get(w) ?? []), u]);
  }
  return { f, codes, byRole, answers };
}

// ---------------------------------------------------------------- configs and schedules

export const lmConfigOf = (cfg: OmniExperimentConfig, tok: WordTokenizer): LMConfig => ({ ...cfg.textLm.model, vocabSize: tok.vocabSize });

export function omniConfigOf(cfg: OmniExperimentConfig, data: OmniData): OmniConfig {
  return {
    lm: lmConfigOf(cfg, data.tok),
    codebookSizes: cfg.tokenizer.codebookSizes,
    depthLayers: cfg.omni.depthLayers,
    depthHeads: cfg.omni.depthHeads,
    depthFfnRatio: cfg.omni.depthFfnRatio,
    vision: { ...cfg.omni.vision, image: 28 },
    audioLossWeight: cfg.omni.audioLossWeight,
  };
}

/** Warm-up then cosine decay to 10 % of the peak. */
export const sched = (t: { steps: number; lr: number; warmupSteps: number }) => (s: number) => warmupCosine(s, { lr: t.lr, warmupSteps: t.warmupSteps, totalSteps: t.steps, minLrRatio: 0.1 });

/** Jitted evaluation functions, kept across arms and stages so each compiles once per config. */
const jitCache = new Map<string, unknown>();
export function cachedJit<F>(key: unknown, make: () => F): F {
  const k = JSON.stringify(key);
  if (!jitCache.has(k)) jitCache.set(k, make());
  return jitCache.get(k) as F;
}

/** Argmax over `row` (first index wins ties). */
export function argmax(row: ArrayLike<number>, from = 0, to = row.length): number {
  let arg = from;
  for (let v = from + 1; v < to; v++) if (row[v] > row[arg]) arg = v;
  return arg;
}

/** Argmax of row `pos` of example `b` in logits [B, T, V]. */
export const argmaxAt = (logits: Float32Array, b: number, pos: number, T: number, V: number): number => argmax(logits.subarray((b * T + pos) * V, (b * T + pos + 1) * V));

// ---------------------------------------------------------------- text batches

/** Pack text examples (ids, next-token targets) into [B, T] arrays. */
export function packText(exs: Example[], B: number, T: number): { tokens: Array; tgt: Array; mask: Array } {
  const tokens = new Int32Array(B * T);
  const tgt = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  exs.forEach((e, b) => {
    e.ids.forEach((id, t) => {
      tokens[b * T + t] = id;
      if (e.textTgt[t] >= 0) {
        tgt[b * T + t] = e.textTgt[t];
        mask[b * T + t] = 1;
      }
    });
  });
  return { tokens: np.array(tokens, { dtype: np.int32 }).reshape([B, T]), tgt: np.array(tgt, { dtype: np.int32 }).reshape([B, T]), mask: np.array(mask).reshape([B, T]) };
}

/** Text replay/pretraining sample: half statements, half written questions (the world's facts). */
export function pickText(data: OmniData, rng: Rng): TextItem {
  const qa = data.textTrain.filter((x) => x.q);
  const st = data.textTrain.filter((x) => x.s);
  return rng.next() < 0.5 ? rng.pick(qa) : rng.pick(st);
}
export const textExample = (f: Formats, x: TextItem) => (x.s ? f.text(x.s) : f.qaText(x.q!, x.a!));

// ---------------------------------------------------------------- speech batches

/** <transcribe> + up to 6 words + <eos> (+1 spare). */
export const TEXT_LEN = 9;

/** Text part of the frozen-LM transcript loss / probe: [<transcribe>, w…] → [w…, <eos>]. */
export function transcriptArrays(data: OmniData, idx: number[], L: number) {
  const B = idx.length;
  const tin = new Int32Array(B * L);
  const tgt = new Int32Array(B * L);
  const m = new Float32Array(B * L);
  idx.forEach((u, b) => {
    const w = data.tok.encode(data.utts[u].text);
    const seq = [data.tok.id("<transcribe>"), ...w];
    const out = [...w, data.tok.id("<eos>")];
    for (let t = 0; t < Math.min(L, seq.length); t++) {
      tin[b * L + t] = seq[t];
      tgt[b * L + t] = out[t];
      m[b * L + t] = 1;
    }
  });
  return { textIn: np.array(tin, { dtype: np.int32 }).reshape([B, L]), textTgt: np.array(tgt, { dtype: np.int32 }).reshape([B, L]), textMask: np.array(m).reshape([B, L]) };
}

/** Mel of utterances `idx` [B, T, M] with 100 Hz and 12.5 Hz validity masks. */
export function melBatch(data: OmniData, idx: number[]) {
  const { T, nMels: M } = data.mels;
  const B = idx.length;
  const mel = new Float32Array(B * T * M);
  const m100 = new Float32Array(B * T);
  const m12 = new Float32Array((B * T) / DOWNSAMPLE);
  idx.forEach((u, b) => {
    mel.set(data.mels.mel.subarray(u * T * M, (u + 1) * T * M), b * T * M);
    m100.fill(1, b * T, b * T + data.mels.frames[u]);
    m12.fill(1, (b * T) / DOWNSAMPLE, (b * T) / DOWNSAMPLE + frames12(data.mels.frames[u]));
  });
  return { mel: np.array(mel).reshape([B, T, M]), mask100: np.array(m100).reshape([B, T]), mask12: np.array(m12).reshape([B, T / DOWNSAMPLE]), m12host: m12 };
}
