/**
 * The tokenizer study: T1 (mel reconstruction only) vs T2 (+ transcript prediction by the frozen
 * text LM, §3.2.2), each a 12.5 Hz 8-layer RVQ tokenizer trained on the training voices. Measured
 * on held-out voices and sentences: mel L1 decoding with the first k RVQ layers (pooled and per
 * utterance), codebook usage and the bitrate; and the mean-frame baseline an untrained
 * tokenizer would reach. `encodeAll` / `decodeAll` give every other part its codes and mels.
 */
import { disposeTree, jit, np, refTree, type Array } from "../../engine/index.js";
import { initLM, type LMConfig } from "../../nn/transformer.js";
import { trainLoop } from "../../train/loop.js";
import { loadRunParams } from "../../train/checkpoint.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { frames12 } from "./data.js";
import { withEncoder } from "./whisper-pretrain.js";
import { DOWNSAMPLE, initTokenizer, tokenizerDecode, tokenizerEncode, tokenizerLoss, tokenizerPost, TOKENIZER_METRICS, type EncoderNet, type TokenizerConfig, type TokNet, type TokParams } from "./tokenizer.js";
import { codebookUsage, rvqBitrate } from "./rvq.js";
import { makeGroupStep, groupOptInit, type Params } from "./train-step.js";
import type { Codes } from "./sequences.js";
import { cachedJit, lmConfigOf, melBatch, sched, TEXT_LEN, transcriptArrays, type OmniData } from "./prepare.js";
import type { TokArmSummary, TokenizerBaseline } from "./summary.js";

export type TokArm = "T1" | "T2";

export function tokConfig(cfg: OmniExperimentConfig, arm: TokArm): TokenizerConfig & { train: OmniExperimentConfig["tokenizer"]["train"] } {
  const t = cfg.tokenizer;
  return { ...t, nMels: cfg.speech.nMels, transcriptWeight: arm === "T1" ? 0 : t.transcriptWeight };
}

/**
 * Tokenizer parameters as the group step's parameter groups (`net`, `vq`, and for T2 `sem`, `lm`).
 * `TokParams` has optional T2 fields, which jax-js's `JsTree` type cannot express: the casts live here.
 */
const asGroups = (p: TokParams): Params => p as Params;
const fromGroups = (p: Params): TokParams => p as TokParams;

/**
 * A fresh tokenizer for `arm` (T2 carries the frozen text LM loaded from `lmDir`); with `encoder` (not
 * consumed: copied), its encoder is that one (the `whisper-pretrain` arm's) instead of a random one.
 */
function freshTokenizer(cfg: OmniExperimentConfig, data: OmniData, arm: TokArm, lmDir: string, encoder?: EncoderNet): TokParams {
  const lmCfg = lmConfigOf(cfg, data.tok);
  const lm = arm === "T2" ? loadRunParams(lmDir, initLM(lmCfg, cfg.seed)) : undefined;
  const p = initTokenizer(tokConfig(cfg, arm), cfg.seed, lm ? { params: lm, cfg: lmCfg } : undefined);
  return encoder ? { ...p, net: withEncoder(p.net, refTree(encoder)) } : p;
}

/**
 * Tokenizer parameters split for the group step: the encoder (`enc`, what `whisper-pretrain` trains) as its own group,
 * so it can be frozen or slowed, and the rest of the net (`net`). `joinEncoder` puts them back together.
 */
type SplitTok = Omit<TokParams, "net"> & { enc: EncoderNet; net: Omit<TokNet, keyof EncoderNet> };
function splitEncoder(p: TokParams): SplitTok {
  const { conv1, conv2, enc, encLn, pool, ...rest } = p.net;
  return { ...p, enc: { conv1, conv2, enc, encLn, pool }, net: rest };
}
function joinEncoder(p: SplitTok): TokParams {
  const { enc, net, ...rest } = p;
  return { ...rest, net: { ...net, ...enc } };
}

/** The trained tokenizer of arm `arm` from its run directory. */
export function loadTokenizer(cfg: OmniExperimentConfig, data: OmniData, arm: TokArm, armDir: string): TokParams {
  const lmCfg = lmConfigOf(cfg, data.tok);
  const tmpl = () => initTokenizer(tokConfig(cfg, arm), cfg.seed, arm === "T2" ? { params: initLM(lmCfg, cfg.seed), cfg: lmCfg } : undefined);
  try {
    return loadRunParams(armDir, tmpl());
  } catch (e) {
    // A tokenizer trained with its encoder frozen or slowed (`encLrScale` ≠ 1) keeps the encoder as a group of its own.
    try {
      return joinEncoder(loadRunParams(armDir, splitEncoder(tmpl())));
    } catch {
      throw e;
    }
  }
}

