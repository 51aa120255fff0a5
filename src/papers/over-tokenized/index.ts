/**
 * Over-Tokenized Transformer (arXiv 2501.16975) as a library and an `Experiment`
 * (`npx tinyfoundry run over-tokenized --preset tiny|quick|full`).
 */
import type { Experiment } from "../../train/experiment.js";
import { overTokenizedPresets, overTokenizedSchema, type OverTokenizedExperimentConfig } from "./config.js";
import { runOverTokenized } from "./experiment.js";
import { overTokenizedClaims } from "./claims.js";
import { writeOverTokenizedReport } from "./report.js";
import type { OverTokenizedSummary } from "./summary.js";

export * from "./model.js";
export { SparseTableStore, makeOverTokenizedStep, type RowPlan } from "./sparse.js";
export { CFG3F_RULES, CFG3F_ROOT, CFG_BOS, CFG_EOS, CFG_VOCAB, sampleCfg3f, cfg3fDerives, cfgStream } from "./cfg3f.js";
export { overTokenizedPresets, overTokenizedSchema, armSchema, type ArmSpec, type OverTokenizedExperimentConfig } from "./config.js";
export { runOverTokenized } from "./experiment.js";
export { trainArm } from "./train-arm.js";
export { fitLine, hashPurity } from "./sweep-experiment.js";
export { overTokenizedClaims } from "./claims.js";
export { writeOverTokenizedReport } from "./report.js";
export { PAPER, type ArmResult, type OverTokenizedSummary } from "./summary.js";

export const overTokenizedExperiment: Experiment<OverTokenizedExperimentConfig, OverTokenizedSummary> = {
  name: "over-tokenized",
  title: "Over-Tokenized Transformer: Vocabulary is Generally Worth Scaling",
  arxiv: "2501.16975",
  claim: "Hashed n-gram input embeddings (over-encoding) lower the loss, roughly log-linearly in the table size m, at a few percent of throughput; n-gram outputs help large models and hurt small ones.",
  presets: overTokenizedPresets,
  schema: overTokenizedSchema,
  run: (config, ctx) => runOverTokenized(config, ctx),
  claims: (summary) => overTokenizedClaims(summary),
  report: (run, summary, verdicts, config) => writeOverTokenizedReport(run, summary, verdicts, config),
};
