/**
 * Evaluation of one omni model (a stage's output): held-out text (NLL, written questions), digit
 * captions, image + spoken question, spoken questions answered in text (s→t) and in speech (s→s:
 * the text segment before `<audiogen_start>`, as the paper scores it, and the generated audio
 * transcribed by the recogniser), and greedy ASR word accuracy on held-out voices.
 * Accuracies are of the one-word answer (10 digit words: chance 10 %).
 */
import { jit, type Array } from "../../engine/index.js";
import type { RunDir } from "../../train/run-dir.js";
import type { OmniExperimentConfig } from "./config.js";
import { omniForward, type OmniConfig, type OmniParams } from "./model.js";
import { batchFromList, batchList, packBatch, type BatchShape, type Codes, type Example, type SpeechQaFormat } from "./sequences.js";
import type { TokenizerConfig, TokParams } from "./tokenizer.js";
import { DIGITS } from "./world.js";
import { editDistance } from "./probe.js";
import { argmax, argmaxAt, cachedJit, omniConfigOf, TEXT_LEN, type OmniData, type Pools } from "./prepare.js";
import { fullSession, kvSession, type DecodePath, type DecodeSession } from "./kv-decode.js";
import { evalText } from "./text-lm.js";
import { probeEvalUtterances } from "./probe-experiment.js";
import { generateSpeech, trunkOf, writeGeneratedSamples, type Trunk } from "./speech-generation.js";
import type { OmniEval } from "./summary.js";

/** Next-token logits [B, T, V] of packed batches (jitted once per model config). */
export function omniLogitsFn(ocfg: OmniConfig) {
  return cachedJit(["omni-logits", ocfg], () =>
    jit((q: Trunk, xs: Array[]) => {
      const b = batchFromList(xs);
      for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
      const o = omniForward(q, ocfg, b);
      o.hidden.dispose();
      return o.logits;
    }),
  );
}

/** The full-forward decode session of a logits function (the reference path; see `kv-decode.ts`). */
export function logitsSession(fwd: (b: Array[]) => Promise<Float32Array>, shape: BatchShape, V: number): () => DecodeSession {
  return () => fullSession((xs) => fwd(xs), shape, V, 0);
}

/** Decode steps a greedy evaluation may take after its prefill: the spoken-QA loop's TEXT_LEN + 2 (ASR's TEXT_LEN − 1 fits). */
export const EVAL_DECODE_STEPS = TEXT_LEN + 2;

/** The decode sessions of evaluation `path` for model `p`: KV cache (`kv`) or the full forward of `fwd` each step (`full`). */
export function evalSessions(path: DecodePath, p: OmniParams, ocfg: OmniConfig, fwd: (b: Array[]) => Promise<Float32Array>, shape: BatchShape): () => DecodeSession {
  if (path === "full") return logitsSession(fwd, shape, ocfg.lm.vocabSize);
  return () => kvSession(p, ocfg, shape, EVAL_DECODE_STEPS);
}

/**
 * Accuracy of the next token at the position holding `markId` (the answer slot) over examples.
 * Examples are complete (teacher-forced); causality makes the prediction depend on the prompt only.
 */
