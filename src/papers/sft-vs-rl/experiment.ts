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
 * paper has one init per task. `run` returns the summary (`summary.ts`); the claims are judged in `claims.ts`
 * and `vl-claims.ts`, and `report.ts` writes results.md and the report (the runner calls both).
 */
import { initLM } from "../../nn/transformer.js";
import type { ExperimentContext } from "../../train/experiment.js";
import { setup } from "./arms.js";
import { runTask, type Shared } from "./branches.js";
import type { SftVsRlConfig } from "./config.js";
import { runNoSft, runVerifySweep } from "./extras.js";
import { modelParams } from "./model.js";
import { runStage0 } from "./stage0.js";
import type { NoSftSummary, SftVsRlSummary, TaskSummary } from "./summary.js";
import { envSpecs } from "./tasks.js";

export { evaluateSplits, loadArmLM, loadArmVL, setup } from "./arms.js";
export { expertDataset, type SftExample } from "./sft.js";

const pct = (x: number | undefined) => (100 * Number(x)).toFixed(1);

/** The arm name of a task seed: unchanged for the first (index 0, so one-seed runs keep their names), `<arm>-s<seed>` after. */
export const seedArm = (arm: string, index: number, seed: number): string => (index === 0 ? arm : `${arm}-s${seed}`);

/** Train and evaluate every arm of the configured tasks (resuming or keeping finished arms) and return the summary. */
export async function runSftVsRl(cfg: SftVsRlConfig, ctx: ExperimentContext): Promise<SftVsRlSummary> {
  const { tok, model } = setup(cfg);
  const root = ctx.run;
  const navSampling = cfg.envs.includes("navigation") ? { navigationSampling: { ...cfg.sampling, maxNewTokens: cfg.navigation.maxNewTokens } } : {};
  // What `serve` needs to rebuild a policy from an arm's checkpoint.
  root.writeJson("policy.json", { model, phrases: tok.phrases, sampling: cfg.sampling, ...navSampling, evalTemperature: cfg.eval.temperature });
  const N = modelParams(initLM(model, 0));
  ctx.log(`sft-vs-rl: LM with ${N} parameters (vocab ${model.vocabSize}, d ${model.dModel}, ${model.nLayers} layers, context ${model.contextLength}); environments ${cfg.envs.join(", ")}`);

  const stage0 = await runStage0(cfg, ctx, tok, model);
  ctx.log(
    `stage0: loss ${stage0.finalLoss.toFixed(3)}, expression accuracy ${pct(stage0.arithmeticAccuracy)} %, rule reading ${pct(stage0.ruleReadingAccuracy)} %` +
      (stage0.actionSpaceAccuracy === undefined ? "" : `, action-space reading ${pct(stage0.actionSpaceAccuracy)} %, compass ${pct(stage0.compassAccuracy)} %` + (stage0.nextActionAbsolute === undefined ? "" : `, next action absolute / relative ${pct(stage0.nextActionAbsolute)} / ${pct(stage0.nextActionRelative ?? 0)} %`)),
  );

  const sh: Shared = { cfg, ctx, root, tok, model, N };
  const tasks: TaskSummary[] = [];
  const noSft: NoSftSummary[] = [];
  const withGp = cfg.envs.includes("general-points");
  // Every seed starts from the one stage-0 checkpoint (the paper's runs share one pretrained model).
  for (let i = 0; i < (cfg.taskSeeds ?? 1); i++) {
    const seed = cfg.seed + i;
    const shI: Shared = { ...sh, cfg: { ...cfg, seed } };
    for (const spec of envSpecs(shI.cfg, tok, model.contextLength)) tasks.push(await runTask({ ...spec, arm: (s) => seedArm(spec.arm(s), i, seed) }, shI));
    if (withGp && cfg.extras.noSftUpdates > 0) noSft.push(await runNoSft(shI, seedArm("ppo-no-sft", i, seed)));
  }
  const sweep = withGp ? await runVerifySweep(sh) : [];

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
