/**
 * The Mixture-of-Mamba experiment (arXiv 2501.16295, Chameleon setting at CPU scale): dense Mamba
 * vs Mixture-of-Mamba (all four projections split), the parameter-matched control `mom-shuffled`
 * (the same experts, routed by modality ids shuffled within each batch), the single-split ablations
 * and a transformer of about the same size, trained on the same interleaved text + VQ-digit
 * documents in the same order for a given seed. `seededArms` (dense and mom-all) are trained at
 * `seeds` independent seeds (init and data order), which gives the claims their noise floor. The
 * headline metric is the paper's: the percentage of the dense model's training steps at which a
 * model first reaches the dense model's loss, per modality, read at the end of training and
 * half-way (equal FLOPs per step, so the step ratio is the FLOP ratio; `metric.ts`). Training losses
 * are smoothed by a trailing moving average before the comparison; held-out per-modality losses
 * (mean and standard error over fixed validation batches) and the unigram / bigram baselines of
 * each modality are reported beside them. The claims are judged in `claims.ts`, the report written
 * by `report.ts` (the runner calls both).
 */
import { np, jit, refTree, disposeTree, type Array } from "../../engine/index.js";
import type { MambaLMConfig, MambaLMParams } from "../../nn/mamba.js";
import { initLM, lmForward, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask, type AdamWState } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { Rng } from "../../util/rng.js";
import { encodePNG } from "../../data/png.js";
import { ARMS, armRunName, type ArmName, type MoMConfig } from "./config.js";
import { IMAGE, TOKENS_PER_IMAGE, makeBatch, prepareMoMData, routingFor, shuffledModality, vqStripRGBA, type HostBatch, type MoMData } from "./data.js";
import { SPLIT_ALL, SPLIT_NONE, initMoMLM, modalityLosses, momForward, type SplitFlags } from "./model.js";
import { CURVE_KEYS, matchTable, smooth, smoothWindow, type SeedCurves } from "./metric.js";
import { modalityBaselines } from "./baselines.js";
import type { ArmSummary, MoMSummary } from "./summary.js";

export const ARM_SPLITS: Record<Exclude<ArmName, "transformer">, SplitFlags> = {
  dense: SPLIT_NONE,
  "mom-all": SPLIT_ALL,
  // The parameter-matched control: mom-all's experts; only its routing ids are shuffled (`shuffledModality`).
  "mom-shuffled": SPLIT_ALL,
  "mom-in": { ...SPLIT_NONE, in: true },
  "mom-x": { ...SPLIT_NONE, x: true },
  "mom-dt": { ...SPLIT_NONE, dt: true },
  "mom-out": { ...SPLIT_NONE, out: true },
};

export function mambaConfigOf(cfg: MoMConfig, vocabSize: number): MambaLMConfig {
  const m = cfg.model;
  return {
    vocabSize,
    dModel: m.dModel,
    nLayers: m.nLayers,
    blocksPerLayer: m.blocksPerLayer,
    dState: m.dState,
    dConv: m.dConv,
    expand: m.expand,
    dtRank: m.dtRank,
    dtMin: 0.001,
    dtMax: 0.1,
    dtInitFloor: 1e-4,
    scanChunk: m.scanChunk,
    tiedHead: true,
  };
}

export function transformerConfigOf(cfg: MoMConfig, vocabSize: number): LMConfig {
  return {
    vocabSize,
    dModel: cfg.model.dModel,
    nLayers: cfg.model.nLayers,
    nHeads: cfg.transformer.nHeads,
    contextLength: cfg.model.contextLength,
    norm: "rms",
    pos: "rope",
    mlp: "swiglu",
    mlpRatio: cfg.transformer.mlpRatio,
    tiedHead: true,
    bias: false,
  };
}

/** Named RNG stream of the control's routing ids during training (one shuffle per batch). */
export const SHUFFLE_STREAM = "mom-shuffled-routing";
/** Named RNG stream of the control's routing ids on the fixed validation batches. */
export const SHUFFLE_EVAL_STREAM = "mom-shuffled-eval-routing";

/**
 * Device arrays of a host batch: x, y [B, T] int32; perm, inv [B·T] int32; text/image target masks
 * [B, T]. Routing follows `route` (default: each input token's true modality); the per-modality
 * losses always follow the targets' true modality.
 */
export function batchArrays(b: HostBatch, K = 2, route: Int32Array = b.xModality): Array[] {
  const r = routingFor(route, K);
  const shape = [b.B, b.T];
  const int = (a: Int32Array) => np.array(a, { dtype: np.int32 });
  const maskOf = (m: number) => np.array(Float32Array.from(b.yModality, (v) => (v === m ? 1 : 0))).reshape(shape);
  return [int(b.x).reshape(shape), int(b.y).reshape(shape), int(r.perm), int(r.inv), maskOf(0), maskOf(IMAGE)];
}

