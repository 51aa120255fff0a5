/**
 * A vision tower that sees before image stage I. Baichuan-Omni-1.5 (arXiv 2501.15368, §3.2.1)
 * starts its visual branch from a trained encoder ("We utilize NaViT of Qwen2-VL as the visual
 * encoder"), and image stage I trains only the projector on its features. Our tiny ViT (`model.ts`)
 * has no pretrained weights to start from, so this step trains it first, as a classifier of MNIST
 * digits (the images the omni stages caption):
 *
 *   logits = W · mean_n ViT(x)_n + b        (ViT(x) [B, N, Cv] after the final LayerNorm; W [Cv, 10])
 *   loss   = softmax cross-entropy(logits, digit)
 *
 * with AdamW (β 0.9/0.95, weight decay 0.1 on matrices), global-norm clip 1 and warm-up + cosine.
 * The head is dropped afterwards; the stages start from the pretrained tower (`withPretrainedVision`).
 * `omni.visionPretrain.steps = 0` skips the step: the tower is the random one `initOmni` draws
 * (the ablation switch; the tower then stays random and frozen until image stage II).
 *
 * Digits: training images only. Per digit the `mnist` package's list is split into the omni
 * training head, the pretraining slice and the omni evaluation tail (`pretrainDigitRanges`): the
 * pretraining sees neither the digits the omni evaluation uses nor its own held-out digits.
 */
