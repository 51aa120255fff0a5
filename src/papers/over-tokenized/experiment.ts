/**
 * `tinyfoundry run over-tokenized`: the Over-Tokenized Transformer's claims at CPU scale
 * (arXiv 2501.16975). Two studies, each in its own file:
 *
 * (A) cfg3f (§3.1, Fig. 2), `cfg-experiment.ts`: baseline, over-encoding (2+3-gram inputs) and
 *     over-decoding (the joint next-3-gram output vocabulary) on the synthetic grammar, at a small
 *     and a large model size.
 * (B) m-sweep (§4.2, Fig. 5), `sweep-experiment.ts`: a byte-level LM with n-gram over-encoding for
 *     several table sizes m against the baseline; the fit of loss against log10 m, hash purity and
 *     the OE arms' throughput.
 *
 * Every arm runs through the foundation `trainLoop` in `<run>/arms/<study>-<arm>/` via the runner's
 * `runArm` (resumable). The claims are judged in `claims.ts`; the runner writes summary.json and
 * verdicts.json and calls the report.
 */
import type { ExperimentContext } from "../../train/experiment.js";
import type { OverTokenizedExperimentConfig } from "./config.js";
import { runCfgStudy } from "./cfg-experiment.js";
import { runSweepStudy } from "./sweep-experiment.js";
import type { OverTokenizedSummary } from "./summary.js";

/** Train and evaluate both studies' arms (each resumable) and return the summary. */
export async function runOverTokenized(c: OverTokenizedExperimentConfig, ctx: ExperimentContext): Promise<OverTokenizedSummary> {
  const cfg = c.cfg.enabled ? await runCfgStudy(c, ctx) : null;
  const text = c.text.enabled ? await runSweepStudy(c, ctx) : null;
  return {
    cfgArms: cfg?.arms ?? [],
    textArms: text?.arms ?? [],
    cfgBaselines: cfg?.baselines ?? null,
    textBaselines: text?.baselines ?? null,
    fit: text?.fit ?? null,
    hashPurity: text?.hashPurity ?? [],
    throughput: text?.throughput ?? null,
  };
}
