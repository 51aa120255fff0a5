/** The foundation LM as an `Experiment` (`tinyfoundry train lm` / `tinyfoundry run lm`). */
import type { Experiment } from "../train/experiment.js";
import { lmExperimentSchema, lmPresets, type LMExperimentConfig } from "./config.js";
import { trainLM } from "./experiment.js";
import { reportRun, machineLine } from "../report/run-report.js";
import { fmt } from "../report/document.js";
import { writeFileAtomic } from "../util/atomic.js";

export { lmExperimentSchema, lmPresets, type LMExperimentConfig } from "./config.js";
export { trainLM, prepareData, type LMSummary } from "./experiment.js";
export { bigramLoss } from "./bigram.js";

export const lmExperiment: Experiment<LMExperimentConfig> = {
  name: "lm",
  title: "Decoder-only transformer language model (foundation)",
  arxiv: "",
  claim: "A small GPT trained for minutes on a CPU beats a bigram model on held-out text by at least 0.3 nats/byte.",
  presets: lmPresets,
  schema: lmExperimentSchema,
  run: async (config, ctx) => {
    const summary = await trainLM(config, {
      run: ctx.run,
      resume: ctx.resume,
      signal: ctx.signal,
      onProgress: (e) => ctx.onProgress(e),
    });
    await reportRun(ctx.run.dir);
    writeLMResults(ctx.run, summary, config);
    const met = summary.improvementOverBigram >= 0.3;
    const verdicts = [
      {
        claim: "beats a bigram model on held-out text by at least 0.3 nats/byte",
        verdict: met ? "reproduced" : "not reproduced",
        detail: `${summary.valNatsPerByte.toFixed(3)} vs bigram ${summary.bigramValNatsPerByte.toFixed(3)} nats/byte (improvement ${summary.improvementOverBigram.toFixed(3)})`,
      },
    ];
    return { ...summary, verdicts };
  },
};

/** The measured table for the README (written to results.md; `tinyfoundry readme` copies it). */
export function lmResultsMarkdown(s: import("./experiment.js").LMSummary, cfg: LMExperimentConfig, meta: import("../train/run-dir.js").RunMeta): string {
  const m = cfg.model;
  const pass = s.improvementOverBigram >= 0.3;
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  return [
    `Preset \`${preset}\` (${m.nLayers} layers, width ${m.dModel}, ${m.nHeads} heads, context ${m.contextLength}, ${s.params.toLocaleString("en-US")} parameters, ${cfg.data.tokenizer} tokens, ${s.steps} steps of batch ${cfg.train.batchSize}) on ${cfg.data.file ?? cfg.data.corpus}, seed ${cfg.seed}, measured ${meta.updatedAt.slice(0, 10)} on ${machineLine(meta)}.`,
    "",
    "| metric | value |",
    "|---|---|",
    `| validation loss, transformer (nats/byte) | ${fmt(s.valNatsPerByte)} |`,
    `| validation loss, bigram baseline, same split (nats/byte, add-α=${s.bigramAlpha}) | ${fmt(s.bigramValNatsPerByte)} |`,
    `| improvement over bigram (target >= 0.3) | ${fmt(s.improvementOverBigram)} (${pass ? "met" : "NOT met"}) |`,
    `| final training loss (nats/token) | ${fmt(s.finalTrainLoss)} |`,
    `| training time (s) | ${fmt(s.trainSeconds, 1)} |`,
    ...(typeof (s as { wallSeconds?: number }).wallSeconds === "number" ? [`| wall time of the whole run (s) | ${fmt((s as { wallSeconds?: number }).wallSeconds!, 1)} |`] : []),
    `| throughput (tokens/s, training steps) | ${fmt(Math.round(s.tokensPerSec))} |`,
    "",
    "Sample (temperature " + cfg.sample.temperature + "):",
    "",
    "```",
    s.sample.slice(0, 400),
    "```",
  ].join("\n");
}

/** Write `results.md` for an LM run (also used by `tinyfoundry report` on an existing run). */
export function writeLMResults(run: import("../train/run-dir.js").RunDir, summary?: import("./experiment.js").LMSummary, config?: LMExperimentConfig): void {
  const s = summary ?? run.summary<import("./experiment.js").LMSummary>();
  if (!s) throw new Error(`report: ${run.dir} has no summary.json (is the run finished?)`);
  const cfg = config ?? lmExperimentSchema.parse(run.config());
  writeFileAtomic(run.path("results.md"), lmResultsMarkdown(s, cfg, run.meta()));
}
