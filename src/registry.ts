/** Every runnable experiment, by CLI name. Paper modules add themselves here. */
import type { Experiment } from "./train/experiment.js";
import { lmExperiment } from "./lm/index.js";
import { fp4TrainingExperiment } from "./papers/fp4-training/index.js";
import { sftVsRlExperiment, sftVsRlNavExperiment } from "./papers/sft-vs-rl/index.js";
import { guidanceFreeExperiment } from "./papers/guidance-free/index.js";
import { overTokenizedExperiment } from "./papers/over-tokenized/index.js";
import { mixtureOfMambaExperiment } from "./papers/mixture-of-mamba/index.js";
import { omniExperiment } from "./papers/omni/index.js";
import { omniTokenizerExperiment } from "./papers/omni/tokenizer-study-entry.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const experiments: Record<string, Experiment<any, any>> = {
  lm: lmExperiment,
  "fp4-training": fp4TrainingExperiment,
  "sft-vs-rl": sftVsRlExperiment,
  "sft-vs-rl-nav": sftVsRlNavExperiment,
  "guidance-free": guidanceFreeExperiment,
  "over-tokenized": overTokenizedExperiment,
  "mixture-of-mamba": mixtureOfMambaExperiment,
  omni: omniExperiment,
  "omni-tokenizer": omniTokenizerExperiment,
};

export function experimentNames(): string[] {
  return Object.keys(experiments);
}
