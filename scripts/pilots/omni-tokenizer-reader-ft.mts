// Pilot for issue 17's frozen-LM sanity gate: can the quick reader LM (read-back prefixes of one slot per word) learn to read
// prefixes laid out as speech is (each word over several 12.5 Hz frames)? Continues the reader of READER_DIR (an arm
// directory) for STEPS steps on the study's reader mix with `readBackRepeats` REPEATS (its own cosine at the text LM's rate),
// writes it to OUTDIR/arms/reader-lm, and prints, on the held-out spoken statements, the transcript NLL per word after the
// sentence's words laid out over the utterance's own frames (equal shares: what a per-frame adapter could at best write) and
// after another's, before and after. SPEECH_CACHE: the WAVs. Usage:
// npx tsx scripts/pilots/omni-tokenizer-reader-ft.mts OUTDIR READER_DIR STEPS REPEATS
import { cpuUsage } from "node:process";
import { initEngine, jit, np, refTree, crossEntropy, disposeTree, type Array } from "../../src/engine/index.js";
import { lmForward, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { trainLoop } from "../../src/train/loop.js";
import { createRun } from "../../src/train/run-dir.js";
import type { ExperimentContext } from "../../src/train/experiment.js";
import { Rng } from "../../src/util/rng.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { loadReaderLM, prepareStudyData, readerBatch } from "../../src/papers/omni/tokenizer-study.js";
import { lmConfigOf, sched, TEXT_LEN } from "../../src/papers/omni/prepare.js";
import { decayMaskOf } from "../../src/papers/omni/text-lm.js";
import { DOWNSAMPLE } from "../../src/papers/omni/tokenizer.js";
import { frames12 } from "../../src/papers/omni/data.js";

const [out, readerDir, stepsArg, repsArg] = process.argv.slice(2);
await initEngine();
const q = tokStudyPresets.quick;
const steps = +stepsArg;
const cfg = { ...q, speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech" }, study: { ...q.study, readBackRepeats: +repsArg } };
const run = createRun({ experiment: "omni-tokenizer-reader-ft", seed: 0, config: cfg, dir: out });
const t0 = Date.now();
const cpu = () => (cpuUsage().user + cpuUsage().system) / 1e6;
const ctx: ExperimentContext = { run, resume: false, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s wall, ${cpu().toFixed(0)} s CPU] ${m}`) };
const { data } = await prepareStudyData(cfg, ctx);
const lmCfg = lmConfigOf(asOmniConfig(cfg), data.tok);
const P = data.mels.T / DOWNSAMPLE;
const T = P + TEXT_LEN;
const pad = data.tok.id("<audio_pad>");
const st = data.evalIdx.filter((u) => data.utts[u].role === "statement");
const idsNll = jit((lm: LMParams, x: Array, tgt: Array, m: Array) => crossEntropy(lmForward(lm, lmCfg, x).logits, tgt, m));
/** NLL per word after the words of utterance (b + shift) laid out over its own frames. */
const framesCheck = async (lm: LMParams) => {
  const r = [0, 0];
  for (const [k, shift] of [0, 1].entries()) {
    const x = new Int32Array(st.length * T);
    const y = new Int32Array(st.length * T);
    const m = new Float32Array(st.length * T);
    st.forEach((u, b) => {
      const other = st[(b + shift) % st.length];
      const src = data.tok.encode(data.utts[other].text);
      const words = data.tok.encode(data.utts[u].text);
      const F = Math.min(P, frames12(data.mels.frames[other]));
      const pre = new Array(P).fill(pad);
      for (let f = 0; f < F; f++) pre[f] = src[Math.min(src.length - 1, Math.floor((f * src.length) / F))];
      const seq = [...pre, data.tok.id("<transcribe>"), ...words].slice(0, T);
      const tgt = [...pre.map(() => -1), ...words, data.tok.id("<eos>")].slice(0, T);
      seq.forEach((v, t) => (x[b * T + t] = v));
      tgt.forEach((v, t) => {
        if (v >= 0) [y[b * T + t], m[b * T + t]] = [v, 1];
      });
    });
    r[k] = ((await idsNll(refTree(lm), np.array(x, { dtype: np.int32 }).reshape([st.length, T]), np.array(y, { dtype: np.int32 }).reshape([st.length, T]), np.array(m).reshape([st.length, T])).data()) as Float32Array)[0];
  }
  return r;
};
const before = loadReaderLM(cfg, data, readerDir);
const b0 = await framesCheck(before);
ctx.log(`before: frames layout own ${b0[0].toFixed(4)} another's ${b0[1].toFixed(4)} gap ${(b0[1] - b0[0]).toFixed(3)}; frames per word on the ${st.length} statements ${(st.reduce((a, u) => a + frames12(data.mels.frames[u]) / data.tok.encode(data.utts[u].text).length, 0) / st.length).toFixed(2)}`);
disposeTree(before);
const B = cfg.textLm.train.batchSize;
const lossFn = (p: LMParams, x: Array, y: Array, m: Array) => crossEntropy(lmForward(p, lmCfg, x).logits, y, m);
const train = { ...cfg.textLm.train, steps, warmupSteps: Math.min(cfg.textLm.train.warmupSteps, Math.floor(steps / 10)) };
const res = await trainLoop<LMParams>({
  run: createRun({ experiment: "omni-tokenizer-reader-ft", seed: 0, config: cfg, dir: `${out}/arms/reader-lm` }),
  totalSteps: steps,
  init: () => {
    const params = loadReaderLM(cfg, data, readerDir);
    return { params, opt: adamwInit(params) };
  },
  trainStep: makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: decayMaskOf(loadReaderLM(cfg, data, readerDir)) }),
  rngs: { data: Rng.stream(cfg.seed, "data:reader-ft") },
  nextBatch: (_s, rngs) => readerBatch(data, cfg, rngs.data, B, T, P),
  lr: sched(train),
  tokensPerStep: B * T,
  evalEvery: steps,
  checkpointEvery: steps,
  onProgress: (e) => e.kind === "step" && e.step % 50 === 0 && ctx.log(`step ${e.step} loss ${e.loss.toFixed(3)}`),
});
const a = await framesCheck(res.params);
ctx.log(`after ${steps} steps at repeats ${repsArg}: frames layout own ${a[0].toFixed(4)} another's ${a[1].toFixed(4)} gap ${(a[1] - a[0]).toFixed(3)}; final loss ${res.lastLoss.toFixed(3)}`);
process.exit(0);