/** Tokens per modality in every batch (fixed by construction): [text, image] counts of B·T inputs. */
export function routingCounts(cfg: MoMConfig): number[] {
  const B = cfg.train.batchSize;
  const img = B * cfg.data.imagesPerSeq * TOKENS_PER_IMAGE;
  return [B * cfg.model.contextLength - img, img];
}

export type AnyParams = MambaLMParams | LMParams;

/** The loss of an arm: (params, x, y, perm, inv, maskText, maskImage) → [total, [text, image]]. */
function armLoss(arm: ArmName, cfg: MoMConfig, vocab: number) {
  const counts = routingCounts(cfg);
  if (arm === "transformer") {
    const lm = transformerConfigOf(cfg, vocab);
    return (p: AnyParams, x: Array, y: Array, perm: Array, inv: Array, mt: Array, mi: Array): [Array, Array[]] => {
      perm.dispose();
      inv.dispose();
      return modalityLosses(lmForward(p as LMParams, lm, x).logits, y, mt, mi);
    };
  }
  const split = ARM_SPLITS[arm];
  const mc = mambaConfigOf(cfg, vocab);
  return (p: AnyParams, x: Array, y: Array, perm: Array, inv: Array, mt: Array, mi: Array): [Array, Array[]] => {
    const logits = momForward(p as MambaLMParams, mc, x, split, { perm, inv, counts });
    perm.dispose();
    inv.dispose();
    return modalityLosses(logits, y, mt, mi);
  };
}

/** Fresh parameters of an arm at a seed (mom-shuffled: exactly mom-all's). */
export function initArm(arm: ArmName, cfg: MoMConfig, vocab: number, seed = cfg.seed): AnyParams {
  if (arm === "transformer") return initLM(transformerConfigOf(cfg, vocab), seed);
  return initMoMLM(mambaConfigOf(cfg, vocab), ARM_SPLITS[arm], 2, seed);
}

/** The seeds an arm is trained at: `seeds` consecutive ones for `seededArms`, else the config seed. */
export function armSeeds(arm: ArmName, cfg: MoMConfig): number[] {
  const n = cfg.seededArms.includes(arm) ? cfg.seeds : 1;
  return Array.from({ length: n }, (_, i) => cfg.seed + i);
}

/** Mean and standard error over evaluation batches. */
function meanAndSE(xs: number[]): [number, number] {
  const n = xs.length;
  const m = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return [m, 0];
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1);
  return [m, Math.sqrt(v / n)];
}

/** Train one arm at one seed (resuming from its checkpoint) and summarise its final losses. */
async function trainArm(arm: ArmName, seed: number, cfg: MoMConfig, data: MoMData, run: RunDir, resume: boolean, ctx: ExperimentContext): Promise<ArmSummary> {
  const V = data.vocab.size;
  const B = cfg.train.batchSize;
  const T = cfg.model.contextLength;
  const lossFn = armLoss(arm, cfg, V);
  const probe = initArm(arm, cfg, V, seed);
  const params = paramCount(probe);
  const decayMask = defaultDecayMask(probe);
  disposeTree(probe);
  const trainStep = makeTrainStep(lossFn, {
    adamw: { beta1: cfg.train.beta1, beta2: cfg.train.beta2, eps: 1e-8, weightDecay: cfg.train.weightDecay },
    clip: cfg.train.clip,
    decayMask,
    hasAux: true,
  });
  const evalFn = jit((p: AnyParams, batch: Array[]) => {
    const [total, [text, image]] = lossFn(p, batch[0], batch[1], batch[2], batch[3], batch[4], batch[5]);
    return np.stack([total, text, image]);
  });
  // The same validation batches for every arm and seed (drawn from the config seed).
  const evalRng = new Rng(cfg.seed, "mom-eval");
  const evalSet = Array.from({ length: cfg.train.evalBatches }, () => makeBatch(data, "val", B, T, cfg.data.imagesPerSeq, evalRng));
  const shuffled = arm === "mom-shuffled";
  const evalRouteRng = new Rng(cfg.seed, SHUFFLE_EVAL_STREAM);
  const evalRoutes = evalSet.map((b) => (shuffled ? shuffledModality(b.xModality, evalRouteRng) : b.xModality));
  const rngs: Record<string, Rng> = { data: Rng.stream(seed, "data") };
  if (shuffled) rngs.routing = Rng.stream(seed, SHUFFLE_STREAM);
  const result = await trainLoop<AnyParams>({
    run,
    totalSteps: cfg.train.steps,
    init: () => {
      const p = initArm(arm, cfg, V, seed);
      return { params: p, opt: adamwInit(p) as AdamWState<AnyParams> };
    },
    trainStep,
    rngs,
    nextBatch: (_s, r) => {
      const b = makeBatch(data, "train", B, T, cfg.data.imagesPerSeq, r.data);
      return batchArrays(b, 2, shuffled ? shuffledModality(b.xModality, r.routing) : b.xModality);
    },
    lr: (s) => warmupCosine(s, { lr: cfg.train.lr, warmupSteps: cfg.train.warmupSteps, totalSteps: cfg.train.steps, minLrRatio: cfg.train.minLrRatio }),
    tokensPerStep: B * T,
    evalEvery: cfg.train.evalEvery,
    evaluate: async (p) => {
      const per: number[][] = [[], [], []];
      for (let j = 0; j < evalSet.length; j++) {
        const v = await evalFn(refTree(p), batchArrays(evalSet[j], 2, evalRoutes[j])).data();
        for (let i = 0; i < 3; i++) per[i].push(v[i]);
      }
      const [valLoss, valLossSE] = meanAndSE(per[0]);
      const [valText, valTextSE] = meanAndSE(per[1]);
      const [valImage, valImageSE] = meanAndSE(per[2]);
      return { valLoss, valText, valImage, valLossSE, valTextSE, valImageSE };
    },
    checkpointEvery: cfg.train.checkpointEvery,
    auxNames: ["textLoss", "imageLoss"],
    resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, armRunName(arm, seed, cfg)),
  });
  trainStep.dispose();
  evalFn.dispose();
  disposeTree(result.params);
  disposeTree(result.opt);
  const rows = run.metrics<Record<string, number>>();
  const w = smoothWindow(cfg);
  const last = (k: string) => smooth(rows.map((r) => r[k]), w).at(-1) ?? NaN;
  return {
    arm,
    seed,
    params,
    steps: result.step,
    finalLoss: last("loss"),
    finalText: last("textLoss"),
    finalImage: last("imageLoss"),
    valLoss: result.lastEval.valLoss ?? NaN,
    valText: result.lastEval.valText ?? NaN,
    valImage: result.lastEval.valImage ?? NaN,
    valLossSE: result.lastEval.valLossSE ?? NaN,
    valTextSE: result.lastEval.valTextSE ?? NaN,
    valImageSE: result.lastEval.valImageSE ?? NaN,
    trainSeconds: result.trainSeconds,
    secondsPerStep: result.trainSeconds / Math.max(1, result.step),
  };
}

