/**
 * The sequence formats of the omni data and their batching (plain JS on the host).
 *
 * Formats (token strings as in `world.ts`; `A×n` = n audio-frame positions, `I×4` = image tokens):
 *   text     <bos> w… <answer> a <eos>   or   <bos> w… <eos>                        (text replay)
 *   caption  <bos> <img_start> I×4 <img_end> the digit is d <eos>                  (image-text)
 *   asr      <bos> <audio_start> A×n <audio_end> <transcribe> w… <eos>             (ASR)
 *   tts      <bos> w… <speak> <audiogen_start> A×n <audiogen_end> <eos>            (TTS)
 *   sqa-st   <bos> <audio_start> A×n <audio_end> <answer> a <eos>                  (speech in, text out)
 *   sqa-ss   <bos> <audio_start> A×n <audio_end> <speak> a <audiogen_start> A×m <audiogen_end> <eos>
 *            (speech in, interleaved text + speech out: the paper's protocol, text segment first)
 * With the spoken-QA format "transcribe" (`omni.speechQaFormat`; a deviation from the paper's direct answers, issue 17:
 * the chain-of-modality "transcribe then answer" of speech LLMs), the model first writes the question's transcript:
 *   sqa-st   <bos> <audio_start> A×n <audio_end> <answer> <transcribe> w… <answer> a <eos>
 *   sqa-ss   <bos> <audio_start> A×n <audio_end> <speak> <transcribe> w… <answer> a <audiogen_start> A×m <audiogen_end> <eos>
 * The prompt is the direct format's (up to the first <answer> / <speak>); everything after it is learnt, and the answer is
 * read after the last <answer>. The task mark before <transcribe> tells these from ASR (whose prompt ends in <transcribe>).
 *   omni     <bos> <img_start> I×4 <img_end> <audio_start> A×n <audio_end> <answer> d <eos>
 * In generated audio, the state at <audiogen_start> predicts frame 1, frame k predicts frame k+1 and
 * the last frame predicts end-of-audio (code K_0 on head 0); the host then appends <audiogen_end>.
 */
import { np, type Array } from "../../engine/index.js";
import type { OmniBatch, VisionConfig } from "./model.js";
import { nImageTokens, nPatches, patchify } from "./model.js";
import type { WordTokenizer } from "./world.js";

export type DataKind = "text" | "caption" | "asr" | "tts" | "sqa-st" | "sqa-ss" | "omni";
export const DATA_KINDS: DataKind[] = ["text", "caption", "asr", "tts", "sqa-st", "sqa-ss", "omni"];

/** Codes of one utterance: frames × 8 (int). */
export type Codes = Int32Array[];

export type Example = {
  kind: DataKind;
  ids: number[];
  /** Audio codes at audio-frame positions (null elsewhere). */
  codes: (Int32Array | null)[];
  /** Next-token target at each position (−1: none). */
  textTgt: number[];
  /** Next-frame target at each position: codes, "eoa", or null. */
  audioTgt: (Int32Array | "eoa" | null)[];
  image: Float32Array | null;
  /** Position of the first image token. */
  imgPos: number;
};

