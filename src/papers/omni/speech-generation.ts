/**
 * Speech out with the paper's interleaved protocol (Fig. 2; the released demo): the prompt ends
 * with `<speak>`; the model writes its text segment (here one greedy word; with the spoken-QA format "transcribe", its
 * own transcript of the question, `<answer>` and one greedy word, as `speechAnswerAccuracy` reads them), then
 * `<audiogen_start>`, then per 12.5 Hz frame the LM runs once and the depth head 8 times
 * (codebook by codebook, greedy) until head 0 emits end-of-audio. Generated answers are decoded
 * by the T2 tokenizer and turned into WAVs by Griffin-Lim (experiment outputs the report embeds).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jit, np, refTree, type Array } from "../../engine/index.js";
import { encodeWav } from "../../data/audio.js";
import { vocodeLogMel } from "../../data/mel.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { depthLogits, omniForward, type OmniConfig, type OmniParams } from "./model.js";
import { batchFromList, formats, type Codes, type Example, type SpeechQaFormat } from "./sequences.js";
import { DOWNSAMPLE, type TokenizerConfig, type TokParams } from "./tokenizer.js";
import { SAMPLE_RATE } from "./speech.js";
import { argmax, cachedJit, TEXT_LEN, type OmniData } from "./prepare.js";
import { decodeAll } from "./tokenizer-experiment.js";
import { fullSession, kvSession, type DecodePath } from "./kv-decode.js";

/** The omni model without its audio head (what the LM forward reads). */
export type Trunk = Omit<OmniParams, "audioHead">;
/** A new reference to the trunk of `p` (consumed by a jitted call). */
export const trunkOf = (p: OmniParams): Trunk => refTree({ lm: p.lm, vision: p.vision, projector: p.projector, audioEmbed: p.audioEmbed });