/** Train every arm of the config (through `runArm`), then measure the metric and the baselines. */
export async function runMixtureOfMamba(cfg: MoMConfig, ctx: ExperimentContext): Promise<MoMSummary> {
  const data = prepareMoMData({ ...cfg.data }, cfg.seed);
  ctx.log(`data: ${data.trainDigits.length} train / ${data.valDigits.length} val digits, codebook ${cfg.data.codebookSize} (held-out MSE ${data.vqValMSE.toFixed(4)}), vocab ${data.vocab.size}`);
  ctx.run.writeJson("data.json", {
    corpus: data.corpus,
    vocab: data.vocab,
    valFraction: cfg.data.valFraction,
    valDigits: data.valDigits,
    vqValMSE: data.vqValMSE,
    codesUsed: data.codesUsed,
    codebook: Array.from(data.codebook.centroids),
  });
  const strip = vqStripRGBA(data);
  writeFileAtomic(`${ctx.run.samplesDir}/vq-digits.png`, encodePNG(strip.width, strip.height, strip.rgba));
  // The arms the claims rest on first (dense, mom-all, the control and every seeded arm, seed by
  // seed), then the ablations and the reference line.
  const core = (arm: ArmName) => ["dense", "mom-all", "mom-shuffled"].includes(arm) || cfg.seededArms.includes(arm);
  const runs = ARMS.filter((a) => cfg.arms.includes(a))
    .flatMap((arm) => armSeeds(arm, cfg).map((seed) => ({ arm, seed })))
    .sort((a, b) => Number(!core(a.arm)) - Number(!core(b.arm)) || a.seed - b.seed);
  const summaries: ArmSummary[] = [];
  for (const { arm, seed } of runs) {
    const name = armRunName(arm, seed, cfg);
    ctx.log(`arm ${name}`);
    summaries.push(await runArm(ctx, name, { ...cfg, arm, seed }, (run, resume) => trainArm(arm, seed, cfg, data, run, resume, ctx)));
  }
  const w = smoothWindow(cfg);
  const curves: SeedCurves[] = runs.map(({ arm, seed }) => {
    const rows = openRun(ctx.run.path("arms", armRunName(arm, seed, cfg))).metrics<Record<string, number>>();
    return { arm, seed, curves: Object.fromEntries(CURVE_KEYS.map(([, k]) => [k, smooth(rows.map((r) => r[k]), w)])) };
  });
  const counts = routingCounts(cfg);
  return {
    arms: summaries,
    match: matchTable(curves, cfg.train.steps),
    baselines: modalityBaselines(data),
    vq: { codebookSize: cfg.data.codebookSize, valMSE: data.vqValMSE, codesUsed: data.codesUsed },
    imageTokenFraction: counts[1] / (counts[0] + counts[1]),
  };
}
