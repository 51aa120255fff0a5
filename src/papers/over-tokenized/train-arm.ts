/**
 * One arm of either study: an over-tokenized model (its OE / OD / MTP switches from the arm spec)
 * trained through the foundation `trainLoop` in its own arm directory (resumable; the sparse path
 * checkpoints its host tables beside the loop's checkpoint), scored on the study's fixed held-out
 * crops, and for cfg3f checked by sampling completions.
 */
import { existsSync, readFileSync } from "node:fs";
import { disposeTree } from "../../engine/index.js";
import { paramCount, type LMConfig } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask, type AdamWConfig } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { trainLoop, type ProgressEvent } from "../../train/loop.js";
import { latestCheckpoint } from "../../train/checkpoint.js";
import { decodeSafetensors } from "../../train/safetensors.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { Rng } from "../../util/rng.js";
import type { ArmSpec, OverTokenizedExperimentConfig } from "./config.js";
import { cropBatch, evalCrops, type StudyData } from "./data.js";
import { completionAccuracy, makeLogitsFn } from "./completion.js";
import {
  auxNames,
  horizon,
  isJointOD,
  jointTargets,
  odJointVocab,
  initOverEncodingTables,
  initOverTokenized,
  overEncodingGeometry,
  overEncodingIndices,
  overTokenizedLoss,
  type OverTokenizedConfig,
  type OverTokenizedParams,
} from "./model.js";
import { makeOverTokenizedStep, SparseTableStore } from "./sparse.js";
import type { ArmResult, ArmRole } from "./summary.js";

export type OptimConfig = OverTokenizedExperimentConfig["cfg"]["train"];
/** cfg3f completion check: held-out sentences, terminals cut, sampling temperature. */
export type GenerationSpec = { sentences: number[][]; cut: number; temperature: number; root: number };

/** The model config of an arm. */
export function armModelConfig(lm: LMConfig, arm: ArmSpec): OverTokenizedConfig {
  return { lm, oe: arm.oe, od: arm.od, mtp: arm.mtp };
}

/** What an arm adds to the baseline. */
export function armRole(arm: ArmSpec): ArmRole {
  if (!arm.oe && !arm.od && !arm.mtp) return "baseline";
  if (arm.oe && !arm.od && !arm.mtp) return "oe";
  if (!arm.oe && arm.od && !arm.mtp) return arm.od.head === "joint" ? "od" : "mtp-approx";
  if (arm.oe && !arm.od && arm.mtp) return "ot";
  return "other";
}

/**
 * Next-token NLL of logits [B·T, V] against y: the sum over all positions (accumulated in position
 * order) and the mean of each crop of T positions.
 */
function batchNLL(logits: Float32Array, y: Int32Array, B: number, T: number, V: number): { total: number; crops: number[] } {
  let total = 0;
  const crops: number[] = [];
  for (let b = 0; b < B; b++) {
    let crop = 0;
    for (let i = b * T; i < (b + 1) * T; i++) {
      const row = logits.subarray(i * V, i * V + V);
      let mx = -Infinity;
      for (let v = 0; v < V; v++) mx = Math.max(mx, row[v]);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(row[v] - mx);
      const nll = mx + Math.log(z) - row[y[i]];
      total += nll;
      crop += nll;
    }
    crops.push(crop / T);
  }
  return { total, crops };
}

