/**
 * Supervised fine-tuning in the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, App. C.1):
 * the expert dataset of a task (optimal single-turn answers under the training rule) and response-only SFT with
 * `trainLoop`, shared by stage 1 (the SFT init) and branch A (more SFT on the same data).
 */
import { disposeTree, np } from "../../engine/index.js";
import { initLM, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import type { ExperimentContext } from "../../train/experiment.js";
import { trainLoop } from "../../train/loop.js";
import type { RunDir } from "../../train/run-dir.js";
import { makeTrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import { vlSettings, type SftVsRlConfig } from "./config.js";
import { sftExample, sftLoss, vlSftLoss, type VLParams } from "./model.js";
import { gpSpec, type EnvSpec } from "./tasks.js";
import { packRows, responseWidth, type PackRow } from "./pack.js";
import { answerTokens, renderChat, type PhraseTokenizer } from "./tokenizer.js";
import { imageBatch, initVision, type VisionParams } from "./vision.js";

/** An expert example: prompt and response tokens, and the image shown with the prompt (GP-VL). */
export type SftExample = { prompt: number[]; response: number[]; image?: Float32Array };

/**
 * The SFT dataset of a task (GeneralPoints by default): expert single-turn answers in the training (ID) split,
 * (prompt tokens, response tokens). GeneralPoints: one hand per example. Navigation: every rail point of a route in
 * order (the expert moves the agent on), routes until `dataSize` examples.
 */
export function expertDataset(cfg: SftVsRlConfig, tok: PhraseTokenizer, contextLength: number, spec: EnvSpec = gpSpec(cfg)): SftExample[] {
  const env = spec.makeEnv("id", spec.ppo.verifyIter);
  const data: SftExample[] = [];
  for (let i = 0; data.length < spec.sftInit.dataSize; i++) {
    let obs = env.reset(new Rng(cfg.seed, spec.dataStream(i)).nextU32());
    while (data.length < spec.sftInit.dataSize) {
      const answer = env.expertAnswer();
      const ex: SftExample = { prompt: renderChat(tok, [{ role: "user", content: obs.text }], contextLength), response: answerTokens(tok, answer) };
      if (spec.image) ex.image = spec.image(env);
      data.push(ex);
      const r = env.step(answer);
      if (r.done) break;
      obs = r.observation;
    }
  }
  return data;
}

type SFTParams = LMParams | VLParams;

/**
 * How an SFT step shapes its batch; every choice computes the same step (the same loss and parameters, bit for bit:
 * sft.test.ts). `padMultiple`: rows are padded to the batch's longest sequence rounded up to a multiple of this, at
 * most T (0: to the fixed length T). `responseHead`: the LM head and its log-softmax run only at the response positions
 * (`lmForward`'s `headRows`), where the loss mask is non-zero, instead of at every position of the row.
 */
export type SftShape = { padMultiple: number; responseHead: boolean };
export const SFT_SHAPES = {
  legacy: { padMultiple: 0, responseHead: false },
  pad16: { padMultiple: 16, responseHead: false },
  head: { padMultiple: 0, responseHead: true },
  pad16Head: { padMultiple: 16, responseHead: true },
} satisfies Record<string, SftShape>;
/** The shape of every language SFT step (GP-VL keeps `legacy`: its loss splices images into fixed-length rows). */
export const DEFAULT_SFT_SHAPE: SftShape = SFT_SHAPES.pad16Head;

/**
 * Host arrays of one SFT batch (the examples in batch order) under `shape`: x [B, T'] (T' = T, or the longest row
 * rounded up to `padMultiple`), and y, mask [B, T'] (as `sftExample` writes them) or, with `responseHead`, y, mask
 * [B, R] over the response targets only plus the one-hot rows [B, R, T'] that pick their positions, laid out by
 * `packRows` (pack.ts, shared with the PPO learner); R is the longest row's last response column + 1 rounded up to 16.
 */
export function sftBatchArrays(batch: readonly SftExample[], T: number, shape: SftShape): { x: Int32Array; y: Int32Array; mask: Float32Array; rows: Float32Array | null; T: number; R: number } {
  const lens = batch.map((e) => e.prompt.length + e.response.length - 1);
  const longest = Math.max(...lens);
  if (longest > T) throw new Error(`sftBatchArrays: prompt + response tokens (${longest + 1}) exceed the sequence length ${T} + 1`);
  const Tp = shape.padMultiple > 0 ? Math.min(T, Math.ceil(longest / shape.padMultiple) * shape.padMultiple) : T;
  const rows: PackRow[] = batch.map((e) => ({ seq: [...e.prompt, ...e.response], promptLen: e.prompt.length, weight: () => 1 }));
  const R = shape.responseHead ? responseWidth(rows, Tp, 16) : null;
  const { x, y, w, pick } = packRows(rows, Tp, R);
  return { x, y, mask: w, rows: pick, T: Tp, R: R ?? Tp };
}

export type SFTOptions = {
  run: RunDir;
  resume: boolean;
  ctx: ExperimentContext;
  arm: string;
  cfg: SftVsRlConfig;
  model: LMConfig;
  initLm: () => LMParams;
  data: SftExample[];
  /** GP-VL: the starting `{lm, vis}` and the image placeholder id. */
  vision?: { init: () => VLParams; imageId: number };
  steps: number;
  batchSize: number;
  lr: (s: number) => number;
  clip: number;
  /** Padded sequence length of a row (the longest a row may be; `shape` may pad a batch to less). */
  T: number;
  /** Batch shape (default DEFAULT_SFT_SHAPE; GP-VL always `legacy`). */
  shape?: SftShape;
  evaluate?: (p: LMParams, step: number, vis?: VisionParams) => Promise<Record<string, number>>;
  evalEvery?: number;
};

/**
 * Response-only SFT with trainLoop from `initLm`'s params (AdamW β 0.9/0.98, ε 1e-7, no weight decay, as the released
 * SFT script). With `vision`, the trained parameters are `{lm, vis}` (LM and image encoder) and batches carry each
 * example's image.
 */
export async function runSFT(o: SFTOptions): Promise<{ params: LMParams; vis?: VisionParams; lastLoss: number; tokensPerSec: number; status: string }> {
  const { model, data, T } = o;
  const vision = o.vision;
  const shape: SftShape = vision ? SFT_SHAPES.legacy : (o.shape ?? DEFAULT_SFT_SHAPE);
  // Fixed-length rows, built once (the legacy shape; GP-VL).
  const ex = shape === SFT_SHAPES.legacy ? data.map((d) => sftExample(d.prompt, d.response, T)) : null;
  const probe: SFTParams = vision ? { lm: initLM(model, 0), vis: initVision(model.dModel, 0, vlSettings(o.cfg).encoderWidth) } : initLM(model, 0);
  const mask = defaultDecayMask(probe);
  disposeTree(probe);
  const adamw = { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 };
  const step = vision
    ? makeTrainStep<SFTParams>((p, x, y, m, slots, patches) => vlSftLoss(p as VLParams, model, x, y, m, slots, patches), { adamw, clip: o.clip, decayMask: mask })
    : makeTrainStep<SFTParams>((p, x, y, m, rows) => sftLoss(p as LMParams, model, x, y, m, rows), { adamw, clip: o.clip, decayMask: mask });
  const B = o.batchSize;
  const res = await trainLoop<SFTParams>({
    run: o.run,
    totalSteps: o.steps,
    init: () => {
      const params: SFTParams = vision ? vision.init() : o.initLm();
      return { params, opt: adamwInit(params) };
    },
    trainStep: step,
    rngs: { data: Rng.stream(o.cfg.seed, `${o.arm}-data`) },
    nextBatch: (_s, rngs) => {
      if (!ex) {
        // The same examples in the same order as the legacy batch (one draw per row).
        const picked = Array.from({ length: B }, () => data[rngs.data.int(data.length)]);
        const a = sftBatchArrays(picked, T, shape);
        const W = a.rows ? a.R : a.T;
        return [
          np.array(a.x, { dtype: np.int32 }).reshape([B, a.T]),
          np.array(a.y, { dtype: np.int32 }).reshape([B, W]),
          np.array(a.mask).reshape([B, W]),
          ...(a.rows ? [np.array(a.rows).reshape([B, a.R, a.T])] : []),
        ];
      }
      const x = new Int32Array(B * T);
      const y = new Int32Array(B * T);
      const m = new Float32Array(B * T);
      const images: Float32Array[] = [];
      for (let b = 0; b < B; b++) {
        const j = rngs.data.int(ex.length);
        const e = ex[j];
        x.set(e.x, b * T);
        y.set(e.y, b * T);
        m.set(e.mask, b * T);
        if (vision) images.push(data[j].image!);
      }
      const batch = [np.array(x, { dtype: np.int32 }).reshape([B, T]), np.array(y, { dtype: np.int32 }).reshape([B, T]), np.array(m).reshape([B, T])]; // [B, T] each
      return vision ? [...batch, ...imageBatch(x, B, T, vision.imageId, images)] : batch;
    },
    lr: o.lr,
    tokensPerStep: B * T,
    evalEvery: o.evalEvery ?? o.steps,
    evaluate: o.evaluate ? (p, s) => (vision ? o.evaluate!((p as VLParams).lm, s, (p as VLParams).vis) : o.evaluate!(p as LMParams, s)) : undefined,
    checkpointEvery: Math.max(1, Math.min(o.steps, 100)),
    resume: o.resume,
    signal: o.ctx.signal,
    onProgress: (e) => o.ctx.onProgress(e, o.arm),
  });
  step.dispose();
  disposeTree(res.opt);
  const out = vision ? { params: (res.params as VLParams).lm, vis: (res.params as VLParams).vis } : { params: res.params as LMParams };
  return { ...out, lastLoss: res.lastLoss, tokensPerSec: res.tokensPerSec, status: res.status };
}
