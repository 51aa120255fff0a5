/**
 * One task of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §5, Figs. 5-6): from the
 * stage-0 model, stage 1 (the SFT init: response-only SFT on expert single-turn answers), then from that one
 * checkpoint branch B (PPO with verifier rewards and revision) and branch A (more SFT on the same expert data,
 * evaluated at the PPO checkpoints' FLOPs). GeneralPoints-language, navigation (the V-IRL-L analogue) and GP-VL
 * (cards as an image, LM + patch encoder trained together) all run through here; an `EnvSpec` (`tasks.ts`) says
 * what differs. Arms `sft-init`/`ppo`/`sft`, `nav-…` and `vl-…`.
 */
import { disposeTree } from "../../engine/index.js";
import type { LMConfig, LMParams } from "../../nn/transformer.js";
import { warmupCosine } from "../../optim/schedule.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import { armDir, evalPoints, evaluateSplits, klToInit, loadArmLM, loadArmVL, rollTempRow, writeTranscripts } from "./arms.js";
import { vlSettings, type SftVsRlConfig } from "./config.js";
import { trainFlops, type VLParams } from "./model.js";
import { trainPPO } from "./ppo.js";
import { expertDataset, runSFT } from "./sft.js";
import type { EvalRow, TaskSummary } from "./summary.js";
import { SPLITS, type EnvSpec, type GPSplit } from "./tasks.js";
import type { PhraseTokenizer } from "./tokenizer.js";
import { IMAGE_TOKEN, initVision, type VisionParams } from "./vision.js";

export type Shared = { cfg: SftVsRlConfig; ctx: ExperimentContext; root: RunDir; tok: PhraseTokenizer; model: LMConfig; N: number };

type InitArm = { finalLoss: number; flops: number; meanSeqTokens: number; row: EvalRow };

const pct = (x: number) => (100 * x).toFixed(1);
/** ID prompts of the KL-to-init estimate. */
const KL_PROMPTS = 128;

/**
 * KL to the init on ID prompts at the PPO rollout temperature (the distribution PPO samples from), as `idKLRoll` with
 * its temperature `idKLTemperature` (issue 24; `klToInit`). Runs before this logged `idKL`, a Monte Carlo term at the
 * evaluation temperature that saturated (the same number at every checkpoint of both branches).
 */
async function klRow(lm: LMParams, initLm: LMParams, sh: Shared, spec: EnvSpec): Promise<EvalRow> {
  const T = spec.sampling.temperature;
  return { idKLRoll: await klToInit(lm, initLm, sh.model, sh.tok, sh.cfg, spec, KL_PROMPTS, { temperature: T }), idKLTemperature: T };
}

