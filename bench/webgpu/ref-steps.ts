/**
 * A few steps of the reference training step (bench/ref-step.ts: GPT with AdamW and global-norm
 * clipping under one `jit`) at a tiny size, written once so the WebGPU page in Chromium and the
 * wasm run in Node train the same model on the same batches. The engine must already be started
 * on the device to measure (`initEngine`).
 */
import { np, crossEntropy, disposeTree, type Array } from "../../src/engine/index.js";
import { defaultLMConfig, initLM, lmForward, type LMConfig, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { Rng } from "../../src/util/rng.js";

export type RefStepsOptions = {
  /** Overrides of the reference model (defaultLMConfig). */
  model: Partial<LMConfig>;
  batch: number;
  steps: number;
  seed: number;
  lr: number;
};

/** The reference model's layout at a size SwiftShader's WebGPU runs in seconds. */
export const TINY_REF_STEPS: RefStepsOptions = {
  model: { nLayers: 1, dModel: 32, nHeads: 2, contextLength: 16, vocabSize: 256 },
  batch: 2,
  steps: 5,
  seed: 0,
  lr: 1e-2,
};

export type RefStepsResult = {
  /** Loss of each step, read back as a float32 value. */
  losses: number[];
  /** Wall time of the first step (tracing and compiling included). */
  firstStepMs: number;
  /** Mean wall time of the later steps, loss read back included. */
  msPerStep: number;
  /** Training tokens per second over the later steps. */
  tokensPerSec: number;
};

/**
 * Deterministic batches with structure the model can pick up within a few steps: each row counts
 * through the vocabulary from a random start with a random stride, and the targets are the next
 * tokens of the same sequence.
 */
export function refBatches(o: RefStepsOptions): { x: Int32Array; y: Int32Array }[] {
  const V = o.model.vocabSize ?? defaultLMConfig.vocabSize;
  const T = o.model.contextLength ?? defaultLMConfig.contextLength;
  const rng = new Rng(o.seed, "webgpu-ref-steps");
  return Array.from({ length: o.steps }, () => {
    const x = new Int32Array(o.batch * T);
    const y = new Int32Array(o.batch * T);
    for (let b = 0; b < o.batch; b++) {
      const start = rng.int(V);
      const stride = 1 + rng.int(3);
      for (let t = 0; t < T; t++) {
        x[b * T + t] = (start + t * stride) % V;
        y[b * T + t] = (start + (t + 1) * stride) % V;
      }
    }
    return { x, y };
  });
}

export async function runRefSteps(o: RefStepsOptions): Promise<RefStepsResult> {
  const cfg: LMConfig = { ...defaultLMConfig, ...o.model };
  const T = cfg.contextLength;
  let params = initLM(cfg, o.seed);
  let opt = adamwInit(params);
  const train = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), {
    adamw: defaultAdamW,
    clip: 1,
    decayMask: defaultDecayMask(params),
  });
  const losses: number[] = [];
  const ms: number[] = [];
  for (const [i, { x, y }] of refBatches(o).entries()) {
    const t0 = performance.now();
    const batch = [np.array(x, { dtype: np.int32 }).reshape([o.batch, T]), np.array(y, { dtype: np.int32 }).reshape([o.batch, T])];
    const out = train.step(params, opt, batch, o.lr, i + 1);
    params = out.params;
    opt = out.opt;
    losses.push(Number((await out.loss.data())[0]));
    out.gradNorm.dispose();
    for (const a of out.aux) a.dispose();
    ms.push(performance.now() - t0);
  }
  disposeTree(params);
  disposeTree(opt);
  train.dispose();
  const later = ms.slice(1);
  const msPerStep = later.length ? later.reduce((a, b) => a + b, 0) / later.length : ms[0];
  return { losses, firstStepMs: ms[0], msPerStep, tokensPerSec: (o.batch * T * 1000) / msPerStep };
}
