/**
 * The presets of navigation (the V-IRL-L analogue of arXiv 2501.17161) as its own suite entry, `tinyfoundry run
 * sft-vs-rl-nav` (the entry itself is `sftVsRlNavExperiment` in index.ts).
 * The same experiment as `sft-vs-rl` with only the navigation environment, so `reproduce` runs GeneralPoints
 * and navigation as two entries, each with its own stage 0 and budget (issue 24 allows this). Its `quick`
 * preset is `sft-vs-rl`'s quick model and PPO settings with issue 24's navigation recipe, sized by the pilots in
 * the README ("Navigation by the new recipe"): 2-leg routes, navigation documents at 60 % of stage 0's corpus,
 * 800 stage-0 steps, an SFT init of 100 steps on sequences of 160 tokens (a 2-leg prompt and answer fit).
 */
import { sftVsRlPresets, type SftVsRlConfig } from "./config.js";

const { tiny, quick, full } = sftVsRlPresets;

export const sftVsRlNavPresets: Record<"tiny" | "quick" | "full", SftVsRlConfig> = {
  tiny: { ...tiny, envs: ["navigation"] },
  quick: {
    ...quick,
    envs: ["navigation"],
    stage0: { ...quick.stage0, steps: 800 },
    // Evaluate every 6 PPO updates as the run that sized it did (navigation runs 12 updates; GeneralPoints' quick
    // preset evaluates every 8 of its 40).
    eval: { ...quick.eval, every: 6 },
    // Two seeds of the SFT init and both branches from the one stage 0, so the claims have a seed floor (issue 24:
    // verdicts "with SE and seeds"), one after another in this process. Measured idle (AMD EPYC): 16.8 min one after
    // another (the README's navigation block; one seed: 11.5 by its per-arm minutes), against the entry's 15-minute
    // budget; side by side in two one-thread child processes (`seedJobs: 2`, run 20261207-123547-s0) 17.3 min, with
    // the same numbers: a navigation arm in a one-thread child beside the other took 1.6-2.3x its two-thread minutes
    // (PPO 4.5 / 4.3 against 2.4 / 2.1, SFT 4.7 / 4.5 against 2.5 / 2.4), more than GeneralPoints' arms (its rows are
    // longer, so two threads help more), so navigation keeps the seeds one after another.
    taskSeeds: 2,
    seedJobs: 1,
    navigation: { ...quick.navigation, corpusShare: 0.6, routeLegs: [2, 2], sftInit: { ...quick.navigation.sftInit, steps: 100, seqLen: 160 } },
  },
  full: { ...full, envs: ["navigation"] },
};
