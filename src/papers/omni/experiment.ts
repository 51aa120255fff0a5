/**
 * `tinyfoundry run omni`: the tiny Baichuan-Omni-1.5 experiment (arXiv 2501.15368).
 *
 *   0. data     espeak-ng speech (train voices / held-out voices, held-out sentences), Whisper
 *               log-mel, MNIST digits, the fixed-vocabulary text corpus
 *   1. text-lm  the text-only backbone LM (the "pretrained LLM")
 *   2. tokenizer-T1 (reconstruction only) and tokenizer-T2 (+ frozen-LM transcript loss): the
 *               12.5 Hz 8-layer RVQ tokenizer; reconstruction vs RVQ layers used, codebook usage,
 *               bitrate; probe-<T>-k<n>: a recogniser trained on the first n layers' codes (CER)
 *   3. s1-*     the paper's stages in order (freeze table, LR ratios, text replay), each a
 *               resumable arm starting from the previous one; s2-joint: one joint stage from the
 *               text LM with no replay. Both use the T2 tokenizer's codes.
 *   4. report   tables beside the paper's numbers, audio (WAV) and image samples.
 *
 * Library-quiet: progress leaves through `ctx`; files go only into the run directory.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crossEntropy, jit, np, tree, type Array, type JsTree } from "../../engine/index.js";
import { lmForward, initLM, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { loadCheckpoint } from "../../train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { encodeWav } from "../../data/audio.js";
import { vocodeLogMel } from "../../data/mel.js";
import type { OmniExperimentConfig } from "./config.js";
import { buildSpeech, planSpeech, questionSplit, statementSplit, SAMPLE_RATE, type Utterance } from "./speech.js";
import { allQuestions, DIGITS, WordTokenizer } from "./world.js";
import { frames12, loadDigits, melFeatures, type Digit, type MelSet } from "./data.js";
import {
  DOWNSAMPLE,
  initTokenizer,
  tokenizerDecode,
  tokenizerEncode,
  tokenizerLoss,
  tokenizerPost,
  TOKENIZER_METRICS,
  type TokenizerConfig,
  type TokParams,
} from "./tokenizer.js";
import { codebookUsage, rvqBitrate } from "./rvq.js";
import { characterErrorRate, initProbe, probeLogits, probeLoss, type ProbeParams } from "./probe.js";
import { makeGroupStep, groupOptInit, maxLr, type Params } from "./train-step.js";
import { depthLogits, initOmni, omniForward, omniLoss, PARAM_GROUPS, type OmniConfig, type OmniParams } from "./model.js";
import { batchFromList, batchList, formats, packBatch, type Codes, type DataKind, type Example } from "./sequences.js";
import { JOINT_STAGE, PAPER_STAGES, stageGroupLr, type StageSpec } from "./stages.js";
import { writeOmniReport } from "./report.js";

// ---------------------------------------------------------------- data

/** Jitted evaluation functions, kept across arms and stages so each compiles once per config. */
const jitCache = new Map<string, unknown>();
function cachedJit<F>(key: unknown, make: () => F): F {
  const k = JSON.stringify(key);
  if (!jitCache.has(k)) jitCache.set(k, make());
  return jitCache.get(k) as F;
}

export type OmniData = {
  tok: WordTokenizer;
  utts: Utterance[];
  mels: MelSet;
  trainIdx: number[];
  evalIdx: number[];
  digits: { train: Digit[]; test: Digit[] };
  textTrain: { q?: string; a?: string; s?: string }[];
  textEval: { q?: string; a?: string; s?: string }[];
};

export async function prepareOmniData(cfg: OmniExperimentConfig, run: RunDir, log: (m: string) => void): Promise<OmniData> {
  const plan = planSpeech({ ...cfg.speech }, cfg.seed);
  const cacheDir = cfg.speech.cacheDir ?? run.path("data", "speech");
  let last = 0;
  const utts = await buildSpeech(plan, cacheDir, cfg.speech.maxSeconds, (d, n) => {
    if (d === n || d - last >= 50) {
      last = d;
      log(`speech: ${d}/${n} utterances (cache ${cacheDir})`);
    }
  });
  const mels = melFeatures(utts, cfg.speech.nMels, Math.round(cfg.speech.maxSeconds * 100));
  const trainIdx = utts.flatMap((u, i) => (u.split === "train" ? [i] : []));
  const evalIdx = utts.flatMap((u, i) => (u.split === "eval" ? [i] : []));
  const st = statementSplit(cfg.seed);
  const qa = allQuestions().map((q) => ({ q: q.text, a: q.answer }));
  const textTrain = [...st.train.map((s) => ({ s })), ...qa];
  const textEval = [...st.heldOut.slice(0, 64).map((s) => ({ s })), ...qa];
  run.writeJson("data.json", {
    utterances: utts.map((u) => ({ id: u.id, text: u.text, voice: u.voice, speed: u.speed, pitch: u.pitch, role: u.role, split: u.split, seconds: u.samples.length / SAMPLE_RATE })),
    heldOutQuestions: questionSplit(cfg.speech.heldOutQuestions, cfg.seed).heldOut.map((q) => q.text),
    heldOutStatements: st.heldOut.length,
  });
  return { tok: new WordTokenizer(), utts, mels, trainIdx, evalIdx, digits: loadDigits(cfg.digits.trainPerDigit, cfg.digits.testPerDigit), textTrain, textEval };
}

const lmConfigOf = (cfg: OmniExperimentConfig, tok: WordTokenizer): LMConfig => ({ ...cfg.textLm.model, vocabSize: tok.vocabSize });

function loadParams<P>(armDir: string, template: P): P {
  const f = `${armDir}/checkpoints/latest.safetensors`;
  if (!existsSync(f)) throw new Error(`omni: arm ${armDir} has no checkpoint`);
  return loadCheckpoint(f, { params: template as unknown as Record<string, unknown> }).trees.params as P;
}

