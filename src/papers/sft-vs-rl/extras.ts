/**
 * The GeneralPoints extras of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161):
 * PPO from the stage-0 model without SFT (§5.4, Fig. 9; arm `ppo-no-sft`) and PPO with verify_iter 1/3/5/10 at
 * equal compute (§5.5, Fig. 10; arms `ppo-verify-<k>`, `full` only).
 */
import { disposeTree } from "../../engine/index.js";
import { runArm } from "../../train/experiment.js";
import { armDir, evaluateSplits, loadArmLM, rollTempRow } from "./arms.js";
import type { Shared } from "./branches.js";
import { trainPPO } from "./ppo.js";
import type { EvalRow, NoSftSummary, SweepSummary } from "./summary.js";
import { gpEnv, gpEvalRow, gpSpec } from "./tasks.js";

/**
 * PPO on ID hands from the stage-0 model, `extras.noSftUpdates` updates. Evaluated on ID before the first update
 * (the stage-0 level the claim compares with) and after the last, on a quarter of the evaluation's episodes.
 */
export async function runNoSft(sh: Shared, arm = "ppo-no-sft"): Promise<NoSftSummary> {
  const { cfg, ctx, root, tok, model, N } = sh;
  const updates = cfg.extras.noSftUpdates;
  const small = Math.max(1, Math.round(cfg.eval.episodes / 4));
  return runArm<NoSftSummary>(ctx, arm, { updates }, async (run, resume) => {
    const initLm = loadArmLM(armDir(root, "stage0"), model, cfg.seed, false);
    // ID at the evaluation temperature and sampled at the rollout temperature (what the claim compares with the SFT+PPO branch).
    const evalId = async (lm: typeof initLm) => {
      const row = gpEvalRow(await evaluateSplits(lm, model, tok, cfg, { episodes: small, splits: ["id"] }));
      return { ...row, ...(await rollTempRow(lm, model, tok, cfg, gpSpec(cfg), row, { episodes: small })) };
    };
    const r = await trainPPO({
      run, ppo: cfg.ppo, sampling: cfg.sampling, model, tok, nParams: N, seed: cfg.seed, updates, initLm,
      makeEnv: () => gpEnv("id", cfg.ppo.verifyIter, cfg.cards, cfg.ruleWording),
      evaluate: async (lm, update) => (update === 0 || update === updates ? evalId(lm) : {}),
      evalEvery: updates,
      resume, signal: ctx.signal, onProgress: (e) => ctx.onProgress(e, arm),
    });
    disposeTree(initLm);
    disposeTree(r.lm);
    const rows = run.metrics<EvalRow>();
    const trained = rows.filter((x) => typeof x.meanStepReward === "number");
    const start = rows.find((x) => x.update === 0 && typeof x.idSuccess === "number") ?? {};
    return {
      seed: cfg.seed,
      updates: r.updates,
      flops: r.flops,
      episodes: small,
      meanStepReward: trained.at(-1)?.meanStepReward ?? NaN,
      rolloutSuccess: trained.at(-1)?.rolloutSuccess ?? NaN,
      start,
      final: r.lastEval,
    };
  });
}

/**
 * PPO from the SFT init with each verify_iter of `extras.verifyIters`, `extras.sweepUpdates` updates each (the
 * rounds per update are the same, so the FLOPs are equal only approximately: compare them by the FLOPs they
 * report), then rule-OOD success at verify_iter 5.
 */
export async function runVerifySweep(sh: Shared): Promise<SweepSummary[]> {
  const { cfg, ctx, root, tok, model, N } = sh;
  const out: SweepSummary[] = [];
  const updates = cfg.extras.sweepUpdates;
  if (cfg.extras.verifyIters.length === 0 || updates === 0) return out;
  for (const k of cfg.extras.verifyIters) {
    out.push(
      await runArm<SweepSummary>(ctx, `ppo-verify-${k}`, { verifyIter: k, updates }, async (run, resume) => {
        const initLm = loadArmLM(armDir(root, "sft-init"), model, cfg.seed, false);
        const r = await trainPPO({
          run, ppo: { ...cfg.ppo, verifyIter: k }, sampling: cfg.sampling, model, tok, nParams: N, seed: cfg.seed, updates, initLm,
          makeEnv: () => gpEnv("id", k, cfg.cards, cfg.ruleWording),
          evaluate: async (lm, update) => (update === updates ? gpEvalRow(await evaluateSplits(lm, model, tok, cfg, { splits: ["ood"], verifyIter: 5 })) : {}),
          evalEvery: updates,
          resume, signal: ctx.signal, onProgress: (e) => ctx.onProgress(e, `ppo-verify-${k}`),
        });
        disposeTree(initLm);
        disposeTree(r.lm);
        return { verifyIter: k, flops: r.flops, row: r.lastEval };
      }),
    );
  }
  return out;
}
