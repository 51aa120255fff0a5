/**
 * Omni benchmark (issue 9, Baichuan-Omni-1.5, arXiv 2501.15368), at the `quick` preset's sizes with
 * freshly initialised weights (speed does not depend on training):
 *
 * - log-mel front end (plain JS, Whisper settings): seconds of 16 kHz audio per second;
 * - tokenizer encode (mel → 12.5 Hz RVQ codes, jitted, batch of 12 utterances of 2.4 s): seconds
 *   of audio per second, and its ratio to the front end measured in the same run;
 * - audio-frame generation (one LM forward over the sequence + 8 depth-transformer steps per
 *   12.5 Hz frame, full recomputation, no KV cache), batch 1 and batch 24: frames per second and
 *   the real-time factor (12.5 frames = 1 s of speech); its ratio is (time of one LM forward alone) /
 *   (time of a whole frame), i.e. the share of a frame spent in the LM rather than the depth head.
 * Figures are medians after warm-up. Run alone: `npx tsx bench/omni.ts`.
 */
import { pathToFileURL } from "node:url";
import { initEngine, jit, np, tree, type Array } from "../src/engine/index.js";
import { logMelSpectrogram } from "../src/data/mel.js";
import { initLM } from "../src/nn/transformer.js";
import { omniPresets } from "../src/papers/omni/config.js";
import { initTokenizer, tokenizerEncode, type TokenizerConfig, type TokNet as TokenizerNet } from "../src/papers/omni/tokenizer.js";
import { depthLogits, initOmni, omniForward, type OmniConfig, type OmniParams } from "../src/papers/omni/model.js";
import { batchFromList, batchList, formats, packBatch, type Codes } from "../src/papers/omni/sequences.js";
import { WordTokenizer } from "../src/papers/omni/world.js";
import type { BenchFigure, BenchFn } from "./types.js";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeIt(fn: () => Promise<void>, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

export const bench: BenchFn = async () => {
  await initEngine();
  const cfg = omniPresets.quick;
  const out: BenchFigure[] = [];
  const sec = cfg.speech.maxSeconds;
  const B = cfg.tokenizer.train.batchSize;
  const x = Float32Array.from({ length: Math.round(sec * 16000) }, (_, i) => Math.sin(i / 9) * Math.sin(i / 1300));
  const feSec = await timeIt(async () => void logMelSpectrogram(x, { nMels: cfg.speech.nMels }), 5);
  out.push({ bench: "omni", metric: "log-mel front end", value: sec / feSec, unit: "audio s/s" });

  const tcfg: TokenizerConfig = { ...cfg.tokenizer, nMels: cfg.speech.nMels, transcriptWeight: 0 };
  const tp = initTokenizer(tcfg, 0);
  const T = Math.ceil((sec * 100) / 8) * 8;
  const mel = logMelSpectrogram(x, { nMels: tcfg.nMels });
  const melB = new Float32Array(B * T * tcfg.nMels);
  for (let b = 0; b < B; b++) melB.set(mel.data.subarray(0, T * tcfg.nMels), b * T * tcfg.nMels);
  const enc = jit((net: TokenizerNet, embed: Array[], m: Array) => tokenizerEncode({ net, vq: { embed, clusterSize: [], embedAvg: [] } }, tcfg, m));
  const encSec = await timeIt(async () => {
    await enc(tree.ref(tp.net), tp.vq.embed.map((e) => e.ref), np.array(melB).reshape([B, T, tcfg.nMels])).data();
  }, 5);
  const encRate = (B * sec) / encSec;
  out.push({ bench: "omni", metric: `tokenizer encode (batch ${B})`, value: encRate, unit: "audio s/s", baseline: "log-mel front end", ratio: encRate / (sec / feSec) });

  const tok = new WordTokenizer();
  const lmCfg = { ...cfg.textLm.model, vocabSize: tok.vocabSize };
  const ocfg: OmniConfig = { lm: lmCfg, codebookSizes: tcfg.codebookSizes, depthLayers: cfg.omni.depthLayers, depthHeads: cfg.omni.depthHeads, depthFfnRatio: cfg.omni.depthFfnRatio, vision: { ...cfg.omni.vision, image: 28 }, audioLossWeight: 1 };
  const p = initOmni(ocfg, initLM(lmCfg, 0), 0);
  const f = formats(tok, ocfg.vision);
  const q: Codes = Array.from({ length: 20 }, () => new Int32Array(8));
  const fwd = jit((pp: Omit<OmniParams, "audioHead">, xs: Array[]) => {
    const b = batchFromList(xs);
    for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
    const o = omniForward(pp, ocfg, b);
    o.logits.dispose();
    return o.hidden;
  });
  const depth = jit((head: OmniParams["audioHead"], emb: OmniParams["audioEmbed"], h: Array, c: Array) => depthLogits(head, emb, ocfg, h, c));
  const noHead = () => tree.ref({ lm: p.lm, vision: p.vision, projector: p.projector, audioEmbed: p.audioEmbed });
  for (const nb of [1, cfg.omni.batchSize]) {
    const exs = Array.from({ length: nb }, () => f.sqaText(q, "five"));
    const shape = { batch: nb, seqLen: lmCfg.contextLength, audioRows: 1, nLayers: 8, K0: tcfg.codebookSizes[0], vision: ocfg.vision };
    const lmOnly = await timeIt(async () => {
      await fwd(noHead(), batchList(packBatch(exs, shape).arrays)).data();
    }, 5);
    const frame = await timeIt(async () => {
      const h = (await fwd(noHead(), batchList(packBatch(exs, shape).arrays)).data()) as Float32Array;
      const D = lmCfg.dModel;
      const hl = h.slice(0, nb * D);
      for (let i = 0; i < 8; i++) {
        const outs = depth(tree.ref(p.audioHead), tree.ref(p.audioEmbed), np.array(hl).reshape([nb, D]), np.zeros([nb, 8], { dtype: np.int32 }));
        await outs[i].ref.data();
        outs.forEach((o) => o.dispose());
      }
    }, 5);
    const fps = nb / frame;
    out.push({ bench: "omni", metric: `audio frame generation (batch ${nb})`, value: fps, unit: "frames/s", realTimeFactor: fps / 12.5, baseline: "LM forward alone", ratio: lmOnly / frame });
  }
  fwd.dispose();
  depth.dispose();
  enc.dispose();
  return out;
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  for (const f of await bench()) console.log(JSON.stringify(f));
  process.exit(0);
}
