// The spoken-QA formats (`omni.speechQaFormat`, sequences.ts): the "transcribe" examples (the question's transcript is
// learnt before the answer) and the scorer that reads the answer after the model's own transcript (omni-eval.ts).
import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, type Array } from "../../engine/index.js";
import { formats, type BatchShape, type Codes } from "./sequences.js";
import { speechAnswerAccuracy } from "./omni-eval.js";
import { WordTokenizer } from "./world.js";
import { omniPresets, omniSchema } from "./config.js";

const tok = new WordTokenizer();
const vision = { image: 28, patch: 7, width: 8, layers: 1, heads: 2 };
const q: Codes = [Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1]), Int32Array.from([2, 2, 2, 2, 2, 2, 2, 2])];
const words = (ids: number[]) => ids.map((i) => tok.words[i]);

beforeAll(async () => {
  await initEngine();
});

describe("spoken-QA format", () => {
  it('"direct" is the paper\'s format: the answer right after <answer>', () => {
    const e = formats(tok, vision).sqaText(q, "five", "what is two plus three");
    expect(words(e.ids)).toEqual(["<bos>", "<audio_start>", "<audio_pad>", "<audio_pad>", "<audio_end>", "<answer>", "five", "<eos>"]);
    expect(e.textTgt.filter((t) => t >= 0).map((t) => tok.words[t])).toEqual(["five", "<eos>"]);
  });

  it('"transcribe" learns the transcript, <answer>, then the answer, after the direct format\'s prompt', () => {
    const f = formats(tok, vision, "transcribe");
    const e = f.sqaText(q, "five", "what is two plus three");
    expect(words(e.ids)).toEqual(["<bos>", "<audio_start>", "<audio_pad>", "<audio_pad>", "<audio_end>", "<answer>", "<transcribe>", "what", "is", "two", "plus", "three", "<answer>", "five", "<eos>"]);
    // nothing before the first <answer> is learnt; every token after it is
    expect(e.textTgt.slice(0, 5).every((t) => t < 0)).toBe(true);
    expect(e.textTgt.slice(5, -1).map((t) => tok.words[t])).toEqual(["<transcribe>", "what", "is", "two", "plus", "three", "<answer>", "five", "<eos>"]);
    const s = f.sqaSpeech(q, "five", [q[0]], "what is two plus three");
    expect(words(s.ids)).toEqual(["<bos>", "<audio_start>", "<audio_pad>", "<audio_pad>", "<audio_end>", "<speak>", "<transcribe>", "what", "is", "two", "plus", "three", "<answer>", "five", "<audiogen_start>", "<audio_pad>", "<audiogen_end>", "<eos>"]);
    expect(s.audioTgt[14]).toBe(q[0]);
    expect(() => f.sqaText(q, "five")).toThrow(/transcript/);
  });

  it("the config switch names its values", () => {
    // Route 5 at quick and full (the pilots in the README); `direct`, the paper's format, is the ablation.
    expect(omniPresets.quick.omni.speechQaFormat).toBe("transcribe");
    expect(omniPresets.full.omni.speechQaFormat).toBe("transcribe");
    expect(() => omniSchema.parse({ ...omniPresets.quick, omni: { ...omniPresets.quick.omni, speechQaFormat: "chain" } })).toThrow(/speechQaFormat/);
  });
});

/**
 * A scripted model: after the prompt it writes `script` one token per call (then `<eos>`), whatever the audio; it reads the
 * packed tokens, so the scorer must feed back what the model wrote.
 */
function scripted(script: string[], shape: BatchShape, promptLen: number) {
  const V = tok.vocabSize;
  return async (xs: Array[]): Promise<Float32Array> => {
    const tokens = (await xs[0].ref.data()) as Int32Array;
    for (const x of xs) x.dispose();
    const T = shape.seqLen;
    const out = new Float32Array(shape.batch * T * V);
    for (let b = 0; b < shape.batch; b++) {
      let len = 0;
      while (len < T && tokens[b * T + len] !== 0) len++;
      const written = len - promptLen;
      const w = script[written] ?? "<eos>";
      out[(b * T + len - 1) * V + tok.id(w)] = 1;
    }
    return out;
  };
}

describe("speechAnswerAccuracy", () => {
  const shape: BatchShape = { batch: 2, seqLen: 24, audioRows: 1, nLayers: 8, K0: 256, vision };
  const V = tok.vocabSize;
  const f = formats(tok, vision, "transcribe");
  const gold = [f.sqaText(q, "five", "what is two plus three"), f.sqaText(q, "two", "what is one plus one")];
  const mark = tok.id("<answer>");
  const promptLen = 6; // <bos> <audio_start> A A <audio_end> <answer>

  it("reads the answer after the model's own transcript, not the true one", async () => {
    // the model hears "what is one plus one" in both and answers two: right for the second only
    const fwd = scripted(["<transcribe>", "what", "is", "one", "plus", "one", "<answer>", "two"], shape, promptLen);
    const r = await speechAnswerAccuracy(fwd, gold, mark, "transcribe", mark, tok.id("<eos>"), 2, shape, V);
    expect(words(r.preds)).toEqual(["two", "two"]);
    expect(r.correct).toEqual([false, true]);
    expect(r.acc).toBe(0.5);
    expect(r.forced).toBe(0);
  });

  it("appends <answer> where the model ends without one, and counts it", async () => {
    // writes <eos> after two words: <answer> is appended, and the model's next token (here <eos>, the script's end) is its answer
    const fwd = scripted(["<transcribe>", "what"], shape, promptLen);
    const r = await speechAnswerAccuracy(fwd, gold, mark, "transcribe", mark, tok.id("<eos>"), 2, shape, V);
    expect(r.forced).toBe(2);
    expect(words(r.preds)).toEqual(["<eos>", "<eos>"]);
    expect(r.acc).toBe(0);
  });

  it('"direct" scores the teacher-forced token after the mark', async () => {
    const d = formats(tok, vision);
    const exs = [d.sqaText(q, "five"), d.sqaText(q, "two")];
    // a model that says "five" at every position
    const fwd = async (xs: Array[]): Promise<Float32Array> => {
      for (const x of xs) x.dispose();
      const out = new Float32Array(shape.batch * shape.seqLen * V);
      for (let r = 0; r < shape.batch * shape.seqLen; r++) out[r * V + tok.id("five")] = 1;
      return out;
    };
    const r = await speechAnswerAccuracy(fwd, exs, mark, "direct", mark, tok.id("<eos>"), 2, shape, V);
    expect(words(r.preds)).toEqual(["five", "five"]);
    expect(r.correct).toEqual([true, false]);
    expect(r.forced).toBe(0);
  });
});