const sched = (t: { steps: number; lr: number; warmupSteps: number }) => (s: number) => warmupCosine(s, { lr: t.lr, warmupSteps: t.warmupSteps, totalSteps: t.steps, minLrRatio: 0.1 });

// ---------------------------------------------------------------- text LM and text evaluation

/** Pack text examples (ids, next-token targets) into [B, T] arrays. */
function packText(exs: Example[], B: number, T: number): { tokens: Array; tgt: Array; mask: Array } {
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

type TextItem = { q?: string; a?: string; s?: string };
/** Text replay/pretraining sample: half statements, half written questions (the world's facts). */
function pickText(data: OmniData, rng: Rng): TextItem {
  const qa = data.textTrain.filter((x) => x.q);
  const st = data.textTrain.filter((x) => x.s);
  return rng.next() < 0.5 ? rng.pick(qa) : rng.pick(st);
}
const textExample = (f: ReturnType<typeof formats>, x: TextItem) => (x.s ? f.text(x.s) : f.qaText(x.q!, x.a!));

/** Held-out text NLL (per token) and written-question accuracy of an LM. */
async function evalText(lm: LMParams, lmCfg: LMConfig, data: OmniData, f: ReturnType<typeof formats>, B: number, T: number): Promise<{ textNll: number; textQaAcc: number }> {
  const fwd = cachedJit(["text", lmCfg], () => jit((p: LMParams, tokens: Array) => lmForward(p, lmCfg, tokens).logits));
  let nll = 0;
  let n = 0;
  let correct = 0;
  let nq = 0;
  const items = data.textEval;
  for (let i = 0; i < items.length; i += B) {
    const chunk = items.slice(i, i + B);
    const exs = chunk.map((x) => textExample(f, x));
    while (exs.length < B) exs.push(exs[0]);
    const { tokens, tgt, mask } = packText(exs, B, T);
    tgt.dispose();
    mask.dispose();
    const logits = (await fwd(tree.ref(lm as unknown as JsTree<Array>) as never, tokens).data()) as Float32Array;
    const V = lmCfg.vocabSize;
    chunk.forEach((x, b) => {
      const e = exs[b];
      e.textTgt.forEach((y, t) => {
        if (y < 0) return;
        const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
        let mx = -Infinity;
        let arg = 0;
        for (let v = 0; v < V; v++) if (row[v] > mx) [mx, arg] = [row[v], v];
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(row[v] - mx);
        nll += Math.log(z) - (row[y] - mx);
        n++;
        if (x.q && e.ids[t] === data.tok.id("<answer>")) {
          nq++;
          if (arg === y) correct++;
        }
      });
    });
  }
  return { textNll: nll / Math.max(1, n), textQaAcc: correct / Math.max(1, nq) };
}

async function trainTextLM(cfg: OmniExperimentConfig, data: OmniData, run: RunDir, ctx: ExperimentContext, arm: string) {
  const lmCfg = lmConfigOf(cfg, data.tok);
  const f = formats(data.tok, { ...cfg.omni.vision, image: 28 });
  const { batchSize: B, steps } = cfg.textLm.train;
  const T = cfg.textLm.seqLen;
  const lossFn = (p: LMParams, x: Array, y: Array, m: Array) => crossEntropy(lmForward(p, lmCfg, x).logits, y, m);
  const probe = initLM(lmCfg, cfg.seed);
  const nParams = paramCount(probe);
  tree.dispose(probe as unknown as JsTree<Array>);
  const step = makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: decayMaskOf(initLM(lmCfg, cfg.seed)) });
  const res = await trainLoop<LMParams>({
    run,
    totalSteps: steps,
    init: () => {
      const params = initLM(lmCfg, cfg.seed);
      return { params, opt: adamwInit(params) };
    },
    trainStep: step,
    rngs: { data: Rng.stream(cfg.seed, "data:text-lm") },
    nextBatch: (_s, rngs) => {
      const exs = Array.from({ length: B }, () => textExample(f, pickText(data, rngs.data)));
      const { tokens, tgt, mask } = packText(exs, B, T);
      return [tokens, tgt, mask];
    },
    lr: sched(cfg.textLm.train),
    tokensPerStep: B * T,
    evalEvery: steps,
    checkpointEvery: steps,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, arm),
  });
  step.dispose();
  const ev = await evalText(res.params, lmCfg, data, f, B, T);
  tree.dispose(res.params as unknown as JsTree<Array>);
  tree.dispose(res.opt as unknown as JsTree<Array>);
  return { status: res.status, steps: res.step, params: nParams, finalLoss: res.lastLoss, ...ev };
}

function decayMaskOf(p: unknown): unknown {
  // Decay only linear weights named `w` (the foundation's rule); the probe params are disposed here.
  const mask = (x: unknown, key: string): unknown => {
    if (x && typeof x === "object" && "shape" in (x as object) && !Array.isArray(x)) return key === "w";
    if (Array.isArray(x)) return x.map((y) => mask(y, key));
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mask(v, k)]));
    return false;
  };
  const m = mask(p, "");
  tree.dispose(p as JsTree<Array>);
  return m;
}

// ---------------------------------------------------------------- tokenizer

export type TokArmSummary = {
  status: string;
  steps: number;
  finalMelLoss: number;
  transcriptLoss: number;
  /** Held-out mel L1 (normalised log-mel units) decoding with the first k layers, k = 1..8. */
  reconL1ByLayers: number[];
  usage: { used: number; perplexity: number }[];
  bitrate: number;
  frameRate: number;
};

