/**
 * "SFT Memorizes, RL Generalizes" (arXiv 2501.17161) at CPU scale: public API and the `sft-vs-rl` experiment.
 */
import type { z } from "zod";
import type { Experiment } from "../../train/experiment.js";
import { validateConfig } from "../../train/config.js";
import { sftVsRlClaims } from "./claims.js";
import { sftVsRlPresets, sftVsRlSchema, type SftVsRlConfig } from "./config.js";
import { runSftVsRl } from "./experiment.js";
import { writeSftVsRlReport } from "./report.js";
import type { SftVsRlSummary } from "./summary.js";
import { sftVsRlNavPresets } from "./nav-entry.js";

export * from "./model.js";
export * from "./tokenizer.js";
export * from "./corpus.js";
export * from "./rollout.js";
export * from "./ppo.js";
export * from "./config.js";
export * from "./serve.js";
export * from "./tasks.js";
export * from "./vision.js";
export * from "./summary.js";
export { runSftVsRl } from "./experiment.js";
export { evaluateSplits, loadArmLM, loadArmVL, setup } from "./arms.js";
export { expertDataset, type SftExample } from "./sft.js";
export { sftVsRlClaims, GP_L_CLAIMS, VIRL_L_CLAIMS, GP_VL_CLAIMS, NO_SFT_CLAIM } from "./claims.js";
export { GP_VL_VISUAL_CLAIMS } from "./vl-claims.js";
export { GATE, DROP_SHARE } from "./claim-rules.js";
export { resultsMarkdown } from "./results.js";
export { writeSftVsRlReport } from "./report.js";
export { sftVsRlNavPresets } from "./nav-entry.js";

export const sftVsRlExperiment: Experiment<SftVsRlConfig, SftVsRlSummary> = {
  name: "sft-vs-rl",
  title: "SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training",
  arxiv: "2501.17161",
  claim: "From one SFT checkpoint, PPO with verifier rewards keeps or raises out-of-distribution (unseen rule: GeneralPoints face-card values, navigation action space) performance while more SFT lowers it, at equal compute",
  presets: sftVsRlPresets,
  schema: sftVsRlSchema as z.ZodType<SftVsRlConfig>,
  run: (config, ctx) => runSftVsRl(validateConfig(sftVsRlSchema, config), ctx),
  claims: (summary) => sftVsRlClaims(summary),
  report: (run, summary, verdicts) => writeSftVsRlReport(run, summary, verdicts),
};

/** Navigation alone as its own suite entry (issue 24's recipe; presets in nav-entry.ts). */
export const sftVsRlNavExperiment: Experiment<SftVsRlConfig, SftVsRlSummary> = {
  ...sftVsRlExperiment,
  name: "sft-vs-rl-nav",
  title: "SFT Memorizes, RL Generalizes: navigation (V-IRL-L analogue)",
  claim: "From one SFT checkpoint trained in the absolute action space, PPO with verifier rewards keeps or raises per-step accuracy when the prompt lists the relative action space, while more SFT lowers it, at equal compute",
  presets: sftVsRlNavPresets,
};
