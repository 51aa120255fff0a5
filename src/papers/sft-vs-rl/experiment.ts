/**
 * The experiment of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, §5, Figs. 5-6, 9) at CPU scale:
 *
 *   stage 0  pretrain a tiny LM on the synthetic skills corpus (`stage0.ts`)                   arm `stage0`
 *   per task in `envs` (`branches.ts`; GeneralPoints arms unprefixed, navigation `nav-`, GP-VL `vl-`):
 *   stage 1  SFT init: response-only SFT on expert single-turn answers                       arm `sft-init`
 *   branch B PPO with verifier rewards and revision (verify_iter 5 GP, 2 navigation)          arm `ppo`
 *   branch A more SFT on the same expert data, evaluated at the PPO branch's FLOPs           arm `sft`
 *   GeneralPoints extras (`extras.ts`):
 *   extra    PPO from the stage-0 model without SFT (§5.4)                                  arm `ppo-no-sft`
 *   extra    PPO with verify_iter 1/3/5/10 at equal compute (§5.5, `full` only)             arms `ppo-verify-<k>`
 *
 * Each branch is evaluated in distribution and out of distribution (GP: J,Q,K = 10 vs 11,12,13; navigation:
 * absolute vs relative action space; GP-VL adds visual OOD) with multi-turn episodes per point, at checkpoints along
 * compute (6N·D train, 2N·D rollout). One stage-0 model serves every task; each task has its own SFT init, as the
 * paper has one init per task. Task seeds (`taskSeeds`) run one after another in this process, or with `seedJobs`
 * > 1 in child processes of one wasm thread each, that many at a time (`seed-jobs.ts`; the same arms either way). `run` returns the summary (`summary.ts`); the claims are judged in `claims.ts`
 * and `vl-claims.ts`, and `report.ts` writes results.md and the report (the runner calls both).
 */
import { initLM } from "../../nn/transformer.js";
import type { ExperimentContext } from "../../train/experiment.js";
import { setup } from "./arms.js";
import { runTask, type Shared } from "./branches.js";
import type { SftVsRlConfig } from "./config.js";
import { runNoSft, runVerifySweep } from "./extras.js";
import { modelParams } from "./model.js";
import { runSeedsInChildren } from "./seed-jobs.js";
import { runStage0 } from "./stage0.js";
import type { NoSftSummary, SftVsRlSummary, TaskSummary } from "./summary.js";
import { envSpecs } from "./tasks.js";

export { evaluateSplits, loadArmLM, loadArmVL, setup } from "./arms.js";
export { expertDataset, type SftExample } from "./sft.js";

const pct = (x: number | undefined) => (100 * Number(x)).toFixed(1);

/** The arm name of a task seed: unchanged for the first (index 0, so one-seed runs keep their names), `<arm>-s<seed>` after. */
export const seedArm = (arm: string, index: number, seed: number): string => (index === 0 ? arm : `${arm}-s${seed}`);

/** What every arm of a run shares: the tokenizer, model config and parameter count of `cfg`, and the run's context. */
export function sharedOf(cfg: SftVsRlConfig, ctx: ExperimentContext): Shared {
  const { tok, model } = setup(cfg);
  return { cfg, ctx, root: ctx.run, tok, model, N: modelParams(initLM(model, 0)) };
}

/**
 * The arms of task seed `index` (seed `cfg.seed + index`) from the stage-0 checkpoint: each task's SFT init and
 * branches, and GeneralPoints' no-SFT arm. Finished arms are kept (read back), so the parent calls this again for
 * the summaries after child processes trained them (`seed-jobs.ts`).
 */
export async function runSeed(sh: Shared, index: number): Promise<{ tasks: TaskSummary[]; noSft: NoSftSummary[] }> {
  const seed = sh.cfg.seed + index;
  const shI: Shared = { ...sh, cfg: { ...sh.cfg, seed } };
  const tasks: TaskSummary[] = [];
  const noSft: NoSftSummary[] = [];
  for (const spec of envSpecs(shI.cfg, sh.tok, sh.model.contextLength)) tasks.push(await runTask({ ...spec, arm: (s) => seedArm(spec.arm(s), index, seed) }, shI));
  if (sh.cfg.envs.includes("general-points") && sh.cfg.extras.noSftUpdates > 0) noSft.push(await runNoSft(shI, seedArm("ppo-no-sft", index, seed)));
  return { tasks, noSft };
}

/** Train and evaluate every arm of the configured tasks (resuming or keeping finished arms) and return the summary. */
export async function runSftVsRl(cfg: SftVsRlConfig, ctx: ExperimentContext): Promise<SftVsRlSummary> {
  const sh = sharedOf(cfg, ctx);
  const { tok, model, N, root } = sh;
  const navSampling = cfg.envs.includes("navigation") ? { navigationSampling: { ...cfg.sampling, maxNewTokens: cfg.navigation.maxNewTokens } } : {};
  // What `serve` needs to rebuild a policy from an arm's checkpoint.
  root.writeJson("policy.json", { model, phrases: tok.phrases, sampling: cfg.sampling, ...navSampling, evalTemperature: cfg.eval.temperature });
  ctx.log(`sft-vs-rl: LM with ${N} parameters (vocab ${model.vocabSize}, d ${model.dModel}, ${model.nLayers} layers, context ${model.contextLength}); environments ${cfg.envs.join(", ")}`);

  const stage0 = await runStage0(cfg, ctx, tok, model);
  ctx.log(
    `stage0: loss ${stage0.finalLoss.toFixed(3)}` +
      (stage0.arithmeticAccuracy === undefined ? "" : `, expression accuracy ${pct(stage0.arithmeticAccuracy)} %, rule reading ${pct(stage0.ruleReadingAccuracy)} %`) +
      (stage0.actionSpaceAccuracy === undefined ? "" : `, action-space reading ${pct(stage0.actionSpaceAccuracy)} %, compass ${pct(stage0.compassAccuracy)} %` + (stage0.nextActionAbsolute === undefined ? "" : `, next action absolute / relative ${pct(stage0.nextActionAbsolute)} / ${pct(stage0.nextActionRelative ?? 0)} %`)),
  );

  const seeds = cfg.taskSeeds ?? 1;
  // Every seed starts from the one stage-0 checkpoint (the paper's runs share one pretrained model). With `seedJobs`
  // > 1 (and two seeds or more) child processes train the seeds' arms first; the loop below then reads them back.
  if ((cfg.seedJobs ?? 1) > 1 && seeds > 1) await runSeedsInChildren(cfg, ctx, seeds, cfg.seedJobs);
  const tasks: TaskSummary[] = [];
  const noSft: NoSftSummary[] = [];
  for (let i = 0; i < seeds; i++) {
    const r = await runSeed(sh, i);
    tasks.push(...r.tasks);
    noSft.push(...r.noSft);
  }
  const sweep = cfg.envs.includes("general-points") ? await runVerifySweep(sh) : [];

  return {
    params: N,
    envs: cfg.envs,
    model: { dModel: model.dModel, nLayers: model.nLayers, contextLength: model.contextLength, vocabSize: model.vocabSize },
    stage0,
    tasks,
    noSft,
    sweep,
  };
}
