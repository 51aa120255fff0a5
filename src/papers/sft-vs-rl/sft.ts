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
  /** Padded sequence length of a row. */
  T: number;
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
  const ex = data.map((d) => sftExample(d.prompt, d.response, T));
  const vision = o.vision;
  const probe: SFTParams = vision ? { lm: initLM(model, 0), vis: initVision(model.dModel, 0, vlSettings(o.cfg).encoderWidth) } : initLM(model, 0);
  const mask = defaultDecayMask(probe);
  disposeTree(probe);
  const adamw = { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 };
  const step = vision
    ? makeTrainStep<SFTParams>((p, x, y, m, slots, patches) => vlSftLoss(p as VLParams, model, x, y, m, slots, patches), { adamw, clip: o.clip, decayMask: mask })
    : makeTrainStep<SFTParams>((p, x, y, m) => sftLoss(p as LMParams, model, x, y, m), { adamw, clip: o.clip, decayMask: mask });
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