/** Greedy speech answers to spoken `questions`: the text word after `<speak>` and the generated frames. */
export async function generateSpeech(
  p: OmniParams,
  ocfg: OmniConfig,
  data: OmniData,
  questions: Codes[],
  B: number,
  maxFrames: number,
  fwdLogits: (q: Trunk, xs: Array[]) => Array,
  format: SpeechQaFormat = "direct",
  decode: DecodePath = "kv",
): Promise<{ text: number[]; frames: Codes[] }> {
  const tok = data.tok;
  const T = ocfg.lm.contextLength;
  const D = ocfg.lm.dModel;
  const V = ocfg.lm.vocabSize;
  const nL = ocfg.codebookSizes.length;
  const K0 = ocfg.codebookSizes[0];
  const f = formats(tok, ocfg.vision);
  const shape = { batch: B, seqLen: T, audioRows: 1, nLayers: nL, K0, vision: ocfg.vision };
  const hid = cachedJit(["omni-hidden", ocfg], () =>
    jit((q: Trunk, xs: Array[]) => {
      const b = batchFromList(xs);
      for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
      const o = omniForward(q, ocfg, b);
      o.logits.dispose();
      return o.hidden;
    }),
  );
  const depth = cachedJit(["depth", ocfg], () => jit((head: OmniParams["audioHead"], emb: OmniParams["audioEmbed"], h: Array, c: Array) => depthLogits(head, emb, ocfg, h, c)));
  const textOut: number[] = [];
  const framesOut: Codes[] = [];
  for (let i = 0; i < questions.length; i += B) {
    const chunk = questions.slice(i, i + B);
    // prompt: <bos> <audio_start> A×n <audio_end> <speak>
    const prompt = (q: Codes): Example => {
      const e = f.sqaText(q, "zero"); // the sqa prefix up to the mark; the mark becomes <speak>
      const cut = e.ids.lastIndexOf(tok.id("<answer>"));
      return { ...e, ids: [...e.ids.slice(0, cut), tok.id("<speak>")], codes: e.codes.slice(0, cut + 1).map((c, j) => (j === cut ? null : c)), textTgt: new Array<number>(cut + 1).fill(-1), audioTgt: new Array<null>(cut + 1).fill(null) };
    };
    const exs = chunk.map(prompt);
    while (exs.length < B) exs.push(prompt(chunk[0])); // padding rows: separate copies
    const push = (e: Example, w: number) => {
      e.ids.push(w);
      e.codes.push(null);
      e.textTgt.push(-1);
      e.audioTgt.push(null);
    };
    // `kv`: prefill once, then one LM position per row per step (text tokens and audio frames alike); `full`: the
    // whole packed batch through the LM at every step (the reference path, kept for the test).
    const full = async (xs: Array[], want: "logits" | "hidden") => ((await (want === "logits" ? fwdLogits : hid)(trunkOf(p), xs).data()) as Float32Array);
    const s = decode === "kv" ? kvSession(p, ocfg, shape, TEXT_LEN + 2 + maxFrames) : fullSession(full, shape, V, D);
    const next = async () => {
      const out = await s.next(exs, "logits");
      return exs.map((_, b) => argmax(out.logits(b)));
    };
    if (format === "transcribe") {
      // the model's transcript, until it writes <answer> (appended for it at <eos> or after TEXT_LEN tokens)
      const open = exs.map(() => true);
      for (let t = 0; t < TEXT_LEN && open.some(Boolean); t++) {
        const ws = await next();
        exs.forEach((e, b) => {
          if (!open[b]) return;
          const w = ws[b] === tok.id("<eos>") || t === TEXT_LEN - 1 ? tok.id("<answer>") : ws[b];
          push(e, w);
          if (w === tok.id("<answer>")) open[b] = false;
        });
      }
    }
    // text segment: one greedy token after <speak> (after <answer> for "transcribe")
    const words = await next();
    exs.forEach((e, b) => {
      push(e, words[b]);
      push(e, tok.id("<audiogen_start>"));
    });
    const frames: Codes[] = exs.map(() => []);
    const done = exs.map((e) => e.ids.length >= T);
    for (let fr = 0; fr < maxFrames && !done.every(Boolean); fr++) {
      const out = await s.next(exs, "hidden");
      const h = new Float32Array(B * D);
      exs.forEach((_, b) => h.set(out.hidden(b), b * D));
      const codes = new Int32Array(B * nL);
      for (let li = 0; li < nL; li++) {
        const outs = depth(refTree(p.audioHead), refTree(p.audioEmbed), np.array(h).reshape([B, D]), np.array(codes, { dtype: np.int32 }).reshape([B, nL]));
        const lg = (await outs[li].ref.data()) as Float32Array;
        outs.forEach((o) => o.dispose());
        const K = ocfg.codebookSizes[li] + 1;
        // heads > 0 never emit the end index; head 0's end index ends the segment
        for (let b = 0; b < B; b++) codes[b * nL + li] = argmax(lg.subarray(b * K, (b + 1) * K), 0, li === 0 ? K : K - 1);
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
    s.close();
    chunk.forEach((_, b) => {
      textOut.push(words[b]);
      framesOut.push(frames[b]);
    });
  }
  return { text: textOut, frames: framesOut };
}

/** Decode the first generated answers with the T2 tokenizer, vocode them (Griffin-Lim) and write WAVs + notes into `run`'s samples. */
export async function writeGeneratedSamples(
  cfg: OmniExperimentConfig,
  data: OmniData,
  tok: { p: TokParams; cfg: TokenizerConfig },
  run: RunDir,
  qs: number[],
  gen: { text: number[]; frames: Codes[] },
  heard: string[],
  B: number,
): Promise<void> {
  const n = Math.min(cfg.report.audioSamples, qs.length);
  const nL = cfg.tokenizer.codebookSizes.length;
  const mels = await decodeAll(tok.p, tok.cfg, gen.frames.slice(0, n).map((c) => (c.length ? c : [new Int32Array(nL)])), 8, data.mels.T, B);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const nf = Math.max(1, gen.frames[i].length) * DOWNSAMPLE;
    const wav = vocodeLogMel({ data: mels[i].subarray(0, nf * tok.cfg.nMels), frames: nf, nMels: tok.cfg.nMels }, { iters: cfg.report.griffinLimIters, rng: Rng.stream(cfg.seed, "griffin-lim") });
    writeFileSync(join(run.samplesDir, `s2s-${i}.wav`), encodeWav(wav, SAMPLE_RATE));
    const u = data.utts[qs[i]];
    lines.push(`s2s-${i}.wav: question "${u.text}" (${u.voice}); text part "${data.tok.words[gen.text[i]]}"; ${gen.frames[i].length} frames; recogniser heard "${heard[i]}"; answer "${u.answer}"`);
  }
  writeFileSync(join(run.samplesDir, "s2s.txt"), lines.join("\n") + "\n");
}
