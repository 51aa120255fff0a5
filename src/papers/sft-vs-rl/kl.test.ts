/**
 * KL to the init on ID prompts (issue 24, "KL to the init on ID prompts beside OOD change"; `klToInit` in arms.ts).
 * The readout logged in the branches at the evaluation temperature 0.2 was the same number at every checkpoint of
 * both branches (a 0.0673 and a 3.3e-6 in the two-seed quick run): not stale parameters, but saturation (at 0.2 the
 * branches put all their mass on the init's own answers, so KL(π ‖ π_init) = −log π_init of those answers, the same
 * for every such π). These tests pin what the readout must do: zero against itself, the exact KL of the answer
 * distributions (enumerated on a 3-token vocabulary, the sampler's Monte Carlo mean within its noise), and a value
 * that grows as SFT steps move a model away from its init and that tells different models apart.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, np } from "../../engine/index.js";
import { generate } from "../../nn/generate.js";
import { defaultLMConfig, initLM, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import { answerKL, klToInit, klToInitDetail, setup } from "./arms.js";
import { sftVsRlPresets } from "./config.js";
import { sftLoss } from "./model.js";
import { DEFAULT_SFT_SHAPE, expertDataset, sftBatchArrays } from "./sft.js";
import { gpSpec } from "./tasks.js";

beforeAll(async () => {
  await initEngine();
});

/** The model with its final norm's gain scaled by `k` (the logits scale by k with the tied head). */
function sharpen(p: LMParams, k: number): LMParams {
  return { ...p, lnF: { ...p.lnF, g: p.lnF.g.mul(k) } };
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0);

describe("KL to the init", () => {
  // Vocabulary {0, 1, STOP}: an answer is a string over {0, 1} of 3 tokens, or shorter and ending in STOP.
  const tiny: LMConfig = { ...defaultLMConfig, vocabSize: 3, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 8, norm: "rms", pos: "rope", mlp: "gelu" };
  const STOP = 2;
  const MAX_NEW = 3;
  const allAnswers = (): number[][] => {
    const out: number[][] = [];
    const walk = (prefix: number[]) => {
      if (prefix.length === MAX_NEW) return void out.push(prefix);
      out.push([...prefix, STOP]);
      for (const t of [0, 1]) walk([...prefix, t]);
    };
    walk([]);
    return out;
  };

  it("equals the exact KL of the answer distributions (enumerated), and its sampled mean agrees within the noise", async () => {
    // Two random models, the first made peaked (its final norm's gain x 6, so its logits are 6x larger): a KL well above 0.
    const pi = sharpen(initLM(tiny, 1), 6);
    const pi0 = initLM(tiny, 2);
    const prompt = [0, 1, 1];
    const answers = allAnswers();
    expect(answers.length).toBe(15);
    for (const T of [1, 0.5]) {
      const d = await answerKL(pi, pi0, tiny, answers.map(() => prompt), answers, T);
      // log π(a) sums to a distribution over the 15 answers; the KL by enumeration is Σ_a π(a) (log π(a) − log π0(a)).
      const p = Array.from(d.logp, Math.exp);
      expect(sum(p)).toBeCloseTo(1, 5);
      const exactKL = sum(p.map((q, i) => q * d.mc[i]));
      expect(exactKL).toBeGreaterThan(0.01);
      // The per-token form has the same expectation over π's answers (chain rule), and is never negative.
      expect(sum(p.map((q, i) => q * d.exact[i]))).toBeCloseTo(exactKL, 5);
      for (const v of d.exact) expect(v).toBeGreaterThanOrEqual(-1e-6);
      // Against itself: zero for every answer.
      const self = await answerKL(pi, pi, tiny, answers.map(() => prompt), answers, T);
      expect(Array.from(self.exact).every((v) => v === 0) && Array.from(self.mc).every((v) => v === 0)).toBe(true);
      // Sampled answers (the sampler at the same temperature): the Monte Carlo mean lies within 4 SE of the exact KL.
      const n = 400;
      const out = await generate(pi, tiny, Array.from({ length: n }, () => prompt), { maxNewTokens: MAX_NEW, temperature: T, rng: new Rng(5, `kl-test-${T}`), stopIds: [STOP] });
      const s = await answerKL(pi, pi0, tiny, out.tokens.map(() => prompt), out.tokens, T);
      const m = sum(s.exact) / n;
      const se = Math.sqrt(sum(Array.from(s.exact, (v) => (v - m) ** 2)) / (n - 1) / n);
      expect(Math.abs(m - exactKL)).toBeLessThan(4 * se + 1e-6);
    }
    disposeTree(pi);
    disposeTree(pi0);
  });

  it("is 0 against itself, tells different models apart, grows with SFT steps away from the init, and needs a temperature", async () => {
    const cfg = sftVsRlPresets.tiny;
    const { tok, model } = setup(cfg);
    const spec = gpSpec(cfg);
    const T = 1;
    const n = 6;
    const init = initLM(model, 0);
    expect(await klToInit(init, init, model, tok, cfg, spec, n, { temperature: T })).toBe(0);
    await expect(klToInit(init, init, model, tok, cfg, spec, n, { temperature: 0 })).rejects.toThrow(/temperature must be > 0/);

    // SFT on the expert answers from `init`, the KL read after 0, 3 and 8 steps.
    const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
    let params = initLM(model, 0);
    let opt = adamwInit(params);
    const step = makeTrainStep<LMParams>((p, x, y, m, rows) => sftLoss(p, model, x, y, m, rows), { adamw: { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 }, clip: 1, decayMask: defaultDecayMask(params) });
    const rng = Rng.stream(0, "kl-test-sft");
    const B = 4;
    const kls: number[] = [];
    for (let s = 0; s <= 8; s++) {
      if ([0, 3, 8].includes(s)) kls.push(await klToInit(params, init, model, tok, cfg, spec, n, { temperature: T }));
      if (s === 8) break;
      const a = sftBatchArrays(Array.from({ length: B }, () => data[rng.int(data.length)]), cfg.sftInit.seqLen, DEFAULT_SFT_SHAPE);
      const out = step.step(params, opt, [np.array(a.x, { dtype: np.int32 }).reshape([B, a.T]), np.array(a.y, { dtype: np.int32 }).reshape([B, a.R]), np.array(a.mask).reshape([B, a.R]), np.array(a.rows!).reshape([B, a.R, a.T])], 3e-3, s + 1);
      params = out.params;
      opt = out.opt;
      out.loss.dispose();
      out.gradNorm.dispose();
    }
    step.dispose();
    expect(kls[0]).toBe(0);
    expect(kls[1]).toBeGreaterThan(0);
    expect(kls[2]).toBeGreaterThan(kls[1]);
    // A different model (another initialisation) is at a different KL from the init than the trained one.
    const other = initLM(model, 7);
    const d = await klToInitDetail(other, init, model, tok, cfg, spec, n, { temperature: T });
    const klOther = sum(d.exact) / n;
    expect(klOther).toBeGreaterThan(0);
    expect(klOther).not.toBe(kls[2]);
    expect(d.temperature).toBe(T);
    for (const p of [init, params, other]) disposeTree(p);
    disposeTree(opt);
  }, 60_000);
});
