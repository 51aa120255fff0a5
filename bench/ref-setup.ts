/**
 * The reference training step's model, optimizer state, step function and batch stream (GPT, 2 layers, width 128,
 * 4 heads, context 128, batch 16, vocab 256, AdamW), shared by the bench (`ref-step.ts`) and the speed pilots so they
 * time the same step. Call after `initEngine()`.
 */
import { np, crossEntropy, type Array } from "../src/engine/index.js";
import { defaultLMConfig, initLM, lmForward, type LMParams } from "../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../src/optim/adamw.js";
import { makeTrainStep } from "../src/train/step.js";
import { Rng } from "../src/util/rng.js";

export function refStepSetup() {
  const cfg = { ...defaultLMConfig };
  const B = 16;
  const T = cfg.contextLength;
  const params = initLM(cfg, 0);
  const opt = adamwInit(params);
  const { step } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), {
    adamw: defaultAdamW,
    clip: 1,
    decayMask: defaultDecayMask(params),
  });
  const rng = new Rng(0, "bench");
  const batch = () => {
    const x = Int32Array.from({ length: B * T }, () => rng.int(256));
    const y = Int32Array.from({ length: B * T }, () => rng.int(256));
    return [np.array(x, { dtype: np.int32 }).reshape([B, T]), np.array(y, { dtype: np.int32 }).reshape([B, T])];
  };
  return { cfg, B, T, params, opt, step, batch };
}
