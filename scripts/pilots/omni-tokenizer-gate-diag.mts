// Pilot for issue 17's frozen-LM sanity gate: why does T2's transcript NLL not depend on the codes? On a finished study run
// (RUN_DIR: its reader-lm and tokenizer-T2-s0 arms; the WAVs from SPEECH_DIR), for the held-out statements and questions:
//  1. what the frozen LM reads: transcript NLL per word with the true prefix (the tokenizer's quantised frames through the
//     trainable adapter `sem.proj`), another utterance's, an all-zero prefix, and a prefix of `<audio_pad>` embeddings;
//     the RMS of the prefix vectors beside that of the LM's word embeddings;
//  2. whether the transcript loss reaches the tokenizer: its gradient norm on the encoder, the decoder and the adapter,
//     beside the mel loss's (one batch, the training loss as `tokenizerLoss` computes it);
//  3. whether the reader could read any per-frame layout: its NLL after the sentence's words laid out over the utterance's
//     own 12.5 Hz frames (each word over an equal share of the voiced frames: what a per-frame adapter could at best write),
//     vs another sentence's, and after the training layout (one slot per word).
// Usage: npx tsx scripts/pilots/omni-tokenizer-gate-diag.mts OUTDIR RUN_DIR SPEECH_DIR
import { initEngine, jit, np, valueAndGrad, disposeTree, refTree, type Array } from "../../src/engine/index.js";
import { createRun } from "../../src/train/run-dir.js";
import type { ExperimentContext } from "../../src/train/experiment.js";
import { clipByGlobalNorm } from "../../src/optim/adamw.js";
import { lmForward, type LMParams } from "../../src/nn/transformer.js";
import { linear } from "../../src/nn/linear.js";
import { embed } from "../../src/nn/embedding.js";
import { crossEntropy } from "../../src/engine/index.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { loadReaderLM, prepareStudyData } from "../../src/papers/omni/tokenizer-study.js";
import { loadTokenizer, tokConfig } from "../../src/papers/omni/tokenizer-experiment.js";
import { encodeFeatures, tokenizerLoss, DOWNSAMPLE, type TokParams } from "../../src/papers/omni/tokenizer.js";
import { rvqQuantize } from "../../src/papers/omni/rvq.js";
import { lmConfigOf, melBatch, transcriptArrays, TEXT_LEN } from "../../src/papers/omni/prepare.js";
import { frames12 } from "../../src/papers/omni/data.js";

