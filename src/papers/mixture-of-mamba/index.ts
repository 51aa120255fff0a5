/** Mixture-of-Mamba (arXiv 2501.16295) as an `Experiment` (`tinyfoundry run mixture-of-mamba`) and a library. */
import type { Experiment } from "../../train/experiment.js";
import { momPresets, momSchema, type MoMConfig } from "./config.js";
import { runMixtureOfMamba } from "./experiment.js";

export { momPresets, momSchema, ARMS, type MoMConfig, type ArmName } from "./config.js";
export { routedLinear, modalityLinearFn, initMoMLM, momForward, modalityLosses, SPLIT_ALL, SPLIT_NONE, type SplitFlags, type RoutingArrays } from "./model.js";
export { prepareMoMData, makeBatch, makeDocument, routingFor, kMeans, vqEncode, vqDistortion, loadDigits, type MoMData, type HostBatch, type Routing } from "./data.js";
export { runMixtureOfMamba, stepsToReach, smooth, matchTable, PAPER, type MoMSummary, type ArmSummary } from "./experiment.js";

export const mixtureOfMambaExperiment: Experiment<MoMConfig> = {
  name: "mixture-of-mamba",
  title: "Mixture-of-Mamba: Enhancing Multi-Modal State-Space Models with Modality-Aware Sparsity",
  arxiv: "2501.16295",
  claim:
    "Splitting Mamba's in/x/dt/out projections by modality (conv, A and D shared) reaches the dense Mamba's final loss in fewer steps, more so for images than for text (Chameleon 1.4B: 42.50% image, 65.40% text).",
  presets: momPresets,
  schema: momSchema as unknown as Experiment<MoMConfig>["schema"],
  claims: () => [], // TODO(issue 16): typed claims
  run: async (config, ctx) => (await runMixtureOfMamba(config, ctx)) as unknown as Record<string, unknown>,
};
