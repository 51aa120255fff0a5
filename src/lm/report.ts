/** The LM run's report: report.html/report.md from the run dir, and results.md for the README. */
import { reportRun, machineLine } from "../report/run-report.js";
import { fmt } from "../report/document.js";
import { verdictTableMarkdown } from "../report/verdicts.js";
import { writeFileAtomic } from "../util/atomic.js";
import { readVerdicts } from "../train/experiment.js";
import type { RunDir, RunMeta } from "../train/run-dir.js";
import type { VerdictsFile } from "../train/claims.js";
import { lmExperimentSchema, type LMExperimentConfig } from "./config.js";
import type { LMSummary } from "./experiment.js";

/** The measured table for the README (written to results.md; `tinyfoundry readme` copies it). */
export function lmResultsMarkdown(s: LMSummary & { wallSeconds?: number }, cfg: LMExperimentConfig, meta: RunMeta, verdicts: VerdictsFile | null): string {
  const m = cfg.model;
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  return [
    `Preset \`${preset}\` (${m.nLayers} layers, width ${m.dModel}, ${m.nHeads} heads, context ${m.contextLength}, ${s.params.toLocaleString("en-US")} parameters, ${cfg.data.tokenizer} tokens, ${s.steps} steps of batch ${cfg.train.batchSize}) on ${cfg.data.file ?? cfg.data.corpus}, seed ${cfg.seed}, measured ${meta.updatedAt.slice(0, 10)} on ${machineLine(meta)}.`,
    "",
    "| metric | value |",
    "|---|---|",
    `| validation loss, transformer (nats/byte) | ${fmt(s.valNatsPerByte)} |`,
    `| validation loss, bigram baseline, same split (nats/byte, add-α=${s.bigramAlpha}) | ${fmt(s.bigramValNatsPerByte)} |`,
    `| improvement over bigram (target >= 0.3) | ${fmt(s.improvementOverBigram)} |`,
    `| final training loss (nats/token) | ${fmt(s.finalTrainLoss)} |`,
    `| training time (s) | ${fmt(s.trainSeconds, 1)} |`,
    ...(typeof s.wallSeconds === "number" ? [`| wall time of the whole run (s) | ${fmt(s.wallSeconds, 1)} |`] : []),
    `| throughput (tokens/s, training steps) | ${fmt(Math.round(s.tokensPerSec))} |`,
    "",
    ...(verdicts ? [verdictTableMarkdown(verdicts), ""] : []),
    "Sample (temperature " + cfg.sample.temperature + "):",
    "",
    "```",
    s.sample.slice(0, 400),
    "```",
  ].join("\n");
}

/** Write report.html/report.md and `results.md` for an LM run (also `tinyfoundry report` on an existing run). */
export async function writeLMReport(run: RunDir, summary?: LMSummary, verdicts?: VerdictsFile | null, config?: LMExperimentConfig): Promise<void> {
  const s = summary ?? run.summary<LMSummary>();
  if (!s) throw new Error(`report: ${run.dir} has no summary.json (is the run finished?)`);
  const cfg = config ?? lmExperimentSchema.parse(run.config());
  await reportRun(run.dir);
  writeFileAtomic(run.path("results.md"), lmResultsMarkdown(s, cfg, run.meta(), verdicts === undefined ? readVerdicts(run.dir) : verdicts));
}
