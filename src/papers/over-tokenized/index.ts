/**
 * Over-Tokenized Transformer (arXiv 2501.16975) as a library and an `Experiment`
 * (`npx tinyfoundry run over-tokenized --preset tiny|quick|full`).
 */
import type { Experiment } from "../../train/experiment.js";
import { overTokenizedPresets, overTokenizedSchema, type OverTokenizedExperimentConfig } from "./config.js";
import { runOverTokenized } from "./experiment.js";

export * from "./model.js";
export { SparseTableStore, makeOverTokenizedStep, type RowPlan } from "./sparse.js";
export { CFG3F_RULES, CFG3F_ROOT, CFG_BOS, CFG_EOS, CFG_VOCAB, sampleCfg3f, cfg3fDerives, cfgStream } from "./cfg3f.js";
export { overTokenizedPresets, overTokenizedSchema, armSchema, type ArmSpec, type OverTokenizedExperimentConfig } from "./config.js";
export { runOverTokenized, trainArm, fitLine, judge, type ArmResult, type OverTokenizedSummary } from "./experiment.js";

export const overTokenizedExperiment: Experiment<OverTokenizedExperimentConfig> = {
  name: "over-tokenized",
  title: "Over-Tokenized Transformer: Vocabulary is Generally Worth Scaling",
  arxiv: "2501.16975",
  claim: "Hashed n-gram input embeddings (over-encoding) lower the loss, roughly log-linearly in the table size m, at a few percent of throughput; n-gram outputs do not help small models.",
  presets: overTokenizedPresets,
  schema: overTokenizedSchema,
  claims: () => [], // TODO(issue 16): typed claims
  run: (config, ctx) => runOverTokenized(config, ctx),
};