/**
 * `semLrScale`: the T2 adapter's (`sem`) learning rate as a multiple of the tokenizer's (1 unless a study says otherwise).
 * `encoder`: start from this (pretrained) encoder, not consumed; `encLrScale`: then the encoder's rate as a multiple of the
 * tokenizer's (0: frozen; the default 1 trains it like the rest). `onCodes`: receives every utterance's codes from the
 * evaluation (training and held-out; what `encodeAll` of the trained tokenizer gives), so they need not be encoded again.
 */
export async function trainTokenizer(
  cfg: OmniExperimentConfig,
  data: OmniData,
  arm: TokArm,
  run: RunDir,
  ctx: ExperimentContext,
  lmParamsDir: string,
  opts: {
    semLrScale?: number;
    encoder?: EncoderNet;
    encLrScale?: number;
    onCodes?: (codes: Map<number, Codes>) => void;
    /** Pilots: an evaluation of the tokenizer (params not consumed) every `evalEvery` steps, logged to metrics.jsonl. */
    evaluate?: (p: TokParams, step: number) => Promise<Record<string, number>>;
    evalEvery?: number;
  } = {},
): Promise<TokArmSummary> {
  const tcfg = tokConfig(cfg, arm);
  const lmCfg = lmConfigOf(cfg, data.tok);
  const { batchSize: B, steps } = tcfg.train;
  const lr = tcfg.train.lr;
  const Kmax = Math.max(...tcfg.codebookSizes);
  // The encoder is a group of its own only when its rate differs (checkpoints of the usual layout stay as they were).
  const encScale = opts.encLrScale ?? 1;
  const own = encScale !== 1;
  const groupLr: Record<string, number> = { net: lr, ...(own ? { enc: lr * encScale } : {}), ...(arm === "T2" ? { sem: lr * (opts.semLrScale ?? 1) } : {}) };
  const post = tokenizerPost(tcfg);
  const join = (p: Params) => (own ? joinEncoder(p as SplitTok) : fromGroups(p));
  const split = (p: TokParams) => (own ? (splitEncoder(p) as Params) : asGroups(p));
  const step = makeGroupStep<Params>(
    (p, mel, mask100, mask12, textIn, textTgt, textMask, candIdx) => tokenizerLoss(join(p), tcfg, lmCfg, { mel, mask100, mask12, textIn, textTgt, textMask, candIdx }),
    { groupLr, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01 }, clip: 1, post: (p, s, t) => split(post(join(p), s, t)) },
  );
  const res = await trainLoop<Params>({
    run,
    totalSteps: steps,
    init: () => {
      const params = split(freshTokenizer(cfg, data, arm, lmParamsDir, opts.encoder));
      return { params, opt: groupOptInit(params, groupLr) };
    },
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
    // The group step scales each group by groupLr / max(groupLr): the schedule peaks at the largest group's rate.
    lr: (s) => sched(tcfg.train)(s) * (Math.max(...Object.values(groupLr)) / lr),
    tokensPerStep: B * data.mels.T,
    evalEvery: opts.evaluate ? (opts.evalEvery ?? steps) : steps,
    ...(opts.evaluate ? { evaluate: (p: Params, s: number) => opts.evaluate!(join(p), s) } : {}),
    checkpointEvery: Math.max(1, Math.floor(steps / 2)),
    auxNames: TOKENIZER_METRICS,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, `tokenizer-${arm}`),
  });
  step.dispose();
  const trained = join(res.params);
  const { codes, ...ev } = await evalTokenizer(trained, tcfg, data, B);
  opts.onCodes?.(codes);
  const sanity = arm === "T2" ? await transcriptSanity(trained, tcfg, lmCfg, data, B) : undefined;
  disposeTree(trained);
  disposeTree(res.opt);
  const rows = run.metrics<Record<string, number>>();
  const lastRow = rows[rows.length - 1] ?? {};
  return {
    status: res.status,
    steps: res.step,
    finalMelLoss: lastRow.melLoss ?? NaN,
    transcriptLoss: lastRow.transcriptLoss ?? NaN,
    ...ev,
    ...(sanity ? { transcriptSanity: sanity } : {}),
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
    const codes = (await enc(refTree(p.net), p.vq.embed.map((e) => e.ref), mb.mel).data()) as Int32Array;
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
    const mel = (await dec(refTree(p.net), p.vq.embed.map((e) => e.ref), np.array(arr, { dtype: np.int32 }).reshape([B, T12, nL]), mask).data()) as Float32Array;
    chunk.forEach((_, b) => out.push(mel.slice(b * T * M, (b + 1) * T * M)));
  }
  return out;
}

/**
 * The frozen-LM sanity check of T2 (issue 17): the transcript loss per token on held-out speech
 * with each utterance's own codes as the LM's prefix, and with the codes of another utterance of
 * the batch (rolled by one). If they barely differ, the transcript loss carries no signal about the audio.
 */