class Builder {
  ids: number[] = [];
  codes: (Int32Array | null)[] = [];
  textTgt: number[] = [];
  audioTgt: (Int32Array | "eoa" | null)[] = [];
  imgPos = -1;
  constructor(readonly tok: WordTokenizer) {}
  /** Append tokens; `learn` makes each appended token a target of the previous position. */
  text(words: string, learn: boolean): this {
    for (const w of words.split(/\s+/).filter(Boolean)) this.push(this.tok.id(w), null, learn);
    return this;
  }
  push(id: number, codes: Int32Array | null, learn: boolean): void {
    if (learn && this.ids.length > 0) this.textTgt[this.ids.length - 1] = id;
    this.ids.push(id);
    this.codes.push(codes);
    this.textTgt.push(-1);
    this.audioTgt.push(null);
  }
  /** Audio frames as input (between <audio_start>/<audio_end>). */
  audioIn(frames: Codes): this {
    this.text("<audio_start>", false);
    for (const f of frames) this.push(this.tok.id("<audio_pad>"), f, false);
    return this.text("<audio_end>", false);
  }
  /** Generated audio: <audiogen_start> then frames, each predicted from the previous state, then end-of-audio. */
  audioOut(frames: Codes, learnStart: boolean): this {
    this.text("<audiogen_start>", learnStart);
    for (const f of frames) {
      this.audioTgt[this.ids.length - 1] = f;
      this.push(this.tok.id("<audio_pad>"), f, false);
    }
    this.audioTgt[this.ids.length - 1] = "eoa";
    return this.text("<audiogen_end>", false);
  }
  image(n: number): this {
    this.text("<img_start>", false);
    this.imgPos = this.ids.length;
    for (let i = 0; i < n; i++) this.push(this.tok.id("<img_pad>"), null, false);
    return this.text("<img_end>", false);
  }
  build(kind: DataKind, image: Float32Array | null = null): Example {
    return { kind, ids: this.ids, codes: this.codes, textTgt: this.textTgt, audioTgt: this.audioTgt, image, imgPos: this.imgPos };
  }
}

export type Formats = ReturnType<typeof formats>;

/** How spoken questions are answered: "direct" (the paper: the answer right after the question) or "transcribe" (above). */
export type SpeechQaFormat = "direct" | "transcribe";

/** The example constructors for one tokenizer and image size (spoken questions in `speechQa` format). */
export function formats(tok: WordTokenizer, vision: VisionConfig, speechQa: SpeechQaFormat = "direct") {
  const nImg = nImageTokens(vision);
  const b = () => new Builder(tok).text("<bos>", false);
  /** The learnt transcript before the answer (format "transcribe"), or nothing. */
  const chain = (x: Builder, transcript: string | undefined): Builder => {
    if (speechQa === "direct") return x;
    if (transcript === undefined) throw new Error('speech QA format "transcribe" needs the question\'s transcript');
    return x.text(`<transcribe> ${transcript} <answer>`, true);
  };
  return {
    /** A text sentence; QA text is "question <answer> a". */
    text: (sentence: string) => b().text(`${sentence} <eos>`, true).build("text"),
    qaText: (q: string, a: string) => b().text(q, true).text(`<answer> ${a} <eos>`, true).build("text"),
    caption: (image: Float32Array, digitWord: string) => b().image(nImg).text(`the digit is ${digitWord} <eos>`, true).build("caption", image),
    asr: (frames: Codes, text: string) => b().audioIn(frames).text("<transcribe>", false).text(`${text} <eos>`, true).build("asr"),
    tts: (text: string, frames: Codes) => {
      const x = b().text(`${text} <speak>`, false).audioOut(frames, true);
      return x.text("<eos>", true).build("tts");
    },
    /** Spoken question `q` answered `a` in text; `transcript` (the question's words) is needed by format "transcribe". */
    sqaText: (q: Codes, a: string, transcript?: string) => chain(b().audioIn(q).text("<answer>", false), transcript).text(`${a} <eos>`, true).build("sqa-st"),
    sqaSpeech: (q: Codes, a: string, aFrames: Codes, transcript?: string) =>
      chain(b().audioIn(q).text("<speak>", false), transcript).text(a, true).audioOut(aFrames, true).text("<eos>", true).build("sqa-ss"),
    omni: (image: Float32Array, q: Codes, digitWord: string) => b().image(nImg).audioIn(q).text("<answer>", false).text(`${digitWord} <eos>`, true).build("omni", image),
  };
}

export type BatchShape = { batch: number; seqLen: number; audioRows: number; nLayers: number; K0: number; vision: VisionConfig };

/**
 * Pack examples into padded arrays. Longer examples are an error (the config's context is too
 * short); audio-target rows beyond `audioRows` are dropped (counted in `droppedAudioRows`).
 */