const [out, runDir, speechDir] = process.argv.slice(2);
await initEngine();
const q = tokStudyPresets.quick;
const cfg = { ...q, speech: { ...q.speech, cacheDir: speechDir } };
const run = createRun({ experiment: "omni-tokenizer-gate-diag", seed: 0, config: cfg, dir: out });
const t0 = Date.now();
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}`) };
const { data } = await prepareStudyData(cfg, ctx);
const ocfg = asOmniConfig(cfg, 0);
const tcfg = tokConfig(ocfg, "T2");
const lmCfg = lmConfigOf(ocfg, data.tok);
const tok = loadTokenizer(ocfg, data, "T2", `${runDir}/arms/tokenizer-T2-s0`);
const reader = loadReaderLM(cfg, data, `${runDir}/arms/reader-lm`);
const B = tcfg.train.batchSize;
const T12 = data.mels.T / DOWNSAMPLE;
const utts = data.evalIdx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question");
const nBatches = Math.min(8, Math.floor(utts.length / B));
ctx.log(`data ready; ${utts.length} held-out statements/questions, ${nBatches} batches of ${B}; T12 ${T12}`);

// ---- 1. what the LM reads
const prefixOf = jit((net: TokParams["net"], emb: Array[], sem: NonNullable<TokParams["sem"]>, mel: Array) => {
  const [Bn, T] = mel.shape;
  const z = encodeFeatures(net, tcfg, mel).reshape([Bn * (T / DOWNSAMPLE), 4 * tcfg.width]);
  const qq = rvqQuantize(emb, z, np.ones([Bn * (T / DOWNSAMPLE)]));
  qq.commitLoss.dispose();
  disposeTree([qq.counts, qq.sums, qq.residuals, qq.codes]);
  return linear(sem.proj, qq.quantized.reshape([Bn, T / DOWNSAMPLE, 4 * tcfg.width]));
});
const nllOf = jit((lm: LMParams, prefix: Array, textIn: Array, textTgt: Array, textMask: Array) => {
  const L = textIn.shape[1];
  const P = prefix.shape[1];
  const text = embed({ table: lm.wte.table.ref }, textIn);
  const { logits } = lmForward(lm, lmCfg, null, { inputEmbeds: np.concatenate([prefix, text], 1) });
  return crossEntropy(logits.slice([], [P, P + L], []), textTgt, textMask);
});
const padRow = data.tok.id("<audio_pad>");
const sums: Record<string, number> = { true: 0, shuffled: 0, zero: 0, pad: 0 };
let prefRms = 0;
for (let bi = 0; bi < nBatches; bi++) {
  const idx = utts.slice(bi * B, (bi + 1) * B);
  const rolled = idx.map((_, b) => idx[(b + 1) % B]);
  const mb = melBatch(data, idx);
  mb.mask100.dispose();
  mb.mask12.dispose();
  const prefix = prefixOf(refTree(tok.net), tok.vq.embed.map((e) => e.ref), refTree(tok.sem!), mb.mel);
  const pd = (await prefix.ref.data()) as Float32Array;
  prefRms += Math.sqrt(pd.reduce((a, v) => a + v * v, 0) / pd.length) / nBatches;
  const D = lmCfg.dModel;
  const padEmb = np.take(reader.wte.table.ref, np.array(new Int32Array(B * T12).fill(padRow), { dtype: np.int32 }), 0).reshape([B, T12, D]);
  const variants: [string, Array, number[]][] = [
    ["true", prefix.ref, idx],
    ["shuffled", prefix.ref, rolled],
    ["zero", np.zeros([B, T12, D]), idx],
    ["pad", padEmb, idx],
  ];
  prefix.dispose();
  for (const [name, p, textIdx] of variants) {
    const tx = transcriptArrays(data, textIdx, TEXT_LEN);
    sums[name] += ((await nllOf(refTree(reader), p, tx.textIn, tx.textTgt, tx.textMask).data()) as Float32Array)[0] / nBatches;
  }
}
const wd = (await reader.wte.table.ref.data()) as Float32Array;
const wteRms = Math.sqrt(wd.reduce((a, v) => a + v * v, 0) / wd.length);
ctx.log(`1. transcript NLL per word: true ${sums.true.toFixed(4)}, shuffled ${sums.shuffled.toFixed(4)}, zero prefix ${sums.zero.toFixed(4)}, <audio_pad> prefix ${sums.pad.toFixed(4)}; prefix RMS ${prefRms.toFixed(3)} vs word-embedding RMS ${wteRms.toFixed(3)}`);

// ---- 2. does the transcript loss reach the tokenizer?
const ENC = ["conv1", "conv2", "enc", "encLn", "pool"] as const;
const gradNorms = jit((tp: { net: TokParams["net"]; sem: NonNullable<TokParams["sem"]> }, vq: TokParams["vq"], lm: LMParams, mel: Array, mask100: Array, mask12: Array, textIn: Array, textTgt: Array, textMask: Array, candIdx: Array) => {
  const f = (which: number) => (pp: typeof tp) => {
    const o = tokenizerLoss({ ...pp, vq: refTree(vq), lm: refTree(lm) }, tcfg, lmCfg, { mel: mel.ref, mask100: mask100.ref, mask12: mask12.ref, textIn: textIn.ref, textTgt: textTgt.ref, textMask: textMask.ref, candIdx: candIdx.ref });
    const keep = o.metrics[which];
    o.loss.dispose();
    o.metrics.forEach((m, i) => i !== which && m.dispose());
    disposeTree(o.stats);
    return keep;
  };
  const res: Array[] = [];
  for (const which of [0, 2]) {
    const [v, g] = valueAndGrad(f(which))(refTree(tp));
    const gEnc = Object.fromEntries(ENC.map((k) => [k, g.net[k]]));
    const gDec = Object.fromEntries(Object.keys(g.net).filter((k) => !(ENC as readonly string[]).includes(k)).map((k) => [k, g.net[k as keyof typeof g.net]]));
    res.push(v, clipByGlobalNorm(gEnc as never, 0)[1], clipByGlobalNorm(gDec as never, 0)[1], clipByGlobalNorm(g.sem as never, 0)[1]);
  }
  disposeTree([tp, vq, lm, mel, mask100, mask12, textIn, textTgt, textMask, candIdx]);
  return res;
});
const trainUtts = data.trainIdx.filter((u) => data.utts[u].role === "statement" || data.utts[u].role === "question").slice(0, B);
const mb = melBatch(data, trainUtts);
const tx = transcriptArrays(data, trainUtts, TEXT_LEN);
const Kmax = Math.max(...tcfg.codebookSizes);
const g = await Promise.all(gradNorms({ net: refTree(tok.net), sem: refTree(tok.sem!) }, refTree(tok.vq), refTree(reader), mb.mel, mb.mask100, mb.mask12, tx.textIn, tx.textTgt, tx.textMask, np.array(new Int32Array(Kmax), { dtype: np.int32 })).map(async (a) => ((await a.data()) as Float32Array)[0]));
ctx.log(`2. one training batch: mel loss ${g[0].toFixed(4)}, grad norm encoder ${g[1].toExponential(3)} decoder ${g[2].toExponential(3)} adapter ${g[3].toExponential(3)}; transcript loss ${g[4].toFixed(4)}, grad norm encoder ${g[5].toExponential(3)} decoder ${g[6].toExponential(3)} adapter ${g[7].toExponential(3)}`);

// ---- 3. could the reader read a per-frame layout?
const idsNll = jit((lm: LMParams, x: Array, tgt: Array, m: Array) => crossEntropy(lmForward(lm, lmCfg, x).logits, tgt, m));
const st = utts.filter((u) => data.utts[u].role === "statement");
const layouts = ["frames", "compact"] as const;
for (const layout of layouts) {
  const r = [0, 0];
  for (const [k, shift] of [0, 1].entries()) {
    const T = T12 + TEXT_LEN;
    const x = new Int32Array(st.length * T);
    const y = new Int32Array(st.length * T);
    const m = new Float32Array(st.length * T);
    st.forEach((u, b) => {
      const src = data.tok.encode(data.utts[st[(b + shift) % st.length]].text);
      const words = data.tok.encode(data.utts[u].text);
      const F = Math.min(T12, frames12(data.mels.frames[st[(b + shift) % st.length]]));
      const pre = new Array(T12).fill(padRow);
      if (layout === "compact") src.forEach((w, j) => j < T12 && (pre[j] = w));
      else for (let f = 0; f < F; f++) pre[f] = src[Math.min(src.length - 1, Math.floor((f * src.length) / F))];
      const seq = [...pre, data.tok.id("<transcribe>"), ...words].slice(0, T);
      const tgt = [...pre.map(() => -1), ...words, data.tok.id("<eos>")].slice(0, T);
      seq.forEach((v, t) => (x[b * T + t] = v));
      tgt.forEach((v, t) => {
        if (v >= 0) {
          y[b * T + t] = v;
          m[b * T + t] = 1;
        }
      });
    });
    r[k] = ((await idsNll(refTree(reader), np.array(x, { dtype: np.int32 }).reshape([st.length, T]), np.array(y, { dtype: np.int32 }).reshape([st.length, T]), np.array(m).reshape([st.length, T])).data()) as Float32Array)[0];
  }
  ctx.log(`3. reader, words laid out ${layout === "frames" ? "over the utterance's own frames" : "one slot per word"} (${st.length} held-out statements): own ${r[0].toFixed(4)}, another's ${r[1].toFixed(4)}, gap ${(r[1] - r[0]).toFixed(3)} nats per word`);
}
process.exit(0);