function tokConfig(cfg: OmniExperimentConfig, arm: "T1" | "T2"): TokenizerConfig & { train: OmniExperimentConfig["tokenizer"]["train"] } {
  const t = cfg.tokenizer;
  return { ...t, nMels: cfg.speech.nMels, transcriptWeight: arm === "T1" ? 0 : t.transcriptWeight };
}

/** Text part of the frozen-LM transcript loss / probe: [<transcribe>, w…] → [w…, <eos>]. */
function transcriptArrays(data: OmniData, idx: number[], L: number) {
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

const TEXT_LEN = 9; // <transcribe> + up to 6 words + <eos> (+1 spare)

function melBatch(data: OmniData, idx: number[]) {
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

async function trainTokenizer(cfg: OmniExperimentConfig, data: OmniData, arm: "T1" | "T2", run: RunDir, ctx: ExperimentContext, lmParamsDir: string): Promise<TokArmSummary> {
  const tcfg = tokConfig(cfg, arm);
  const lmCfg = lmConfigOf(cfg, data.tok);
  const { batchSize: B, steps, lr } = tcfg.train;
  const Kmax = Math.max(...tcfg.codebookSizes);
  const groupLr: Record<string, number> = arm === "T2" ? { net: lr, sem: lr } : { net: lr };
  const init = () => {
    const lm = arm === "T2" ? loadParams(lmParamsDir, initLM(lmCfg, cfg.seed)) : undefined;
    const params = initTokenizer(tcfg, cfg.seed, lm ? { params: lm, cfg: lmCfg } : undefined);
    return { params: params as unknown as Params, opt: groupOptInit(params as unknown as Params, groupLr) };
  };
  const step = makeGroupStep<Params>(
    (p, mel, mask100, mask12, textIn, textTgt, textMask, candIdx) => tokenizerLoss(p as unknown as TokParams, tcfg, lmCfg, { mel, mask100, mask12, textIn, textTgt, textMask, candIdx }),
    { groupLr, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 }, clip: 1, post: tokenizerPost(tcfg) as unknown as (p: Params, s: JsTree<Array>, t: Array) => Params },
  );
  const res = await trainLoop<Params>({
    run,
    totalSteps: steps,
    init,
    trainStep: step,
    rngs: { data: Rng.stream(cfg.seed, `data:tokenizer-${arm}`) },
    nextBatch: (_s, rngs) => {
      const idx = Array.from({ length: B }, () => rngs.data.pick(data.trainIdx));
      const mb = melBatch(data, idx);
      const tx = transcriptArrays(data, idx, TEXT_LEN);
      const valid: number[] = [];
      mb.m12host.forEach((v, i) => v > 0 && valid.push(i));
      const cand = Int32Array.from({ length: Kmax }, () => valid[rngs.data.int(valid.length)]);
      return [mb.mel, mb.mask100, mb.mask12, tx.textIn, tx.textTgt, tx.textMask, np.array(cand, { dtype: np.int32 })];
    },
    lr: (s) => sched(tcfg.train)(s),
    tokensPerStep: B * data.mels.T,
    evalEvery: steps,
    checkpointEvery: Math.max(1, Math.floor(steps / 2)),
    auxNames: TOKENIZER_METRICS,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, `tokenizer-${arm}`),
  });
  step.dispose();
  const p = res.params as unknown as TokParams;
  const ev = await evalTokenizer(p, tcfg, data, B);
  tree.dispose(res.params as JsTree<Array>);
  tree.dispose(res.opt as unknown as JsTree<Array>);
  const rows = run.metrics<Record<string, number>>();
  const lastRow = rows[rows.length - 1] ?? {};
  return {
    status: res.status,
    steps: res.step,
    finalMelLoss: lastRow.melLoss ?? NaN,
    transcriptLoss: lastRow.transcriptLoss ?? NaN,
    ...ev,
    bitrate: rvqBitrate(tcfg.codebookSizes, 100 / DOWNSAMPLE),
    frameRate: 100 / DOWNSAMPLE,
  };
}

/** Codes of a list of utterances with a trained tokenizer: per utterance, frames × Int32Array(8). */
export async function encodeAll(p: TokParams, tcfg: TokenizerConfig, data: OmniData, idx: number[], B: number): Promise<Codes[]> {
  const enc = cachedJit(["enc", tcfg], () => jit((net: TokParams["net"], embed: Array[], mel: Array) => tokenizerEncode({ net, vq: { embed, clusterSize: [], embedAvg: [] } }, tcfg, mel)));
  const out: Codes[] = [];
  const nL = tcfg.codebookSizes.length;
  const T12 = data.mels.T / DOWNSAMPLE;
  for (let i = 0; i < idx.length; i += B) {
    const chunk = idx.slice(i, i + B);
    const padded = [...chunk];
    while (padded.length < B) padded.push(chunk[0]);
    const mb = melBatch(data, padded);
    mb.mask100.dispose();
    mb.mask12.dispose();
    const codes = (await (enc(tree.ref(p.net as unknown as JsTree<Array>) as never, p.vq.embed.map((e) => e.ref), mb.mel) as Array).data()) as Int32Array;
    chunk.forEach((u, b) => {
      const n = frames12(data.mels.frames[u]);
      out.push(Array.from({ length: n }, (_, t) => Int32Array.from(codes.subarray((b * T12 + t) * nL, (b * T12 + t + 1) * nL))));
    });
  }
  return out;
}