/** Train one arm in its run directory through the foundation loop. */
export async function trainArm(opts: {
  run: RunDir;
  resume: boolean;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  study: "cfg" | "text";
  arm: ArmSpec;
  lm: LMConfig;
  train: OptimConfig;
  data: StudyData;
  seed: number;
  tableUpdate: "sparse" | "dense";
  /** cfg3f completion check (held-out sentences); none for the text study. */
  generation?: GenerationSpec;
}): Promise<ArmResult> {
  const { run, arm, lm, train: tc, data, seed } = opts;
  const cfg = armModelConfig(lm, arm);
  const geo = cfg.oe ? overEncodingGeometry(cfg.oe, lm.vocabSize, lm.dModel) : null;
  const sparse = opts.tableUpdate === "sparse" && geo !== null;
  const B = tc.batchSize;
  const T = lm.contextLength;
  const H = horizon(cfg);
  const jv = isJointOD(cfg) ? odJointVocab(cfg) : null;

  // Parameter bookkeeping and the decay mask from a probe (tables counted from the geometry).
  const probe = initOverTokenized(cfg, seed, { tablesOnDevice: false });
  const mask = defaultDecayMask(probe);
  const lmParams = paramCount(probe.lm);
  const otherParams = paramCount(probe) - lmParams;
  disposeTree(probe);
  const oeTableParams = geo ? geo.moduli.reduce((s, M) => s + M * geo.width, 0) : 0;

  let store: SparseTableStore | null = null;
  if (sparse) {
    store = await SparseTableStore.fromDevice(initOverEncodingTables(geo, seed));
    const ck = latestCheckpoint(run.dir);
    const side = run.path("checkpoints", "tables.safetensors");
    if (opts.resume && ck) {
      if (!existsSync(side)) throw new Error(`resume: ${side} is missing (the sparse tables of this arm)`);
      const ckStep = Number(decodeSafetensors(new Uint8Array(readFileSync(ck))).metadata.step);
      const sideStep = store.restore(new Uint8Array(readFileSync(side)));
      if (sideStep !== ckStep) throw new Error(`resume: sparse tables are at step ${sideStep} but the checkpoint is at step ${ckStep}`);
    }
  }

  const adamw: AdamWConfig = { beta1: tc.beta1, beta2: tc.beta2, eps: 1e-8, weightDecay: tc.weightDecay };
  const { trainStep, prepare } = makeOverTokenizedStep<OverTokenizedParams>((p, rows, batch) => overTokenizedLoss(p, cfg, rows, batch), {
    adamw,
    clip: tc.clip,
    decayMask: mask,
    store,
  });
  const logitsFn = makeLogitsFn(cfg, geo, store);
  const evalSet = evalCrops(data.val, B, T, tc.evalBatches, data.valStarts);
  const V = lm.vocabSize;
  let cropLosses: number[] = [];
  const evalLoss = async (params: OverTokenizedParams): Promise<number> => {
    let s = 0;
    cropLosses = [];
    for (const b of evalSet) {
      const { total, crops } = batchNLL(await logitsFn.logits(params, b.x, B, T), b.y, B, T, V);
      s += total / (B * T);
      cropLosses.push(...crops);
    }
    return s / evalSet.length;
  };

  const stepRates: number[] = [];
  const result = await trainLoop<OverTokenizedParams>({
    run,
    totalSteps: tc.steps,
    init: () => {
      const params = initOverTokenized(cfg, seed, { tablesOnDevice: !sparse });
      return { params, opt: adamwInit(params) };
    },
    trainStep,
    rngs: { data: Rng.stream(seed, `data:${opts.study}`) },
    nextBatch: (_step, rngs) => {
      const { x, ys: ahead } = cropBatch(data.train, B, T, H, rngs.data, data.trainStarts);
      const ys = jv ? [ahead[0], jointTargets(ahead, jv)] : ahead;
      const idx = geo ? overEncodingIndices(x, B, T, V, geo) : [];
      return prepare(x, ys, idx, B, T);
    },
    lr: (s) => warmupCosine(s, { lr: tc.lr, warmupSteps: tc.warmupSteps, totalSteps: tc.steps, minLrRatio: tc.minLrRatio }),
    tokensPerStep: B * T,
    evalEvery: tc.evalEvery,
    evaluate: async (params) => ({ valLoss: await evalLoss(params) }),
    checkpointEvery: tc.checkpointEvery,
    auxNames: auxNames(cfg),
    resume: opts.resume,
    signal: opts.signal,
    onProgress: (e) => {
      if (e.kind === "step") stepRates.push(e.tokensPerSec);
      if (e.kind === "checkpoint" && store) writeFileAtomic(run.path("checkpoints", "tables.safetensors"), store.serialize(e.step));
      opts.onProgress?.(e);
    },
  });

  const gen = opts.generation;
  const measureCompletion = gen !== undefined && result.status === "completed" && gen.sentences.length > 0;
  const acc = measureCompletion
    ? await completionAccuracy(logitsFn, result.params, lm, gen.sentences, { cut: gen.cut, temperature: gen.temperature, root: gen.root, rng: Rng.stream(seed, "generation") })
    : -1;
  trainStep.dispose();
  logitsFn.dispose();
  disposeTree(result.params);
  disposeTree(result.opt);

  const rows = run.metrics<Record<string, number>>();
  const tail = rows.slice(Math.floor(rows.length * 0.9)).map((r) => r.nextTokenLoss).filter((v) => Number.isFinite(v));
  return {
    arm: arm.name,
    study: opts.study,
    seed,
    role: armRole(arm),
    odHead: arm.od ? (arm.od.head ?? "factorised") : null,
    m: arm.oe?.m ?? 0,
    status: result.status,
    steps: result.step,
    lmParams,
    oeTableParams,
    otherParams,
    finalTrainLoss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
    valLoss: result.lastEval.valLoss ?? NaN,
    valCropLosses: result.status === "completed" ? cropLosses : [],
    tokensPerSec: medianRate(stepRates) ?? result.tokensPerSec,
    trainSeconds: result.trainSeconds,
    completionAccuracy: acc,
    completionN: measureCompletion ? gen.sentences.length : 0,
  };
}

/** Median per-step tokens/s, skipping the first 3 steps (compilation); null when too few steps. */
function medianRate(rates: number[]): number | null {
  const r = rates.slice(3).sort((a, b) => a - b);
  return r.length ? r[Math.floor(r.length / 2)] : null;
}

/**
 * Train (or keep, or resume) arm `<study>-<spec.name>` of the experiment through the runner's
 * `runArm`; a seed other than the run's (extra baseline seeds, for the floor) gets its own arm
 * directory `<study>-<spec.name>-seed<seed>` and keeps the arm name in the result.
 */
export function studyArm(
  ctx: ExperimentContext,
  c: OverTokenizedExperimentConfig,
  study: "cfg" | "text",
  spec: ArmSpec,
  lm: LMConfig,
  train: OptimConfig,
  data: StudyData,
  generation?: GenerationSpec,
  seed = c.seed,
): Promise<ArmResult> {
  const name = `${study}-${spec.name}${seed === c.seed ? "" : `-seed${seed}`}`;
  ctx.log(`arm ${name}`);
  return runArm(ctx, name, { study, arm: spec, model: lm, train, tableUpdate: c.tableUpdate, seed }, (run, resume) =>
    trainArm({ run, resume, signal: ctx.signal, onProgress: (e) => ctx.onProgress(e, name), study, arm: spec, lm, train, data, seed, tableUpdate: c.tableUpdate, generation }),
  );
}