export function packBatch(exs: Example[], s: BatchShape): { arrays: OmniBatch; droppedAudioRows: number } {
  const { batch: B, seqLen: T, audioRows: Na, nLayers: L, vision } = s;
  if (exs.length !== B) throw new Error(`packBatch: got ${exs.length} examples for batch ${B}`);
  const N = nPatches(vision);
  const nImg = nImageTokens(vision);
  const P2 = vision.patch * vision.patch;
  const tokens = new Int32Array(B * T);
  const codes = new Int32Array(B * T * L);
  const audioMask = new Float32Array(B * T);
  const pixels = new Float32Array(B * vision.image * vision.image);
  const hasImg = new Uint8Array(B);
  const imgSlots = new Float32Array(B * T * nImg);
  const textTgt = new Int32Array(B * T);
  const textMask = new Float32Array(B * T);
  const outSel = new Float32Array(Na * B * T);
  const outCodes = new Int32Array(Na * L);
  const outMask = new Float32Array(Na * L);
  let row = 0;
  let dropped = 0;
  exs.forEach((e, bi) => {
    if (e.ids.length > T) throw new Error(`sequence of ${e.ids.length} tokens (${e.kind}) exceeds model.lm.contextLength ${T}`);
    for (let t = 0; t < e.ids.length; t++) {
      const at = bi * T + t;
      tokens[at] = e.ids[t];
      const c = e.codes[t];
      if (c) {
        audioMask[at] = 1;
        codes.set(c, at * L);
      }
      if (e.textTgt[t] >= 0) {
        textTgt[at] = e.textTgt[t];
        textMask[at] = 1;
      }
      const a = e.audioTgt[t];
      if (a) {
        if (row >= Na) dropped++;
        else {
          outSel[row * B * T + at] = 1;
          if (a === "eoa") {
            outCodes[row * L] = s.K0;
            outMask[row * L] = 1;
          } else {
            outCodes.set(a, row * L);
            outMask.fill(1, row * L, row * L + L);
          }
          row++;
        }
      }
    }
    if (e.image) {
      pixels.set(e.image, bi * vision.image * vision.image);
      hasImg[bi] = 1;
      for (let j = 0; j < nImg; j++) imgSlots[(bi * T + e.imgPos + j) * nImg + j] = 1;
    }
  });
  const patches = patchify(pixels, B, vision);
  for (let bi = 0; bi < B; bi++) if (!hasImg[bi]) patches.fill(0, bi * N * P2, (bi + 1) * N * P2);
  const i32 = (x: Int32Array, shape: number[]) => np.array(x, { dtype: np.int32 }).reshape(shape);
  const f32 = (x: Float32Array, shape: number[]) => np.array(x).reshape(shape);
  return {
    arrays: {
      tokens: i32(tokens, [B, T]),
      codes: i32(codes, [B, T, L]),
      audioMask: f32(audioMask, [B, T]),
      patches: f32(patches, [B, N, P2]),
      imgSlots: f32(imgSlots, [B, T, nImg]),
      textTgt: i32(textTgt, [B, T]),
      textMask: f32(textMask, [B, T]),
      outSel: f32(outSel, [Na, B * T]),
      outCodes: i32(outCodes, [Na, L]),
      outMask: f32(outMask, [Na, L]),
    },
    droppedAudioRows: dropped,
  };
}

/** The batch as the ordered list the train step takes. */
export function batchList(b: OmniBatch): Array[] {
  return [b.tokens, b.codes, b.audioMask, b.patches, b.imgSlots, b.textTgt, b.textMask, b.outSel, b.outCodes, b.outMask];
}

export function batchFromList(xs: Array[]): OmniBatch {
  const [tokens, codes, audioMask, patches, imgSlots, textTgt, textMask, outSel, outCodes, outMask] = xs;
  return { tokens, codes, audioMask, patches, imgSlots, textTgt, textMask, outSel, outCodes, outMask };
}