export async function transcriptSanity(p: TokParams, tcfg: TokenizerConfig, lmCfg: LMConfig, data: OmniData, B: number, maxUtterances = Infinity): Promise<{ trueNll: number; shuffledNll: number; n: number }> {
  const f = cachedJit(["tok-transcript", tcfg, lmCfg], () =>
    jit((q: Params, mel: Array, mask100: Array, mask12: Array, textIn: Array, textTgt: Array, textMask: Array, candIdx: Array) => {
      const o = tokenizerLoss(fromGroups(q), tcfg, lmCfg, { mel, mask100, mask12, textIn, textTgt, textMask, candIdx });
      o.loss.dispose();
      o.metrics[0].dispose();
      o.metrics[1].dispose();
      disposeTree(o.stats);
      return o.metrics[2];
    }),
  );
  const utts = data.evalIdx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question").slice(0, maxUtterances);
  const Kmax = Math.max(...tcfg.codebookSizes);
  let t = 0;
  let sh = 0;
  let batches = 0;
  for (let i = 0; i + B <= utts.length; i += B) {
    const idx = utts.slice(i, i + B);
    const rolled = idx.map((_, b) => idx[(b + 1) % B]);
    for (const [textIdx, add] of [
      [idx, (v: number) => (t += v)],
      [rolled, (v: number) => (sh += v)],
    ] as const) {
      const mb = melBatch(data, idx);
      const tx = transcriptArrays(data, textIdx, TEXT_LEN);
      const v = (await f(refTree(asGroups(p)), mb.mel, mb.mask100, mb.mask12, tx.textIn, tx.textTgt, tx.textMask, np.array(new Int32Array(Kmax), { dtype: np.int32 })).data()) as Float32Array;
      add(v[0]);
    }
    batches++;
  }
  return { trueNll: t / Math.max(1, batches), shuffledNll: sh / Math.max(1, batches), n: batches * B };
}

/** Held-out mel L1 with the first k = 1..8 layers (pooled over frames, and per utterance), codebook usage. */
async function evalTokenizer(p: TokParams, tcfg: TokenizerConfig, data: OmniData, B: number) {
  const nL = tcfg.codebookSizes.length;
  const { T, nMels: M } = data.mels;
  const evalCodes = await encodeAll(p, tcfg, data, data.evalIdx, B);
  const reconL1ByLayers: number[] = [];
  const reconL1PerUtterance: number[][] = [];
  for (let k = 1; k <= nL; k++) {
    const mels = await decodeAll(p, tcfg, evalCodes, k, T, B);
    let s = 0;
    let n = 0;
    const perUtt: number[] = [];
    data.evalIdx.forEach((u, i) => {
      const len = data.mels.frames[u] * M;
      const ref = data.mels.mel.subarray(u * T * M, u * T * M + len);
      let su = 0;
      for (let j = 0; j < len; j++) {
        const d = Math.abs(mels[i][j] - ref[j]);
        s += d;
        su += d;
      }
      n += len;
      perUtt.push(su / Math.max(1, len));
    });
    reconL1ByLayers.push(s / n);
    reconL1PerUtterance.push(perUtt);
  }
  const trainCodes = await encodeAll(p, tcfg, data, data.trainIdx, B);
  const usage = tcfg.codebookSizes.map((K, i) => {
    const counts = new Float64Array(K);
    for (const c of trainCodes) for (const f of c) counts[f[i]]++;
    return codebookUsage(counts);
  });
  // Every utterance's codes (training and held-out), so a caller need not encode them again.
  const codes = new Map<number, Codes>([...data.trainIdx.map((u, i) => [u, trainCodes[i]] as const), ...data.evalIdx.map((u, i) => [u, evalCodes[i]] as const)]);
  return { reconL1ByLayers, reconL1PerUtterance, usage, codes };
}

/** The mean training frame (per mel bin) repeated over every held-out frame: its mel L1. */
export function meanFrameBaseline(data: OmniData): TokenizerBaseline {
  const { T, nMels: M } = data.mels;
  const mean = new Float64Array(M);
  let n = 0;
  for (const u of data.trainIdx) {
    for (let t = 0; t < data.mels.frames[u]; t++) for (let m = 0; m < M; m++) mean[m] += data.mels.mel[(u * T + t) * M + m];
    n += data.mels.frames[u];
  }
  for (let m = 0; m < M; m++) mean[m] /= Math.max(1, n);
  let s = 0;
  let cnt = 0;
  for (const u of data.evalIdx) {
    for (let t = 0; t < data.mels.frames[u]; t++) for (let m = 0; m < M; m++) s += Math.abs(data.mels.mel[(u * T + t) * M + m] - mean[m]);
    cnt += data.mels.frames[u] * M;
  }
  return { meanFrameL1: s / Math.max(1, cnt), evalFrames: data.evalIdx.map((u) => data.mels.frames[u]) };
}