/** Refined mel decoded from codes with the first `k` layers: one utterance per row. */
export async function decodeAll(p: TokParams, tcfg: TokenizerConfig, codes: Codes[], k: number, T: number, B: number): Promise<Float32Array[]> {
  const dec = cachedJit(["dec", tcfg], () => jit((net: TokParams["net"], embed: Array[], c: Array, m: Array) => tokenizerDecode({ net, vq: { embed, clusterSize: [], embedAvg: [] } }, tcfg, c, m)));
  const nL = tcfg.codebookSizes.length;
  const T12 = T / DOWNSAMPLE;
  const M = tcfg.nMels;
  const out: Float32Array[] = [];
  for (let i = 0; i < codes.length; i += B) {
    const chunk = codes.slice(i, i + B);
    const arr = new Int32Array(B * T12 * nL);
    chunk.forEach((c, b) => c.forEach((f, t) => arr.set(f, (b * T12 + t) * nL)));
    const mask = np.array(Float32Array.from({ length: nL }, (_, j) => (j < k ? 1 : 0)));
    const mel = (await (dec(tree.ref(p.net as unknown as JsTree<Array>) as never, p.vq.embed.map((e) => e.ref), np.array(arr, { dtype: np.int32 }).reshape([B, T12, nL]), mask) as Array).data()) as Float32Array;
    chunk.forEach((_, b) => out.push(mel.slice(b * T * M, (b + 1) * T * M)));
  }
  return out;
}

async function evalTokenizer(p: TokParams, tcfg: TokenizerConfig, data: OmniData, B: number) {
  const nL = tcfg.codebookSizes.length;
  const { T, nMels: M } = data.mels;
  const evalCodes = await encodeAll(p, tcfg, data, data.evalIdx, B);
  const reconL1ByLayers: number[] = [];
  for (let k = 1; k <= nL; k++) {
    const mels = await decodeAll(p, tcfg, evalCodes, k, T, B);
    let s = 0;
    let n = 0;
    data.evalIdx.forEach((u, i) => {
      const len = data.mels.frames[u] * M;
      const ref = data.mels.mel.subarray(u * T * M, u * T * M + len);
      for (let j = 0; j < len; j++) s += Math.abs(mels[i][j] - ref[j]);
      n += len;
    });
    reconL1ByLayers.push(s / n);
  }
  const trainCodes = await encodeAll(p, tcfg, data, data.trainIdx, B);
  const usage = tcfg.codebookSizes.map((K, i) => {
    const counts = new Float64Array(K);
    for (const c of trainCodes) for (const f of c) counts[f[i]]++;
    return codebookUsage(counts);
  });
  return { reconL1ByLayers, usage };
}

// ---------------------------------------------------------------- probe

async function trainProbe(cfg: OmniExperimentConfig, data: OmniData, codes: Map<number, Codes>, sizes: number[], k: number, run: RunDir, ctx: ExperimentContext, label: string) {
  const T12 = data.mels.T / DOWNSAMPLE;
  const pc: LMConfig = { ...cfg.textLm.model, vocabSize: data.tok.vocabSize, dModel: cfg.probe.dModel, nLayers: cfg.probe.nLayers, nHeads: cfg.probe.nHeads, contextLength: T12 + TEXT_LEN };
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
      return { params, opt: adamwInit(params as unknown as JsTree<Array>) as never };
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
  const evalU = data.evalIdx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question");
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
      const logits = (await (fwd(tree.ref(res.params as unknown as JsTree<Array>) as never, codeArray(padded), np.array(tin, { dtype: np.int32 }).reshape([B, TEXT_LEN])) as Array).data()) as Float32Array;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const row = logits.subarray((b * TEXT_LEN + t) * V, (b * TEXT_LEN + t + 1) * V);
        let arg = 0;
        for (let v = 1; v < V; v++) if (row[v] > row[arg]) arg = v;
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
  tree.dispose(res.params as unknown as JsTree<Array>);
  tree.dispose(res.opt as unknown as JsTree<Array>);
  const cer = characterErrorRate(hyps, refs);
  writeFileSync(run.path("transcripts.txt"), hyps.map((h, i) => `REF ${refs[i]}\nHYP ${h}`).join("\n") + "\n");
  return { status: res.status, steps: res.step, layers: k, finalLoss: res.lastLoss, cer, evalUtterances: hyps.length, examples: hyps.slice(0, 4).map((h, i) => ({ ref: refs[i], hyp: h })) };
}

// ---------------------------------------------------------------- omni stages

export type OmniEval = {
  textNll: number;
  textQaAcc: number;
  captionAcc: number;
  omniAcc: number;
  s2tAcc: number;
  s2tAccHeldOutQ: number;
  s2sTextAcc: number;
  s2sTextAccHeldOutQ: number;
  s2sAudioAcc: number;
  /** Spoken evaluation questions (held-out voices). */
  nSpokenQuestions: number;
  /** Predicted caption word for the first 16 test digits (label, prediction). */
  captionSamples: { label: number; pred: string }[];
};

type Pools = {
  f: ReturnType<typeof formats>;
  codes: Map<number, Codes>;
  byRole: Record<string, number[]>;
  answers: Map<string, number[]>;
};

