/**
 * The PPO learner's micro-batch shapes (issue 24, 40 PPO updates at `quick`): every `PPO_LEARNERS` entry (tighter
 * padding, gradients summed inside the jitted call) computes the update of the legacy learner (micro-batches padded
 * to 128 or the context, one eager add per parameter leaf): the same metric sums and the same parameters after one
 * update of several optimizer steps, over samples of different prompt and response lengths.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, refTree, tree, type Array } from "../../engine/index.js";
import { defaultLMConfig, initLM, type LMConfig } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { Rng } from "../../util/rng.js";
import { sftVsRlPresets } from "./config.js";
import { initValueHead, ppoLoss } from "./model.js";
import { lengthBucket, makeAccumulatingStep, minibatchArrays, PPO_LEARNERS, ppoLearn, type LearnerShape, type Sample } from "./ppo.js";
import { GP_PHRASES, PhraseTokenizer } from "./tokenizer.js";

const tok = new PhraseTokenizer(GP_PHRASES);
const cfg: LMConfig = { ...defaultLMConfig, vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 160, norm: "rms", pos: "rope", mlp: "gelu" };
const ppo = { ...sftVsRlPresets.quick.ppo, epochs: 2, minibatches: 2, microBatch: 4 };

beforeAll(async () => {
  await initEngine();
});

/** 16 samples: prompts of 5-120 tokens and responses of 3-30, so micro-batches pad to 128 and to the context. */
function samples(): Sample[] {
  const rng = new Rng(11, "learner-samples");
  return Array.from({ length: 16 }, (_, i) => {
    const promptLen = i % 4 === 3 ? 100 + rng.int(21) : 5 + rng.int(60);
    const respLen = 3 + rng.int(28);
    const seq = Array.from({ length: promptLen + respLen }, () => rng.int(cfg.vocabSize));
    const weights = Array.from({ length: respLen }, (_, j) => (j < respLen / 2 ? 0.5 : 1));
    return { seq, promptLen, weights, oldLogp: -3 * respLen * (0.9 + 0.2 * rng.next()), oldValue: rng.next() - 0.5, ret: 4 * rng.next() - 2, adv: 2 * rng.next() - 1 };
  });
}

async function runLearner(learner: LearnerShape, valueOnly: boolean): Promise<{ sums: Record<string, number>; params: number[] }> {
  const lossCfg = { clip: 0.1, valueClip: 1, valueLossCoef: 0.5, temperature: 1, ratioCap: 10, ...(valueOnly ? { valueOnly } : {}) };
  const params = { lm: initLM(cfg, 5), value: initValueHead(cfg.dModel, 5) };
  const step = makeAccumulatingStep((p, b) => ppoLoss(p, cfg, lossCfg, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], undefined, undefined, learner.responseHead ? b[8] : undefined), { adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-7, weightDecay: 0 }, clip: 1, decayMask: defaultDecayMask(params), learner });
  const r = await ppoLearn({ samples: samples(), params, opt: adamwInit(params), step, lr: 1e-3, update: 0, ppo, shuffle: Rng.stream(3, "ppo-shuffle"), contextLength: cfg.contextLength, learner });
  step.dispose();
  const out: number[] = [];
  for (const l of tree.flatten<Array>(refTree(r.params))[0]) out.push(...((await l.data()) as Float32Array));
  disposeTree(r.params);
  disposeTree(r.opt);
  return { sums: { ...r.sums, n: r.n }, params: out };
}

describe("PPO learner shapes", () => {
  it("pads to 128 or the context (legacy), or to the longest input rounded up to the multiple", () => {
    expect(lengthBucket(43, 256)).toBe(128);
    expect(lengthBucket(129, 256)).toBe(256);
    expect(lengthBucket(43, 256, 16)).toBe(48);
    expect(lengthBucket(129, 256, 16)).toBe(144);
    expect(lengthBucket(250, 256, 32)).toBe(256);
    const s = samples().slice(0, 4);
    const longest = Math.max(...s.map((x) => x.seq.length - 1));
    const [x, ...rest] = minibatchArrays(s, cfg.contextLength, undefined, PPO_LEARNERS.pad16);
    expect(x.shape).toEqual([4, Math.ceil(longest / 16) * 16]);
    disposeTree([x, ...rest]);
  });
  for (const valueOnly of [false, true]) {
    it(`every learner gives the legacy learner's update (${valueOnly ? "value warm-up" : "policy"} step)`, async () => {
      const ref = await runLearner(PPO_LEARNERS.legacy, valueOnly);
      expect(ref.sums.n).toBe(4);
      expect(Number.isFinite(ref.sums.loss)).toBe(true);
      for (const [name, learner] of Object.entries(PPO_LEARNERS)) {
        if (name === "legacy") continue;
        const got = await runLearner(learner, valueOnly);
        expect({ name, ...got.sums }).toEqual({ name, ...ref.sums });
        expect(got.params.length).toBe(ref.params.length);
        const diff = got.params.findIndex((v, i) => v !== ref.params[i]);
        expect({ name, diff }).toEqual({ name, diff: -1 });
      }
    });
  }
});
