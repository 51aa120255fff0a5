// T2's adapter into the frozen LM (Baichuan-Omni-1.5 §3.2.2, transcript prediction; `semAdapter` of tokenizer.ts).
import { beforeAll, describe, expect, it } from "vitest";
import { crossEntropy, disposeTree, initEngine, np, refTree } from "../../engine/index.js";
import { initLM, lmForward, type LMConfig } from "../../nn/transformer.js";
import { initTokenizer, tokenizerLoss, type TokenizerConfig } from "./tokenizer.js";
import { WordTokenizer } from "./world.js";
import { tinyTokenizerConfig } from "./testing.js";

const tok = new WordTokenizer();
const lmCfg: LMConfig = { vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 48, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 2, tiedHead: true, bias: false };
const tcfg: TokenizerConfig = tinyTokenizerConfig(1);

beforeAll(async () => {
  await initEngine();
});

describe("T2 adapter into the frozen LM", () => {
  it("softTokens feeds the expected word embedding: an adapter sure of one word reads as that word's token in every prefix slot", async () => {
    const cfg: TokenizerConfig = { ...tcfg, semAdapter: "softTokens" };
    const lm = initLM(lmCfg, 3);
    const p = initTokenizer(cfg, 0, { params: refTree(lm), cfg: lmCfg });
    expect(p.sem!.proj.w.shape).toEqual([4 * cfg.width, lmCfg.vocabSize]);
    const word = tok.id("<transcribe>") + 5;
    disposeTree(p.sem);
    const bias = new Float32Array(lmCfg.vocabSize);
    bias[word] = 60;
    p.sem = { proj: { w: np.zeros([4 * cfg.width, lmCfg.vocabSize]), b: np.array(bias) } };
    const T = 64;
    const T12 = T / 8;
    const rng = Array.from({ length: T * cfg.nMels }, (_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 0.011));
    const text = [tok.id("<transcribe>"), ...tok.encode("the cat is red")];
    const tgt = [...tok.encode("the cat is red"), tok.id("<eos>")];
    const L = text.length;
    const ids = (a: number[]) => np.array(Int32Array.from(a), { dtype: np.int32 }).reshape([1, a.length]);
    const out = tokenizerLoss(p, cfg, lmCfg, {
      mel: np.array(Float32Array.from(rng)).reshape([1, T, cfg.nMels]),
      mask100: np.ones([1, T]),
      mask12: np.ones([1, T12]),
      textIn: ids(text),
      textTgt: ids(tgt),
      textMask: np.ones([1, L]),
      candIdx: np.array(new Int32Array(8), { dtype: np.int32 }),
    });
    const got = ((await out.metrics[2].data()) as Float32Array)[0];
    out.loss.dispose();
    out.metrics[0].dispose();
    out.metrics[1].dispose();
    disposeTree(out.stats);
    // The same LM reading token ids: `word` in every prefix slot, then the transcript.
    const { logits } = lmForward(lm, lmCfg, ids([...new Array(T12).fill(word), ...text]));
    const want = ((await crossEntropy(logits.slice([], [T12, T12 + L], []), ids(tgt), np.ones([1, L])).data()) as Float32Array)[0];
    expect(Number.isFinite(got)).toBe(true);
    expect(got).toBeCloseTo(want, 4);
  });
});