function makePools(data: OmniData, cfg: OmniExperimentConfig, codes: Map<number, Codes>): Pools {
  const f = formats(data.tok, { ...cfg.omni.vision, image: 28 });
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

function sampleExample(kind: DataKind, rng: Rng, data: OmniData, P: Pools): Example {
  const c = (u: number) => P.codes.get(u)!;
  const digit = () => rng.pick(data.digits.train);
  switch (kind) {
    case "text":
      return textExample(P.f, pickText(data, rng));
    case "caption": {
      const d = digit();
      return P.f.caption(d.image, DIGITS[d.label]);
    }
    case "asr": {
      const u = rng.pick(data.trainIdx);
      return P.f.asr(c(u), data.utts[u].text);
    }
    case "tts": {
      const u = rng.pick(data.trainIdx);
      return P.f.tts(data.utts[u].text, c(u));
    }
    case "sqa-st": {
      const u = rng.pick(P.byRole.question);
      return P.f.sqaText(c(u), data.utts[u].answer!);
    }
    case "sqa-ss": {
      const u = rng.pick(P.byRole.question);
      const a = data.utts[u].answer!;
      return P.f.sqaSpeech(c(u), a, c(rng.pick(P.answers.get(a)!)));
    }
    case "omni": {
      const d = digit();
      return P.f.omni(d.image, c(rng.pick(P.byRole["image-question"])), DIGITS[d.label]);
    }
  }
}

function omniConfigOf(cfg: OmniExperimentConfig, data: OmniData): OmniConfig {
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

async function trainStage(
  cfg: OmniExperimentConfig,
  data: OmniData,
  P: Pools,
  stage: StageSpec,
  steps: number,
  initFrom: () => OmniParams,
  run: RunDir,
  ctx: ExperimentContext,
  label: string,
  tokForAudio: { p: TokParams; cfg: TokenizerConfig } | null,
  recognise: ((codes: Codes[]) => Promise<string[]>) | null,
) {
  const ocfg = omniConfigOf(cfg, data);
  const groupLr = stageGroupLr(stage, cfg.omni.baseLr, cfg.omni.lrExponent);
  const kinds = Object.keys(stage.mix) as DataKind[];
  const w = kinds.map((k) => stage.mix[k]!);
  const wSum = w.reduce((a, b) => a + b, 0);
  const B = cfg.omni.batchSize;
  const shape = { batch: B, seqLen: ocfg.lm.contextLength, audioRows: cfg.omni.audioRows, nLayers: ocfg.codebookSizes.length, K0: ocfg.codebookSizes[0], vision: ocfg.vision };
  let dropped = 0;
  const step = makeGroupStep<Params>(
    (p, ...xs) => {
      const o = omniLoss(p as unknown as OmniParams, ocfg, batchFromList(xs));
      return { loss: o.loss, metrics: [o.textLoss, o.audioLoss] };
    },
    { groupLr, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1 },
  );
  const top = maxLr(groupLr);
  const res = await trainLoop<Params>({
    run,
    totalSteps: steps,
    init: () => {
      const params = initFrom() as unknown as Params;
      return { params, opt: groupOptInit(params, groupLr) };
    },
    trainStep: step,
    rngs: { data: Rng.stream(cfg.seed, `data:${label}`) },
    nextBatch: (_s, rngs) => {
      const exs = Array.from({ length: B }, () => {
        let u = rngs.data.next() * wSum;
        let k = 0;
        while (k < kinds.length - 1 && u >= w[k]) u -= w[k++];
        return sampleExample(kinds[k], rngs.data, data, P);
      });
      const pb = packBatch(exs, shape);
      dropped += pb.droppedAudioRows;
      return batchList(pb.arrays);
    },
    lr: (s) => warmupCosine(s, { lr: top, warmupSteps: Math.min(cfg.omni.warmupSteps, steps - 1), totalSteps: steps, minLrRatio: 0.1 }),
    tokensPerStep: B * ocfg.lm.contextLength,
    evalEvery: steps,
    checkpointEvery: steps,
    auxNames: ["textLoss", "audioLoss"],
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, label),
  });
  step.dispose();
  const params = res.params as unknown as OmniParams;
  const ev = await evalOmni(params, cfg, data, P, tokForAudio, recognise, run);
  tree.dispose(res.params as JsTree<Array>);
  tree.dispose(res.opt as unknown as JsTree<Array>);
  return { status: res.status, steps: res.step, stage: stage.name, paperStage: stage.paperName, groupLr, trained: Object.keys(groupLr), finalLoss: res.lastLoss, droppedAudioRows: dropped, ...ev };
}

/** Argmax of row `pos` of example `b` in logits [B, T, V]. */
function argmaxAt(logits: Float32Array, b: number, pos: number, T: number, V: number): number {
  const row = logits.subarray((b * T + pos) * V, (b * T + pos + 1) * V);
  let arg = 0;
  for (let v = 1; v < V; v++) if (row[v] > row[arg]) arg = v;
  return arg;
}

/**
 * Accuracy of the next token at the position holding `markId` (the answer slot) over examples.
 * Examples are complete (teacher-forced); causality makes the prediction depend on the prompt only.
 */
async function answerAccuracy(fwd: (b: Array[]) => Promise<Float32Array>, exs: Example[], markId: number, B: number, shape: Parameters<typeof packBatch>[1], V: number): Promise<{ acc: number; correct: boolean[]; preds: number[] }> {
  const correct: boolean[] = [];
  const preds: number[] = [];
  for (let i = 0; i < exs.length; i += B) {
    const chunk = exs.slice(i, i + B);
    const padded = [...chunk];
    while (padded.length < B) padded.push(chunk[0]);
    const { arrays } = packBatch(padded, shape);
    const logits = await fwd(batchList(arrays));
    chunk.forEach((e, b) => {
      const pos = e.ids.lastIndexOf(markId);
      const y = argmaxAt(logits, b, pos, shape.seqLen, V);
      preds.push(y);
      correct.push(y === e.textTgt[pos]);
    });
  }
  return { acc: correct.filter(Boolean).length / Math.max(1, correct.length), correct, preds };
}

export async function evalOmni(p: OmniParams, cfg: OmniExperimentConfig, data: OmniData, P: Pools, tokForAudio: { p: TokParams; cfg: TokenizerConfig } | null, recognise: ((codes: Codes[]) => Promise<string[]>) | null, run: RunDir | null): Promise<OmniEval> {
  const ocfg = omniConfigOf(cfg, data);
  const B = cfg.omni.batchSize;
  const T = ocfg.lm.contextLength;
  const V = ocfg.lm.vocabSize;
  const shape = { batch: B, seqLen: T, audioRows: 1, nLayers: ocfg.codebookSizes.length, K0: ocfg.codebookSizes[0], vision: ocfg.vision };
  const text = await evalText(p.lm, ocfg.lm, data, P.f, B, cfg.textLm.seqLen);
  const f = cachedJit(["omni-logits", ocfg], () => jit((q: Omit<OmniParams, "audioHead">, xs: Array[]) => {
    const b = batchFromList(xs);
    for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
    const o = omniForward(q, ocfg, b);
    o.hidden.dispose();
    return o.logits;
  }));
  const pNoHead = () => tree.ref({ lm: p.lm, vision: p.vision, projector: p.projector, audioEmbed: p.audioEmbed } as unknown as JsTree<Array>) as never;
  const fwd = async (xs: Array[]) => (await (f(pNoHead(), xs as never) as Array).data()) as Float32Array;
  const tok = data.tok;
  const capEx = data.digits.test.map((d) => P.f.caption(d.image, DIGITS[d.label]));
  const caption = await answerAccuracy(fwd, capEx, tok.id("is"), B, shape, V);
  const iq = P.byRole["eval-image-question"] ?? [];
  const omniEx = data.digits.test.slice(0, 64).map((d, i) => P.f.omni(d.image, P.codes.get(iq[i % iq.length])!, DIGITS[d.label]));
  const omni = await answerAccuracy(fwd, omniEx, tok.id("<answer>"), B, shape, V);
  const qs = P.byRole["eval-question"] ?? [];
  const heldQ = qs.map((u) => data.utts[u].questionSplit === "heldout");
  const anyAnswer = (a: string) => P.codes.get(P.answers.get(a)![0])!;
  const st = await answerAccuracy(fwd, qs.map((u) => P.f.sqaText(P.codes.get(u)!, data.utts[u].answer!)), tok.id("<answer>"), B, shape, V);
  const ssEx = qs.map((u) => P.f.sqaSpeech(P.codes.get(u)!, data.utts[u].answer!, anyAnswer(data.utts[u].answer!)));
  const ss = await answerAccuracy(fwd, ssEx, tok.id("<speak>"), B, shape, V);
  const sub = (c: boolean[], keep: boolean[]) => {
    const xs = c.filter((_, i) => keep[i]);
    return xs.filter(Boolean).length / Math.max(1, xs.length);
  };
  // Speech out: generate the answer audio after the model's own text answer; judge it with the recogniser.
  let s2sAudioAcc = NaN;
  if (recognise) {
    const gen = await generateSpeech(p, ocfg, data, qs.map((u) => P.codes.get(u)!), B, cfg.omni.maxGenFrames, f);
    const heard = await recognise(gen.frames);
    s2sAudioAcc = heard.filter((h, i) => h.trim() === data.utts[qs[i]].answer).length / Math.max(1, heard.length);
    if (run && tokForAudio && cfg.report.audioSamples > 0) {
      const n = Math.min(cfg.report.audioSamples, qs.length);
      const mels = await decodeAll(tokForAudio.p, tokForAudio.cfg, gen.frames.slice(0, n).map((c) => (c.length ? c : [new Int32Array(ocfg.codebookSizes.length)])), 8, data.mels.T, B);
      const lines: string[] = [];
      for (let i = 0; i < n; i++) {
        const nf = Math.max(1, gen.frames[i].length) * DOWNSAMPLE;
        const wav = vocodeLogMel({ data: mels[i].subarray(0, nf * tokForAudio.cfg.nMels), frames: nf, nMels: tokForAudio.cfg.nMels }, { iters: cfg.report.griffinLimIters, rng: Rng.stream(cfg.seed, "griffin-lim") });
        writeFileSync(join(run.samplesDir, `s2s-${i}.wav`), encodeWav(wav, SAMPLE_RATE));
        lines.push(`s2s-${i}.wav: question "${data.utts[qs[i]].text}" (${data.utts[qs[i]].voice}); text part "${tok.words[gen.text[i]]}"; ${gen.frames[i].length} frames; recogniser heard "${heard[i]}"; answer "${data.utts[qs[i]].answer}"`);
      }
      writeFileSync(join(run.samplesDir, "s2s.txt"), lines.join("\n") + "\n");
    }
  }
  return {
    ...text,
    captionAcc: caption.acc,
    omniAcc: omni.acc,
    s2tAcc: st.acc,
    s2tAccHeldOutQ: sub(st.correct, heldQ),
    s2sTextAcc: ss.acc,
    s2sTextAccHeldOutQ: sub(ss.correct, heldQ),
    s2sAudioAcc,
    nSpokenQuestions: qs.length,
    captionSamples: data.digits.test.slice(0, 16).map((d, i) => ({ label: d.label, pred: tok.words[caption.preds[i]] })),
  };
}

/**
 * Speech-in/speech-out generation with the paper's interleaved protocol: the prompt ends with
 * `<speak>`; the model writes its text segment (here one greedy word), we append
 * `<audiogen_start>`, then per frame run the LM once and the depth head 8 times (codebook by
 * codebook, greedy) until head 0 emits end-of-audio or `maxFrames` is reached.
 */
export async function generateSpeech(
  p: OmniParams,
  ocfg: OmniConfig,
  data: OmniData,
  questions: Codes[],
  B: number,
  maxFrames: number,
  fwdLogits: (q: Omit<OmniParams, "audioHead">, xs: Array[]) => unknown,
): Promise<{ text: number[]; frames: Codes[] }> {
  const tok = data.tok;
  const T = ocfg.lm.contextLength;
  const D = ocfg.lm.dModel;
  const V = ocfg.lm.vocabSize;
  const nL = ocfg.codebookSizes.length;
  const K0 = ocfg.codebookSizes[0];
  const f = formats(tok, ocfg.vision);
  const shape = { batch: B, seqLen: T, audioRows: 1, nLayers: nL, K0, vision: ocfg.vision };
  const hid = cachedJit(["omni-hidden", ocfg], () => jit((q: Omit<OmniParams, "audioHead">, xs: Array[]) => {
    const b = batchFromList(xs);
    for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
    const o = omniForward(q, ocfg, b);
    o.logits.dispose();
    return o.hidden;
  }));
  const depth = cachedJit(["depth", ocfg], () => jit((head: OmniParams["audioHead"], emb: OmniParams["audioEmbed"], h: Array, c: Array) => depthLogits(head, emb, ocfg, h, c)));
  const pNoHead = () => tree.ref({ lm: p.lm, vision: p.vision, projector: p.projector, audioEmbed: p.audioEmbed } as unknown as JsTree<Array>) as never;
  const textOut: number[] = [];
  const framesOut: Codes[] = [];
  for (let i = 0; i < questions.length; i += B) {
    const chunk = questions.slice(i, i + B);
    // prompt: <bos> <audio_start> A×n <audio_end> <speak>
    const prompt = (q: Codes): Example => {
      const e = f.sqaText(q, "zero"); // the sqa prefix up to the mark; the mark becomes <speak>
      const cut = e.ids.lastIndexOf(tok.id("<answer>"));
      return { ...e, ids: [...e.ids.slice(0, cut), tok.id("<speak>")], codes: e.codes.slice(0, cut + 1).map((c, j) => (j === cut ? null : c)), textTgt: new Array(cut + 1).fill(-1), audioTgt: new Array(cut + 1).fill(null) };
    };
    const exs = chunk.map(prompt);
    while (exs.length < B) exs.push(prompt(chunk[0])); // padding rows: separate copies
    // text segment: one greedy token after <speak>
    const logits = (await (fwdLogits(pNoHead(), batchList(packBatch(exs, shape).arrays)) as Array).data()) as Float32Array;
    const words = exs.map((e, b) => argmaxAt(logits, b, e.ids.length - 1, T, V));
    exs.forEach((e, b) => {
      e.ids.push(words[b], tok.id("<audiogen_start>"));
      e.codes.push(null, null);
      e.textTgt.push(-1, -1);
      e.audioTgt.push(null, null);
    });
    const frames: Codes[] = exs.map(() => []);
    const done = exs.map((e) => e.ids.length >= T);
    for (let fr = 0; fr < maxFrames && !done.every(Boolean); fr++) {
      const hidden = (await (hid(pNoHead(), batchList(packBatch(exs, shape).arrays)) as Array).data()) as Float32Array;
      const h = new Float32Array(B * D);
      exs.forEach((e, b) => h.set(hidden.subarray((b * T + e.ids.length - 1) * D, (b * T + e.ids.length) * D), b * D));
      const codes = new Int32Array(B * nL);
      for (let li = 0; li < nL; li++) {
        const outs = depth(tree.ref(p.audioHead as unknown as JsTree<Array>) as never, tree.ref(p.audioEmbed as unknown as JsTree<Array>) as never, np.array(h).reshape([B, D]), np.array(codes, { dtype: np.int32 }).reshape([B, nL])) as unknown as Array[];
        const lg = (await outs[li].ref.data()) as Float32Array;
        outs.forEach((o) => o.dispose());
        const K = ocfg.codebookSizes[li] + 1;
        for (let b = 0; b < B; b++) {
          const row = lg.subarray(b * K, (b + 1) * K);
          let arg = 0;
          // heads > 0 never emit the end index; head 0's end index ends the segment
          for (let v = 1; v < (li === 0 ? K : K - 1); v++) if (row[v] > row[arg]) arg = v;
          codes[b * nL + li] = arg;
        }
      }
      exs.forEach((e, b) => {
        if (done[b]) return;
        const c = codes.slice(b * nL, (b + 1) * nL);
        if (c[0] === K0) {
          done[b] = true;
          return;
        }
        frames[b].push(c);
        e.ids.push(tok.id("<audio_pad>"));
        e.codes.push(c);
        e.textTgt.push(-1);
        e.audioTgt.push(null);
        if (e.ids.length >= T) done[b] = true;
      });
    }
    chunk.forEach((_, b) => {
      textOut.push(words[b]);
      framesOut.push(frames[b]);
    });
  }
  return { text: textOut, frames: framesOut };
}

// ---------------------------------------------------------------- the experiment

export type OmniSummary = Record<string, unknown>;

export async function runOmni(cfg: OmniExperimentConfig, ctx: ExperimentContext): Promise<OmniSummary> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const run = ctx.run;
  const data = await prepareOmniData(cfg, run, ctx.log);
  const lmCfg = lmConfigOf(cfg, data.tok);
  const armDir = (a: string) => run.path("arms", a);
  const text = await runArm(ctx, "text-lm", cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, "text-lm"));
  ctx.log(`text-lm: held-out text NLL ${text.textNll.toFixed(3)}, written QA accuracy ${(100 * text.textQaAcc).toFixed(1)} %`);

  const toks: Record<string, TokArmSummary> = {};
  for (const arm of ["T1", "T2"] as const) {
    toks[arm] = await runArm(ctx, `tokenizer-${arm}`, tokConfig(cfg, arm), (r) => trainTokenizer(cfg, data, arm, r, ctx, armDir("text-lm")));
    ctx.log(`tokenizer-${arm}: mel L1 with 1/8 layers ${toks[arm].reconL1ByLayers[0].toFixed(3)}/${toks[arm].reconL1ByLayers.at(-1)!.toFixed(3)}`);
  }
  // Codes of every utterance under each tokenizer.
  const tokParams: Record<string, TokParams> = {};
  const allCodes: Record<string, Map<number, Codes>> = {};
  const allIdx = [...data.trainIdx, ...data.evalIdx];
  for (const arm of ["T1", "T2"] as const) {
    const tcfg = tokConfig(cfg, arm);
    const tmpl = initTokenizer(tcfg, cfg.seed, arm === "T2" ? { params: initLM(lmCfg, cfg.seed), cfg: lmCfg } : undefined);
    tokParams[arm] = loadParams(armDir(`tokenizer-${arm}`), tmpl);
    const codes = await encodeAll(tokParams[arm], tcfg, data, allIdx, cfg.tokenizer.train.batchSize);
    allCodes[arm] = new Map(allIdx.map((u, i) => [u, codes[i]]));
  }
  const probes: Record<string, Awaited<ReturnType<typeof trainProbe>>> = {};
  for (const arm of ["T1", "T2"] as const)
    for (const k of cfg.probe.layers) {
      const label = `probe-${arm}-k${k}`;
      probes[label] = await runArm(ctx, label, { ...cfg.probe, tokenizer: arm, layers: k }, (r) => trainProbe(cfg, data, allCodes[arm], cfg.tokenizer.codebookSizes, k, r, ctx, label));
      ctx.log(`${label}: held-out CER ${(100 * probes[label].cer).toFixed(1)} %`);
    }

  // The recogniser that judges generated speech: the T2 probe on all layers, retrained in memory
  // would be costly, so we reload it from its arm.
  const P = makePools(data, cfg, allCodes.T2);
  const recognise = await makeRecogniser(cfg, data, armDir, lmCfg);
  const tokT2 = { p: tokParams.T2, cfg: tokConfig(cfg, "T2") };
  const ocfg = omniConfigOf(cfg, data);
  const freshOmni = () => initOmni(ocfg, loadParams(armDir("text-lm"), initLM(lmCfg, cfg.seed)), cfg.seed);
  const template = () => freshOmni();

  const s1: Record<string, Awaited<ReturnType<typeof trainStage>>> = {};
  let prev: string | null = null;
  for (const [i, stage] of PAPER_STAGES.entries()) {
    const label = `s1-${i + 1}-${stage.name}`;
    const from = prev;
    s1[stage.name] = await runArm(ctx, label, { stage, steps: cfg.omni.stageSteps[stage.name] }, (r) =>
      trainStage(cfg, data, P, stage, cfg.omni.stageSteps[stage.name], () => (from ? loadParams(armDir(from), template()) : freshOmni()), r, ctx, label, i === PAPER_STAGES.length - 1 ? tokT2 : null, recognise),
    );
    ctx.log(`${label}: text NLL ${s1[stage.name].textNll.toFixed(3)}, s->t ${(100 * s1[stage.name].s2tAcc).toFixed(1)} %, caption ${(100 * s1[stage.name].captionAcc).toFixed(1)} %`);
    prev = label;
  }
  const jointSteps = cfg.omni.jointSteps || PAPER_STAGES.reduce((s, st) => s + cfg.omni.stageSteps[st.name], 0);
  const s2 = await runArm(ctx, "s2-joint", { stage: JOINT_STAGE, steps: jointSteps }, (r) => trainStage(cfg, data, P, JOINT_STAGE, jointSteps, freshOmni, r, ctx, "s2-joint", tokT2, recognise));

  // Untrained-head reference: the text LM with fresh modules (chance level of each probe).
  // Wall and CPU time of this session; a resumed run adds its earlier sessions (the machine may be shared).
  const prevSummary = ctx.resume ? run.summary<{ sessions?: { wallSeconds: number; cpuSeconds: number }[]; wallSeconds?: number }>() : null;
  const prevSessions = prevSummary?.sessions ?? (prevSummary?.wallSeconds ? [{ wallSeconds: prevSummary.wallSeconds, cpuSeconds: NaN }] : []);
  const cpu = process.cpuUsage(cpu0);
  const sessions = [...prevSessions, { wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }];
  const wallSeconds = sessions.reduce((a, x) => a + x.wallSeconds, 0);
  const summary: OmniSummary = {
    textLm: text,
    tokenizers: toks,
    probes,
    s1,
    s2,
    paramGroups: PARAM_GROUPS,
    wallSeconds,
    sessions,
  };
  await writeOmniReport({ cfg, ctx, data, summary: summary as never, tokParams, allCodes, tokConfig: (a) => tokConfig(cfg, a) });
  for (const t of Object.values(tokParams)) tree.dispose(t as unknown as JsTree<Array>);
  run.writeSummary(summary);
  return summary;
}