async function answerAccuracy(fwd: (b: Array[]) => Promise<Float32Array>, exs: Example[], markId: number, B: number, shape: BatchShape, V: number): Promise<{ acc: number; correct: boolean[]; preds: number[] }> {
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

/**
 * Spoken-question answers scored in the format the model was trained on (`omni.speechQaFormat`). "direct": the
 * teacher-forced next token at `mark` (`answerAccuracy`). "transcribe": the prompt up to `mark` (the first `<answer>`
 * or `<speak>`), then greedy decoding of the model's own transcript until it writes `<answer>` (at most TEXT_LEN
 * tokens; where it writes `<eos>` or runs out first, `<answer>` is appended for it, counted in `forced`), and the
 * answer is the greedy token after that `<answer>`: no part of the true transcript is shown.
 */
export async function speechAnswerAccuracy(
  fwd: (b: Array[]) => Promise<Float32Array>,
  exs: Example[],
  mark: number,
  format: SpeechQaFormat,
  answerId: number,
  eosId: number,
  B: number,
  shape: BatchShape,
  V: number,
  session: () => DecodeSession = logitsSession(fwd, shape, V),
): Promise<{ acc: number; correct: boolean[]; preds: number[]; forced: number }> {
  if (format === "direct") return { ...(await answerAccuracy(fwd, exs, mark, B, shape, V)), forced: 0 };
  const correct: boolean[] = [];
  const preds: number[] = [];
  let forced = 0;
  for (let i = 0; i < exs.length; i += B) {
    const chunk = exs.slice(i, i + B);
    const prompt = (e: Example): Example => {
      const cut = e.ids.indexOf(mark) + 1;
      return { ...e, ids: e.ids.slice(0, cut), codes: e.codes.slice(0, cut), textTgt: new Array<number>(cut).fill(-1), audioTgt: new Array<null>(cut).fill(null) };
    };
    const ps = chunk.map(prompt);
    while (ps.length < B) ps.push(prompt(chunk[0]));
    const push = (e: Example, w: number) => {
      e.ids.push(w);
      e.codes.push(null);
      e.textTgt.push(-1);
      e.audioTgt.push(null);
    };
    // state per row: 0 transcribing, 1 <answer> written (next token is the answer), 2 answered
    const state = ps.map(() => 0);
    const pred = ps.map(() => -1);
    const s = session();
    for (let t = 0; t <= TEXT_LEN + 1 && !state.every((x) => x === 2); t++) {
      const out = await s.next(ps);
      ps.forEach((e, b) => {
        if (state[b] === 2) return;
        const w = argmax(out.logits(b));
        if (state[b] === 1) {
          pred[b] = w;
          state[b] = 2;
          return;
        }
        const full = e.ids.length >= shape.seqLen - 1 || t >= TEXT_LEN;
        if (w === answerId || w === eosId || full) {
          if (w !== answerId && b < chunk.length) forced++;
          push(e, answerId);
          state[b] = 1;
        } else push(e, w);
      });
    }
    s.close();
    chunk.forEach((e, b) => {
      preds.push(pred[b]);
      correct.push(pred[b] === e.textTgt[e.ids.lastIndexOf(answerId)]);
    });
  }
  return { acc: correct.filter(Boolean).length / Math.max(1, correct.length), correct, preds, forced };
}

/** Greedy transcripts of held-out-voice statements and questions (ASR task format), scored as 1 − word error rate. */
export async function asrWordAccuracy(
  fwd: (b: Array[]) => Promise<Float32Array>,
  data: OmniData,
  P: Pools,
  B: number,
  shape: BatchShape,
  V: number,
  utts: number[] = probeEvalUtterances(data),
  session: () => DecodeSession = logitsSession(fwd, shape, V),
): Promise<{ acc: number; n: number; hyps: number[][] }> {
  const tok = data.tok;
  const hyps: number[][] = [];
  let edits = 0;
  let words = 0;
  for (let i = 0; i < utts.length; i += B) {
    const chunk = utts.slice(i, i + B);
    const prompt = (u: number): Example => {
      const e = P.f.asr(P.codes.get(u)!, "zero");
      const cut = e.ids.lastIndexOf(tok.id("<transcribe>")) + 1;
      return { ...e, ids: e.ids.slice(0, cut), codes: e.codes.slice(0, cut), textTgt: new Array<number>(cut).fill(-1), audioTgt: new Array<null>(cut).fill(null) };
    };
    const exs = chunk.map(prompt);
    while (exs.length < B) exs.push(prompt(chunk[0]));
    const out: number[][] = exs.map(() => []);
    const done = exs.map((e) => e.ids.length >= shape.seqLen);
    const s = session();
    for (let t = 0; t < TEXT_LEN - 1 && !done.every(Boolean); t++) {
      const step = await s.next(exs);
      exs.forEach((e, b) => {
        if (done[b]) return;
        const w = argmax(step.logits(b));
        if (w === tok.id("<eos>")) return void (done[b] = true);
        out[b].push(w);
        e.ids.push(w);
        e.codes.push(null);
        e.textTgt.push(-1);
        e.audioTgt.push(null);
        if (e.ids.length >= shape.seqLen) done[b] = true;
      });
    }
    s.close();
    chunk.forEach((u, b) => {
      const ref = tok.encode(data.utts[u].text);
      edits += editDistance(out[b], ref);
      words += ref.length;
      hyps.push(out[b]);
    });
  }
  return { acc: 1 - edits / Math.max(1, words), n: utts.length, hyps };
}

/**
 * Evaluate an omni model. With `recognise`, answers are also generated as speech and transcribed;
 * with `final` (the stages the claims read), generated answers are written as WAVs into
 * `final.run`'s samples. ASR is measured at every stage (issue 17: where in the chain speech->text is learnt).
 */
export async function evalOmni(
  p: OmniParams,
  cfg: OmniExperimentConfig,
  data: OmniData,
  P: Pools,
  recognise: ((codes: Codes[]) => Promise<string[]>) | null,
  final: { tok: { p: TokParams; cfg: TokenizerConfig }; run: RunDir } | null,
  decode: DecodePath = "kv",
): Promise<OmniEval> {
  const ocfg = omniConfigOf(cfg, data);
  const B = cfg.omni.batchSize;
  const T = ocfg.lm.contextLength;
  const V = ocfg.lm.vocabSize;
  const shape: BatchShape = { batch: B, seqLen: T, audioRows: 1, nLayers: ocfg.codebookSizes.length, K0: ocfg.codebookSizes[0], vision: ocfg.vision };
  const text = await evalText(p.lm, ocfg.lm, data, P.f, B, cfg.textLm.seqLen);
  const f = omniLogitsFn(ocfg);
  const fwd = async (xs: Array[]) => (await f(trunkOf(p), xs).data()) as Float32Array;
  const sessions = evalSessions(decode, p, ocfg, fwd, shape);
  const tok = data.tok;
  const capEx = data.digits.test.map((d) => P.f.caption(d.image, DIGITS[d.label]));
  const caption = await answerAccuracy(fwd, capEx, tok.id("is"), B, shape, V);
  const iq = P.byRole["eval-image-question"] ?? [];
  const omniEx = data.digits.test.slice(0, 64).map((d, i) => P.f.omni(d.image, P.codes.get(iq[i % iq.length])!, DIGITS[d.label]));
  const omni = await answerAccuracy(fwd, omniEx, tok.id("<answer>"), B, shape, V);
  const qs = P.byRole["eval-question"] ?? [];
  const heldQ = qs.map((u) => data.utts[u].questionSplit === "heldout");
  const anyAnswer = (a: string) => P.codes.get(P.answers.get(a)![0])!;
  const fmt = cfg.omni.speechQaFormat;
  const spoken = (exs: Example[], mark: string) => speechAnswerAccuracy(fwd, exs, tok.id(mark), fmt, tok.id("<answer>"), tok.id("<eos>"), B, shape, V, sessions);
  const st = await spoken(qs.map((u) => P.f.sqaText(P.codes.get(u)!, data.utts[u].answer!, data.utts[u].text)), "<answer>");
  const ssEx = qs.map((u) => P.f.sqaSpeech(P.codes.get(u)!, data.utts[u].answer!, anyAnswer(data.utts[u].answer!), data.utts[u].text));
  const ss = await spoken(ssEx, "<speak>");
  const sub = (c: boolean[], keep: boolean[]) => {
    const xs = c.filter((_, i) => keep[i]);
    return xs.filter(Boolean).length / Math.max(1, xs.length);
  };
  const asr = await asrWordAccuracy(fwd, data, P, B, shape, V, probeEvalUtterances(data), sessions);
  // Speech out: generate the answer audio after the model's own text answer; judge it with the recogniser.
  let s2sAudioAcc = NaN;
  if (recognise) {
    const gen = await generateSpeech(p, ocfg, data, qs.map((u) => P.codes.get(u)!), B, cfg.omni.maxGenFrames, f, fmt, decode);
    const heard = await recognise(gen.frames);
    s2sAudioAcc = heard.filter((h, i) => h.trim() === data.utts[qs[i]].answer).length / Math.max(1, heard.length);
    if (final && cfg.report.audioSamples > 0) await writeGeneratedSamples(cfg, data, final.tok, final.run, qs, gen, heard, B);
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
    asrWordAcc: asr.acc,
    nAsrUtterances: asr.n,
    captionSamples: data.digits.test.slice(0, 16).map((d, i) => ({ label: d.label, pred: tok.words[caption.preds[i]] })),
  };
}

/** The scores of a stage that was trained but not evaluated (an intermediate stage of a control): every score NaN. */
export function unscoredEval(): OmniEval {
  const nan = NaN;
  return { textNll: nan, textQaAcc: nan, textQaN: 0, captionAcc: nan, omniAcc: nan, s2tAcc: nan, s2tAccHeldOutQ: nan, s2sTextAcc: nan, s2sTextAccHeldOutQ: nan, s2sAudioAcc: nan, nSpokenQuestions: 0, asrWordAcc: nan, nAsrUtterances: 0, captionSamples: [] };
}

/** What the speech-in evaluations share: the batch, vocabulary and shape of one-audio-row batches, the logits and the answer mark. */
function speechReader(p: OmniParams, cfg: OmniExperimentConfig, data: OmniData, decode: DecodePath) {
  const ocfg = omniConfigOf(cfg, data);
  const B = cfg.omni.batchSize;
  const V = ocfg.lm.vocabSize;
  const shape: BatchShape = { batch: B, seqLen: ocfg.lm.contextLength, audioRows: 1, nLayers: ocfg.codebookSizes.length, K0: ocfg.codebookSizes[0], vision: ocfg.vision };
  const f = omniLogitsFn(ocfg);
  const fwd = async (xs: Array[]) => (await f(trunkOf(p), xs).data()) as Float32Array;
  const sessions = evalSessions(decode, p, ocfg, fwd, shape);
  const mark = data.tok.id("<answer>");
  /** s→t of utterances `us` in the configured format (the answer after the model's own transcript for "transcribe"). */
  const st = (P: Pools, us: number[]) =>
    speechAnswerAccuracy(fwd, us.map((u) => P.f.sqaText(P.codes.get(u)!, data.utts[u].answer!, data.utts[u].text)), mark, cfg.omni.speechQaFormat, mark, data.tok.id("<eos>"), B, shape, V, sessions);
  /** Greedy ASR word accuracy of utterances `us` (default: the held-out voices' evaluation set). */
  const asr = (P: Pools, us: number[] = probeEvalUtterances(data)) => asrWordAccuracy(fwd, data, P, B, shape, V, us, sessions);
  return { B, V, shape, fwd, mark, st, asr };
}

/**
 * Speech-in scores only (cheap enough to log during a stage): greedy ASR word accuracy on held-out voices
 * and on up to `nTrain` training utterances,
 * s→t on held-out voices (all evaluation questions and the held-out ones), and s→t on up to `nTrain`
 * training utterances (training questions in training voices: does the model fit what it was trained on?).
 */
export async function evalSpeechIn(p: OmniParams, cfg: OmniExperimentConfig, data: OmniData, P: Pools, nTrain = 96, decode: DecodePath = "kv"): Promise<Record<string, number>> {
  const r = speechReader(p, cfg, data, decode);
  const { B, V, shape, fwd, mark } = r;
  const st = (us: number[]) => r.st(P, us);
  const qs = P.byRole["eval-question"] ?? [];
  const t2t = await answerAccuracy(fwd, qs.map((u) => P.f.qaText(data.utts[u].text, data.utts[u].answer!)), mark, B, shape, V);
  const held = await st(qs);
  const heldQ = qs.map((u) => data.utts[u].questionSplit === "heldout");
  const kept = held.correct.filter((_, i) => heldQ[i]);
  const seenQ = held.correct.filter((_, i) => !heldQ[i]);
  const train = P.byRole.question ?? [];
  const stride = Math.max(1, Math.floor(train.length / nTrain));
  const seen = await st(train.filter((_, i) => i % stride === 0).slice(0, nTrain));
  const asr = await r.asr(P);
  const trainStride = Math.max(1, Math.floor(data.trainIdx.length / nTrain));
  const asrSeen = await r.asr(P, data.trainIdx.filter((_, i) => i % trainStride === 0).slice(0, nTrain));
  // Statements alone (held-out sentences in held-out voices): the ASR gate's set is mostly spoken questions, so a simpler question set makes it easier.
  const asrSt = await r.asr(P, data.evalIdx.filter((u) => data.utts[u].role === "statement"));
  return { t2tAcc: t2t.acc, s2tForced: held.forced, asrWordAcc: asr.acc, asrTrainWordAcc: asrSeen.acc, asrStatementWordAcc: asrSt.acc, s2tAcc: held.acc, s2tAccHeldOutQ: kept.filter(Boolean).length / Math.max(1, kept.length), s2tAccTrainQ: seenQ.filter(Boolean).length / Math.max(1, seenQ.length), s2tTrainAcc: seen.acc };
}

/**
 * Where spoken QA fails (issue 17, route 4 item 4), all on the held-out voices' spoken questions unless named, each split
 * into the questions never spoken in training (`HeldQ`) and the training questions in new voices (`TrainQ`):
 * - `t2t*`: the same questions written (`qaText`): what the backbone answers from text;
 * - `s2t*`: spoken, answered in text (`sqaText`), and `s2tSeen`: training questions in training voices (up to `nTrain`);
 * - `cascade*`: the question written as the model's own greedy ASR transcript of the utterance, then answered as text;
 * - `s2tGivenAsr`: s→t on the utterances whose transcript is exactly right (`nAsrExact` of them; NaN when none);
 * - `asrQuestionWordAcc`: ASR word accuracy on these utterances.
 */
export async function evalSpeechQaSplit(p: OmniParams, cfg: OmniExperimentConfig, data: OmniData, P: Pools, nTrain = 96, decode: DecodePath = "kv"): Promise<Record<string, number>> {
  const r = speechReader(p, cfg, data, decode);
  const { B, V, shape, fwd, mark } = r;
  const acc = (c: boolean[], keep: boolean[]) => {
    const xs = c.filter((_, i) => keep[i]);
    return xs.length ? xs.filter(Boolean).length / xs.length : NaN;
  };
  const qs = P.byRole["eval-question"] ?? [];
  const heldQ = qs.map((u) => data.utts[u].questionSplit === "heldout");
  const trainQ = heldQ.map((h) => !h);
  const all = qs.map(() => true);
  const answer = (u: number) => data.utts[u].answer!;
  const t2t = await answerAccuracy(fwd, qs.map((u) => P.f.qaText(data.utts[u].text, answer(u))), mark, B, shape, V);
  const s2t = await r.st(P, qs);
  const asr = await r.asr(P, qs);
  const cascade = await answerAccuracy(fwd, qs.map((u, i) => P.f.qaText(data.tok.decode(asr.hyps[i]), answer(u))), mark, B, shape, V);
  const exact = qs.map((u, i) => editDistance(asr.hyps[i], data.tok.encode(data.utts[u].text)) === 0);
  const train = P.byRole.question ?? [];
  const stride = Math.max(1, Math.floor(train.length / nTrain));
  const seen = await r.st(P, train.filter((_, i) => i % stride === 0).slice(0, nTrain));
  return {
    nQuestions: qs.length,
    nHeldQ: heldQ.filter(Boolean).length,
    t2t: acc(t2t.correct, all),
    t2tHeldQ: acc(t2t.correct, heldQ),
    t2tTrainQ: acc(t2t.correct, trainQ),
    s2t: acc(s2t.correct, all),
    s2tHeldQ: acc(s2t.correct, heldQ),
    s2tTrainQ: acc(s2t.correct, trainQ),
    s2tSeen: seen.acc,
    cascade: acc(cascade.correct, all),
    cascadeHeldQ: acc(cascade.correct, heldQ),
    cascadeTrainQ: acc(cascade.correct, trainQ),
    asrQuestionWordAcc: asr.acc,
    nAsrExact: exact.filter(Boolean).length,
    s2tGivenAsr: acc(s2t.correct, exact),
  };
}
