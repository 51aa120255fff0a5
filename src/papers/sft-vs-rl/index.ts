/**
 * "SFT Memorizes, RL Generalizes" (arXiv 2501.17161) at CPU scale: public API and the `sft-vs-rl` experiment.
 */
import type { Experiment } from "../../train/experiment.js";
import { validateConfig } from "../../train/config.js";
import { sftVsRlPresets, sftVsRlSchema, type SftVsRlConfig } from "./config.js";
import { runSftVsRl } from "./experiment.js";

export * from "./model.js";
export * from "./tokenizer.js";
export * from "./corpus.js";
export * from "./rollout.js";
export * from "./ppo.js";
export * from "./config.js";
export * from "./serve.js";
export * from "./tasks.js";
export * from "./vision.js";
export { runSftVsRl, evaluateSplits, expertDataset, loadArmLM, loadArmVL, setup, verdict, type SftExample } from "./experiment.js";

export const sftVsRlExperiment: Experiment<SftVsRlConfig> = {
  name: "sft-vs-rl",
  title: "SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training",
  arxiv: "2501.17161",
  claim: "From one SFT checkpoint, PPO with verifier rewards keeps or raises out-of-distribution (unseen rule: GeneralPoints face-card values, navigation action space) performance while more SFT lowers it, at equal compute",
  presets: sftVsRlPresets,
  schema: sftVsRlSchema as unknown as Experiment<SftVsRlConfig>["schema"],
  claims: () => [], // TODO(issue 16): typed claims
  run: (config, ctx) => runSftVsRl(validateConfig(sftVsRlSchema, config), ctx),
};
