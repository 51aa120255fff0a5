/**
 * The Mixture-of-Mamba experiment (arXiv 2501.16295, Chameleon setting at CPU scale): dense Mamba
 * vs Mixture-of-Mamba (all four projections split), the single-split ablations and a transformer of
 * about the same size, trained on the same interleaved text + VQ-digit documents in the same order
 * from the same seed. The headline metric is the paper's: the percentage of the dense model's
 * training steps at which a model first reaches the dense model's final loss, per modality (equal
 * FLOPs per step, so the step ratio is the FLOP ratio; `metric.ts`). Training losses are smoothed
 * by a trailing moving average before the comparison; held-out per-modality losses and the
 * unigram / bigram baselines of each modality are reported beside them. The claims are judged in
 * `claims.ts`, the report written by `report.ts` (the runner calls both).
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
import { ARMS, type ArmName, type MoMConfig } from "./config.js";
import { IMAGE, TOKENS_PER_IMAGE, makeBatch, prepareMoMData, routingFor, vqStripRGBA, type HostBatch, type MoMData } from "./data.js";
import { SPLIT_ALL, SPLIT_NONE, initMoMLM, modalityLosses, momForward, type SplitFlags } from "./model.js";
import { CURVE_KEYS, matchTable, smooth, smoothWindow } from "./metric.js";
import { modalityBaselines } from "./baselines.js";
import type { ArmSummary, MoMSummary } from "./summary.js";

export const ARM_SPLITS: Record<Exclude<ArmName, "transformer">, SplitFlags> = {
  dense: SPLIT_NONE,
  "mom-all": SPLIT_ALL,
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

/** Device arrays of a host batch: x, y [B, T] int32; perm, inv [B·T] int32; text/image target masks [B, T]. */
export function batchArrays(b: HostBatch, K = 2): Array[] {
  const r = routingFor(b.xModality, K);
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

type AnyParams = MambaLMParams | LMParams;

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

function initArm(arm: ArmName, cfg: MoMConfig, vocab: number): AnyParams {
  if (arm === "transformer") return initLM(transformerConfigOf(cfg, vocab), cfg.seed);
  return initMoMLM(mambaConfigOf(cfg, vocab), ARM_SPLITS[arm], 2, cfg.seed);
}

/** Train one arm (resuming from its checkpoint) and summarise its final losses. */
async function trainArm(arm: ArmName, cfg: MoMConfig, data: MoMData, run: RunDir, resume: boolean, ctx: ExperimentContext): Promise<ArmSummary> {
  const V = data.vocab.size;
  const B = cfg.train.batchSize;
  const T = cfg.model.contextLength;
  const lossFn = armLoss(arm, cfg, V);
  const probe = initArm(arm, cfg, V);
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
  const evalRng = new Rng(cfg.seed, "mom-eval");
  const evalSet = Array.from({ length: cfg.train.evalBatches }, () => makeBatch(data, "val", B, T, cfg.data.imagesPerSeq, evalRng));
  const result = await trainLoop<AnyParams>({
    run,
    totalSteps: cfg.train.steps,
    init: () => {
      const p = initArm(arm, cfg, V);
      return { params: p, opt: adamwInit(p) as AdamWState<AnyParams> };
    },
    trainStep,
    rngs: { data: Rng.stream(cfg.seed, "data") },
    nextBatch: (_s, rngs) => batchArrays(makeBatch(data, "train", B, T, cfg.data.imagesPerSeq, rngs.data)),
    lr: (s) => warmupCosine(s, { lr: cfg.train.lr, warmupSteps: cfg.train.warmupSteps, totalSteps: cfg.train.steps, minLrRatio: cfg.train.minLrRatio }),
    tokensPerStep: B * T,
    evalEvery: cfg.train.evalEvery,
    evaluate: async (p) => {
      const acc = [0, 0, 0];
      for (const b of evalSet) {
        const v = await evalFn(refTree(p), batchArrays(b)).data();
        for (let i = 0; i < 3; i++) acc[i] += v[i] / evalSet.length;
      }
      return { valLoss: acc[0], valText: acc[1], valImage: acc[2] };
    },
    checkpointEvery: cfg.train.checkpointEvery,
    auxNames: ["textLoss", "imageLoss"],
    resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, arm),
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
    seed: cfg.seed,
    params,
    steps: result.step,
    finalLoss: last("loss"),
    finalText: last("textLoss"),
    finalImage: last("imageLoss"),
    valLoss: result.lastEval.valLoss ?? NaN,
    valText: result.lastEval.valText ?? NaN,
    valImage: result.lastEval.valImage ?? NaN,
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
  const arms = ARMS.filter((a) => cfg.arms.includes(a));
  const summaries: ArmSummary[] = [];
  for (const arm of arms) {
    ctx.log(`arm ${arm}`);
    summaries.push(await runArm(ctx, arm, { ...cfg, arm }, (run, resume) => trainArm(arm, cfg, data, run, resume, ctx)));
  }
  const w = smoothWindow(cfg);
  const curves: Record<string, Record<string, number[]>> = {};
  for (const arm of arms) {
    const rows = openRun(ctx.run.path("arms", arm)).metrics<Record<string, number>>();
    curves[arm] = Object.fromEntries(CURVE_KEYS.map(([, k]) => [k, smooth(rows.map((r) => r[k]), w)]));
  }
  const counts = routingCounts(cfg);
  return {
    arms: summaries,
    match: matchTable(curves, cfg.train.steps, cfg.seed),
    baselines: modalityBaselines(data),
    vq: { codebookSize: cfg.data.codebookSize, valMSE: data.vqValMSE, codesUsed: data.codesUsed },
    imageTokenFraction: counts[1] / (counts[0] + counts[1]),
  };
}