import { crossEntropy, disposeTree, jit, np, refTree, type Array } from "../../engine/index.js";
import { KeyGen } from "../../nn/init.js";
import { initLinear, linear, type Linear } from "../../nn/linear.js";
import { adamwInit } from "../../optim/adamw.js";
import { loadRunParams } from "../../train/checkpoint.js";
import type { ExperimentContext } from "../../train/experiment.js";
import { trainLoop } from "../../train/loop.js";
import type { RunDir } from "../../train/run-dir.js";
import { makeTrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import type { VisionPretrainSummary } from "./summary.js";
import { loadPretrainDigits, type Digit } from "./data.js";
import { initVisionEncoder, nPatches, patchify, visionFeatures, type OmniParams, type VisionConfig, type VisionEncoder } from "./model.js";
import { argmax, cachedJit, sched } from "./prepare.js";
import { decayMaskOf } from "./text-lm.js";

/** Held-out digits per class for the pretraining's accuracy (taken just before the omni evaluation tail). */
export const VISION_HELD_OUT_PER_DIGIT = 50;
const N_CLASSES = 10;

export type VisionClassifier = { vision: VisionEncoder; head: Linear };

/**
 * The tower is drawn exactly as `initOmni` draws it (same seed, same named keys), so `steps: 0`
 * and step 0 of the pretraining start from the same weights; the head has its own stream.
 */
export function initVisionClassifier(v: VisionConfig, seed: number): VisionClassifier {
  return { vision: initVisionEncoder(new KeyGen(seed, "omni"), v), head: initLinear(new KeyGen(seed, "vision-pretrain"), "head", v.width, N_CLASSES, { bias: true }) };
}

/** Patches [B, N, P²] → class logits [B, 10]: mean of the ViT's patch features, then the linear head. */
export function visionLogits(p: VisionClassifier, v: VisionConfig, patches: Array): Array {
  const x = visionFeatures(p.vision, v, patches); // [B, N, Cv]
  return linear(p.head, x.mean(1)); // [B, 10]
}

/** Fraction of rows of `logits` [n, C] (row-major) whose argmax (first index on ties) is the label. */
export function classificationAccuracy(logits: Float32Array, labels: number[], nClasses: number): number {
  if (labels.length === 0) return NaN;
  let right = 0;
  labels.forEach((y, i) => {
    if (argmax(logits.subarray(i * nClasses, (i + 1) * nClasses)) === y) right++;
  });
  return right / labels.length;
}

/** Patches [B, N, P²] and int32 labels [B] of a list of digits. */
export function digitBatch(digits: Digit[], v: VisionConfig): { patches: Array; labels: Array } {
  const B = digits.length;
  const px = new Float32Array(B * v.image * v.image);
  digits.forEach((d, b) => px.set(d.image, b * v.image * v.image));
  return {
    patches: np.array(patchify(px, B, v)).reshape([B, nPatches(v), v.patch * v.patch]),
    labels: np.array(Int32Array.from(digits.map((d) => d.label)), { dtype: np.int32 }),
  };
}

/** Held-out accuracy of a classifier (params not consumed), in batches of `B` (the last one padded). */
export async function visionAccuracy(p: VisionClassifier, v: VisionConfig, digits: Digit[], B: number): Promise<number> {
  const f = cachedJit(["vision-logits", v], () => jit((q: VisionClassifier, patches: Array) => visionLogits(q, v, patches)));
  const logits = new Float32Array(digits.length * N_CLASSES);
  for (let i = 0; i < digits.length; i += B) {
    const chunk = digits.slice(i, i + B);
    const padded = [...chunk, ...Array.from({ length: B - chunk.length }, () => chunk[0])];
    const { patches, labels } = digitBatch(padded, v);
    labels.dispose();
    const out = (await f(refTree(p), patches).data()) as Float32Array;
    logits.set(out.subarray(0, chunk.length * N_CLASSES), i * N_CLASSES);
  }
  return classificationAccuracy(
    logits,
    digits.map((d) => d.label),
    N_CLASSES,
  );
}

/**
 * Train the tower + head on MNIST (arm `vision-pretrain`): `omni.visionPretrain` steps of batch
 * `batchSize` at peak rate `lr`, digits drawn with the named stream `data:vision-pretrain`. `evalEvery`
 * (pilots) logs the held-out accuracy during training to the arm's metrics.
 */
export async function trainVisionPretrain(cfg: OmniExperimentConfig, run: RunDir, ctx: ExperimentContext, arm: string, evalEvery?: number): Promise<VisionPretrainSummary> {
  const vp = cfg.omni.visionPretrain;
  if (!(vp.steps > 0)) throw new Error(`omni.visionPretrain.steps: ${vp.steps}; the pretraining needs steps >= 1 (0 skips it before this call)`);
  const v: VisionConfig = { ...cfg.omni.vision, image: 28 };
  const digits = loadPretrainDigits(cfg.digits.trainPerDigit, cfg.digits.testPerDigit, VISION_HELD_OUT_PER_DIGIT);
  const B = vp.batchSize;
  const lossFn = (p: VisionClassifier, patches: Array, labels: Array) => crossEntropy(visionLogits(p, v, patches), labels);
  const step = makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: decayMaskOf(initVisionClassifier(v, cfg.seed)) });
  const evaluate = async (p: VisionClassifier) => ({ heldOutAcc: await visionAccuracy(p, v, digits.heldOut, 100) });
  const res = await trainLoop<VisionClassifier>({
    run,
    totalSteps: vp.steps,
    init: () => {
      const params = initVisionClassifier(v, cfg.seed);
      return { params, opt: adamwInit(params) };
    },
    trainStep: step,
    rngs: { data: Rng.stream(cfg.seed, "data:vision-pretrain") },
    nextBatch: (_s, rngs) => {
      const { patches, labels } = digitBatch(
        Array.from({ length: B }, () => rngs.data.pick(digits.train)),
        v,
      );
      return [patches, labels];
    },
    lr: sched({ steps: vp.steps, lr: vp.lr, warmupSteps: Math.min(20, Math.floor(vp.steps / 10)) }),
    tokensPerStep: B,
    evalEvery: evalEvery ?? vp.steps,
    evaluate,
    checkpointEvery: vp.steps,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, arm),
  });
  step.dispose();
  const heldOutAcc = res.lastEval.heldOutAcc ?? (await evaluate(res.params)).heldOutAcc;
  disposeTree(res.params);
  disposeTree(res.opt);
  return { status: res.status, steps: res.step, finalLoss: res.lastLoss, heldOutAcc, heldOutN: digits.heldOut.length, trainN: digits.train.length };
}

/**
 * The handoff: `p` with its vision tower replaced by the pretrained one in `visionDir` (the arm
 * `vision-pretrain`; the head is dropped). `visionDir` null keeps `p`'s random tower (`steps: 0`).
 */
export function withPretrainedVision(p: OmniParams, visionDir: string | null, v: VisionConfig): OmniParams {
  if (visionDir === null) return p;
  const c = loadRunParams(visionDir, initVisionClassifier(v, 0));
  disposeTree(c.head);
  disposeTree(p.vision);
  return { ...p, vision: c.vision };
}