/** Load the T2 all-layer probe as a speech recogniser for generated audio (null if not trained). */
async function makeRecogniser(cfg: OmniExperimentConfig, data: OmniData, armDir: (a: string) => string, lmCfg: LMConfig) {
  const k = Math.max(...cfg.probe.layers);
  const label = `probe-T2-k${k}`;
  const T12 = data.mels.T / DOWNSAMPLE;
  const pc: LMConfig = { ...lmCfg, dModel: cfg.probe.dModel, nLayers: cfg.probe.nLayers, nHeads: cfg.probe.nHeads, contextLength: T12 + TEXT_LEN };
  if (!existsSync(`${armDir(label)}/checkpoints/latest.safetensors`)) return null;
  const p = loadParams(armDir(label), initProbe(cfg.tokenizer.codebookSizes, k, pc, cfg.seed));
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
      const logits = (await (fwd(tree.ref(p as unknown as JsTree<Array>) as never, np.array(a, { dtype: np.int32 }).reshape([B, T12, nL]), np.array(tin, { dtype: np.int32 }).reshape([B, TEXT_LEN])) as Array).data()) as Float32Array;
      chunk.forEach((_, b) => {
        const row = logits.subarray(b * TEXT_LEN * V, (b * TEXT_LEN + 1) * V);
        let arg = 0;
        for (let v = 1; v < V; v++) if (row[v] > row[arg]) arg = v;
        out.push(data.tok.words[arg]);
      });
    }
    return out;
  };
}
