/**
 * The tiny world the omni experiment talks about: a fixed vocabulary, the sentences built from it
 * (statements, spoken/written questions with one-word answers, digit captions), a word-level
 * tokenizer with the special tokens of the omni protocol, and deterministic splits.
 *
 * Special tokens follow Baichuan-Omni-1.5's protocol (arXiv 2501.15368, Fig. 2; released code
 * `processor_omni.py`): audio input sits between `<audio_start>`/`<audio_end>` with one
 * placeholder per 12.5 Hz frame, generated speech between `<audiogen_start>`/`<audiogen_end>`,
 * images between `<img_start>`/`<img_end>` with one placeholder per merged patch.
 */
import { Rng } from "../../util/rng.js";

export const DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"] as const;
export const COLORS = ["red", "blue", "green", "black", "white"] as const;
export const SIZES = ["big", "small", "old", "happy"] as const;
export const NOUNS = ["cat", "dog", "bird", "fish", "cow", "horse"] as const;
export const VERBS = ["sees", "likes", "finds", "wants"] as const;
const FUNCTION_WORDS = ["the", "what", "is", "plus", "minus", "comes", "after", "before", "digit", "this"] as const;

export const SPECIALS = [
  "<pad>",
  "<bos>",
  "<eos>",
  "<audio_start>",
  "<audio_end>",
  "<audio_pad>",
  "<audiogen_start>",
  "<audiogen_end>",
  "<img_start>",
  "<img_end>",
  "<img_pad>",
  "<transcribe>",
  "<answer>",
  "<speak>",
] as const;
export type Special = (typeof SPECIALS)[number];

/** Word-level tokenizer over the fixed vocabulary (specials first, then words). */
export class WordTokenizer {
  readonly words: string[];
  private readonly index = new Map<string, number>();
  constructor() {
    this.words = [...SPECIALS, ...new Set([...DIGITS, ...COLORS, ...SIZES, ...NOUNS, ...VERBS, ...FUNCTION_WORDS])];
    this.words.forEach((w, i) => this.index.set(w, i));
  }
  get vocabSize(): number {
    return this.words.length;
  }
  id(w: string): number {
    const i = this.index.get(w);
    if (i === undefined) throw new Error(`WordTokenizer: "${w}" is not in the vocabulary (${this.words.length - SPECIALS.length} words)`);
    return i;
  }
  encode(text: string): number[] {
    return text.trim().split(/\s+/).filter(Boolean).map((w) => this.id(w));
  }
  decode(ids: number[]): string {
    return ids.map((i) => this.words[i] ?? "?").join(" ");
  }
}

/** A question with a one-word answer. */
export type Question = { text: string; answer: string; kind: "plus" | "minus" | "after" | "before" };

/**
 * Which questions are spoken: `arithmetic` = all 128 (plus, minus, after, before); `sequence` = the 18
 * "what comes after/before <digit>" ones, where hearing one digit word (and after/before) answers the
 * question (issue 17's simpler spoken question set). Written questions are always all 128.
 */
export type QuestionSet = "arithmetic" | "sequence";
export function questionsOf(set: QuestionSet): Question[] {
  const qs = allQuestions();
  return set === "arithmetic" ? qs : qs.filter((q) => q.kind === "after" || q.kind === "before");
}

/** All 128 arithmetic/sequence questions of the world, in a fixed order. */
export function allQuestions(): Question[] {
  const qs: Question[] = [];
  for (let a = 0; a <= 9; a++)
    for (let b = 0; a + b <= 9; b++) qs.push({ text: `what is ${DIGITS[a]} plus ${DIGITS[b]}`, answer: DIGITS[a + b], kind: "plus" });
  for (let a = 0; a <= 9; a++) for (let b = 0; b <= a; b++) qs.push({ text: `what is ${DIGITS[a]} minus ${DIGITS[b]}`, answer: DIGITS[a - b], kind: "minus" });
  for (let a = 0; a < 9; a++) qs.push({ text: `what comes after ${DIGITS[a]}`, answer: DIGITS[a + 1], kind: "after" });
  for (let a = 1; a <= 9; a++) qs.push({ text: `what comes before ${DIGITS[a]}`, answer: DIGITS[a - 1], kind: "before" });
  return qs;
}

/** All "the <adj> <noun> <verb> the <noun>" statements (9·6·4·6 = 1296). */
export function allStatements(): string[] {
  const out: string[] = [];
  for (const adj of [...COLORS, ...SIZES]) for (const n of NOUNS) for (const v of VERBS) for (const o of NOUNS) out.push(`the ${adj} ${n} ${v} the ${o}`);
  return out;
}

/** The spoken prompt of the image-audio (omni) data. */
export const IMAGE_QUESTION = "what digit is this";
/** The caption of a digit image ("the digit is five"); the last word is the label. */
export const caption = (d: number) => `the digit is ${DIGITS[d]}`;

/** Deterministic shuffle-and-split of a list. */
export function splitList<T>(xs: readonly T[], heldOut: number, seed: number, name: string): { train: T[]; heldOut: T[] } {
  const rng = Rng.stream(seed, `split:${name}`);
  const idx = rng.shuffle(Array.from({ length: xs.length }, (_, i) => i));
  const h = new Set(idx.slice(0, heldOut));
  return { train: xs.filter((_, i) => !h.has(i)), heldOut: xs.filter((_, i) => h.has(i)) };
}

/** espeak-ng voices (accent + variant): training voices and held-out voices never seen in training. */
export const TRAIN_VOICES = [
  "en-us+m1",
  "en-us+f1",
  "en-us+m3",
  "en-us+f4",
  "en-gb+m2",
  "en-gb+f2",
  "en-gb+m4",
  "en-029+m1",
  "en-029+f3",
  "en-gb-x-rp+m3",
  "en-gb-x-rp+f1",
  "en-gb-x-rp+m7",
] as const;
export const HELD_OUT_VOICES = ["en-gb-scotland+f2", "en-us-nyc+m2", "en-gb-x-gbclan+f4", "en-gb-x-gbcwmd+m5"] as const;

/** The accents of the training voices (the held-out voices use four other accents). */
export const TRAIN_ACCENTS = ["en-us", "en-gb", "en-029", "en-gb-x-rp"] as const;
/**
 * espeak-ng variants for further training voices: none of them is a held-out voice's variant (f2, m2, f4, m5), so
 * a held-out voice differs from every further training voice in accent and in variant.
 */
export const EXTRA_VARIANTS = [
  "m6", "f3", "f5", "m7", "croak", "Andy", "steph", "max", "Alex", "michel", "norbert", "quincy", "Denis", "iven", "john", "robert", "linda", "zac", "Tweaky", "kaukovalta",
] as const;
/**
 * The first `n` training voices: the 12 of `TRAIN_VOICES` (so n ≤ 12 is the original plan), then every training
 * accent with each further variant in turn (issue 17's voice diversity: more voices, the same number of utterances).
 */
const VOICE_POOL: readonly string[] = (() => {
  const pool: string[] = [...TRAIN_VOICES];
  for (const v of EXTRA_VARIANTS) for (const a of TRAIN_ACCENTS) if (!pool.includes(`${a}+${v}`)) pool.push(`${a}+${v}`);
  return pool;
})();
export function trainVoicePool(n: number): string[] {
  if (n > VOICE_POOL.length) throw new Error(`speech: ${n} training voices asked for, the pool holds ${VOICE_POOL.length}`);
  return VOICE_POOL.slice(0, n);
}
export const MAX_TRAIN_VOICES = VOICE_POOL.length;