/** Stage 1 (SFT init) and branches B (PPO) and A (SFT at the PPO checkpoints' FLOPs) of one task. */
export async function runTask(spec: EnvSpec, sh: Shared): Promise<TaskSummary> {
  const { cfg, ctx, root, tok, model, N } = sh;
  const dir = (arm: string) => armDir(root, arm);
  const A = spec.arm;
  const splits = spec.splits ?? SPLITS;
  const metric = (row: EvalRow, split: GPSplit) => `${pct(row[`${split}${spec.metric.key}`])} ± ${pct(row[`${split}${spec.metric.seKey}`])}`;
  // GP-VL: LM + image encoder (a fresh encoder on the stage-0 LM for the SFT init; both branches start from the init's).
  const imageId = spec.image ? tok.id(IMAGE_TOKEN) : -1;
  const visionFrom = (arm: string) => {
    if (!spec.image) return {};
    const init = (): VLParams => (arm === "stage0" ? { lm: loadArmLM(dir(arm), model, cfg.seed, false), vis: initVision(model.dModel, cfg.seed, vlSettings(cfg).encoderWidth) } : loadArmVL(dir(arm), model, cfg, false));
    return { vision: { init, imageId } };
  };

  // ---- stage 1: SFT initialisation ----------------------------------------------------------------------------
  const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
  const meanSeq = data.reduce((s, d) => s + d.prompt.length + d.response.length, 0) / data.length;
  const sftStepFlops = (B: number) => trainFlops(N, B * meanSeq);
  const xInit = spec.sftInit.steps * sftStepFlops(spec.sftInit.batchSize);
  const curveEvery = spec.name === "general-points" ? cfg.sftInit.curveEvery : 0;
  const init = await runArm<InitArm>(ctx, A("sft-init"), spec.sftInit, async (run, resume) => {
    const r = await runSFT({
      run, resume, ctx, arm: A("sft-init"), cfg, model, data,
      initLm: () => loadArmLM(dir("stage0"), model, cfg.seed, false),
      ...visionFrom("stage0"),
      steps: spec.sftInit.steps,
      batchSize: spec.sftInit.batchSize,
      lr: (s) => warmupCosine(s, { lr: spec.sftInit.lr, warmupSteps: spec.sftInit.warmupSteps, totalSteps: spec.sftInit.steps, minLrRatio: spec.sftInit.minLrRatio }),
      clip: spec.sftInit.clip,
      T: spec.sftInit.seqLen,
      // The SFT curve (issue 24): ID and OOD along the init's own steps, on the first `curveEpisodes` episodes.
      ...(curveEvery > 0
        ? {
            evalEvery: curveEvery,
            evaluate: async (p: LMParams, step: number, vis?: VisionParams) =>
              step >= spec.sftInit.steps ? {} : { flops: step * sftStepFlops(spec.sftInit.batchSize), ...spec.evalRow(await evaluateSplits(p, model, tok, cfg, { episodes: cfg.sftInit.curveEpisodes, env: spec, vis })) },
          }
        : {}),
    });
    const ev = await evaluateSplits(r.params, model, tok, cfg, { keepRecords: 2, env: spec, vis: r.vis });
    writeTranscripts(run, "init", ev, splits);
    disposeTree(r.params);
    if (r.vis) disposeTree(r.vis);
    return { finalLoss: r.lastLoss, flops: xInit, meanSeqTokens: meanSeq, row: spec.evalRow(ev) };
  });
  const initRow = init.row;
  const initCurve = curveEvery > 0 ? evalPoints(openRun(dir(A("sft-init"))), "step") : [];
  ctx.log(`${A("sft-init")}: ID ${metric(initRow, "id")} %, OOD ${metric(initRow, "ood")} % (${spec.metric.name}), ID answers parsed ${pct(initRow.idParsed)} %`);

  // Intermediate checkpoints only draw the curves: `eval.midEpisodes` per split there (the claims compare the init and
  // each branch's last checkpoint, on `spec.episodes`).
  const midEps = Math.min(cfg.eval.midEpisodes ?? spec.episodes, spec.episodes);
  // KL to the init on ID prompts at every branch checkpoint (GeneralPoints-language; issue 24).
  const withKL = spec.name === "general-points";
  // ---- branch B: PPO ------------------------------------------------------------------------------------------
  const ppo = await runArm(ctx, A("ppo"), { ppo: spec.ppo, sampling: spec.sampling }, async (run, resume) => {
    const start = spec.image ? loadArmVL(dir(A("sft-init")), model, cfg, false) : { lm: loadArmLM(dir(A("sft-init")), model, cfg.seed, false), vis: undefined };
    const r = await trainPPO({
      run, ppo: spec.ppo, sampling: spec.sampling, model, tok, nParams: N, seed: cfg.seed, updates: spec.ppo.updates, initLm: start.lm,
      makeEnv: () => spec.makeEnv("id", spec.ppo.verifyIter),
      ...(spec.image && start.vis ? { vision: { init: start.vis, imageId, image: spec.image } } : {}),
      // ID sampled at the rollout temperature at the init and the last checkpoint: what "PPO learned" reads (issue 24).
      evaluate: async (lm, update, _flops, vis) => {
        if (update === 0) return { ...initRow, ...(await rollTempRow(lm, model, tok, cfg, spec, initRow, { vis })) };
        const last = update === spec.ppo.updates;
        const ev = await evaluateSplits(lm, model, tok, cfg, { keepRecords: last ? 2 : 0, env: spec, vis, episodes: last ? spec.episodes : midEps });
        writeTranscripts(run, "final", ev, splits);
        const row = spec.evalRow(ev);
        return {
          ...row,
          ...(withKL ? await klRow(lm, start.lm, sh, spec) : {}),
          ...(update === spec.ppo.updates ? await rollTempRow(lm, model, tok, cfg, spec, row, { vis }) : {}),
        };
      },
      evalEvery: cfg.eval.every,
      resume,
      signal: ctx.signal,
      onProgress: (e) => ctx.onProgress(e, A("ppo")),
    });
    disposeTree(start.lm);
    disposeTree(r.lm);
    for (const v of [start.vis, r.vis]) if (v) disposeTree(v);
    return { updates: r.updates, flops: r.flops, status: r.status };
  });
  const ppoPoints = evalPoints(openRun(dir(A("ppo"))), "update");
  // The init's ID at the rollout temperature was measured by the PPO arm (its update 0).
  const initHot = Object.fromEntries(Object.entries(ppoPoints.find((p) => p.step === 0)?.row ?? {}).filter(([k]) => k.startsWith("idRollTemp")));

  // ---- branch A: more SFT at the PPO checkpoints' FLOPs -------------------------------------------------------
  const perStep = sftStepFlops(cfg.sft.batchSize);
  // SFT steps matching each PPO checkpoint's FLOPs (both counted from the init), snapped to a multiple of `unit`
  // steps (< 5 % of the first target) so evaluation runs every `unit` steps; each point keeps its exact SFT FLOPs.
  const raw = ppoPoints.filter((p) => p.step > 0).map((p) => Math.max(1, p.flops / perStep));
  const unit = Math.max(1, Math.floor(Math.min(...raw) / 20));
  const targets = raw.map((t) => Math.max(unit, Math.round(t / unit) * unit));
  const sftSteps = Math.max(...targets, 1);
  // The SFT curve past the init (GeneralPoints): branch steps whose count from the stage-0 model is in `sft.curveSteps`.
  const curveBranch = curveEvery > 0 ? branchCurveSteps(cfg.sft.curveSteps, spec.sftInit.steps, sftSteps) : [];
  const sftEvery = [unit, ...curveBranch].reduce(gcd);
  const sft = await runArm(ctx, A("sft"), { sft: cfg.sft, steps: sftSteps, evalSteps: targets, curveSteps: curveBranch }, async (run, resume) => {
    const initLm = withKL ? loadArmLM(dir(A("sft-init")), model, cfg.seed, false) : null;
    const r = await runSFT({
      run, resume, ctx, arm: A("sft"), cfg, model, data,
      initLm: () => loadArmLM(dir(A("sft-init")), model, cfg.seed, false),
      ...visionFrom(A("sft-init")),
      steps: sftSteps,
      batchSize: cfg.sft.batchSize,
      lr: () => cfg.sft.lr,
      clip: cfg.sft.clip,
      T: spec.sftInit.seqLen,
      evalEvery: sftEvery,
      evaluate: async (p, step, vis) => {
        if (!targets.includes(step)) {
          if (!curveBranch.includes(step)) return {};
          // A curve-only point (not a checkpoint at a PPO checkpoint's FLOPs): the init curve's episode count.
          return { curveOnly: 1, flops: step * perStep, ...spec.evalRow(await evaluateSplits(p, model, tok, cfg, { episodes: cfg.sftInit.curveEpisodes, env: spec, vis })) };
        }
        const last = step === sftSteps;
        const ev = await evaluateSplits(p, model, tok, cfg, { keepRecords: last ? 2 : 0, env: spec, vis, episodes: last ? spec.episodes : midEps });
        writeTranscripts(run, "final", ev, splits);
        return { flops: step * perStep, ...spec.evalRow(ev), ...(initLm ? await klRow(p, initLm, sh, spec) : {}) };
      },
    });
    if (initLm) disposeTree(initLm);
    disposeTree(r.params);
    if (r.vis) disposeTree(r.vis);
    return { steps: sftSteps, flops: sftSteps * perStep, finalLoss: r.lastLoss };
  });
  const sftLogged = evalPoints(openRun(dir(A("sft"))), "step");
  const sftPoints = [{ flops: 0, step: 0, row: initRow }, ...sftLogged.filter((p) => !p.row.curveOnly)];
  const sftCurvePoints = sftLogged.filter((p) => curveBranch.includes(p.step)).map((p) => ({ ...p, step: spec.sftInit.steps + p.step }));

  return {
    env: spec.name,
    seed: cfg.seed,
    label: spec.label,
    title: spec.title,
    arms: { init: A("sft-init"), ppo: A("ppo"), sft: A("sft") },
    splits: [...splits],
    episodes: spec.episodes,
    ...(midEps < spec.episodes ? { midEpisodes: midEps } : {}),
    verifyIter: spec.ppo.verifyIter,
    metric: spec.metric,
    trainingRuleKey: spec.trainingRuleKey,
    trainingRuleText: spec.trainingRuleText,
    paper: spec.paper,
    init: { flops: init.flops, steps: spec.sftInit.steps, finalLoss: init.finalLoss, meanSeqTokens: init.meanSeqTokens, row: { ...initRow, ...initHot }, curve: initCurve, ...(curveEvery > 0 ? { curveEpisodes: cfg.sftInit.curveEpisodes } : {}) },
    ppo: { updates: ppo.updates, flops: ppo.flops, status: ppo.status, points: ppoPoints },
    sft: { steps: sft.steps, flops: sft.flops, finalLoss: sft.finalLoss, points: sftPoints, ...(curveBranch.length ? { curve: sftCurvePoints } : {}) },
  };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The SFT branch's steps of the SFT curve: `curveSteps` counted from the stage-0 model, minus the init's steps, kept
 * where they fall inside the branch (1 .. branch steps), sorted and distinct.
 */
export function branchCurveSteps(curveSteps: readonly number[], initSteps: number, branchSteps: number): number[] {
  return [...new Set(curveSteps.map((s) => s - initSteps).filter((s) => s >= 1 && s <= branchSteps))].sort((a, b) => a - b);
}
