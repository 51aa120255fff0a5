/**
 * The Mixture-of-Mamba report: results.md (our numbers beside the paper's, the baselines, the
 * verdict table) and report.html / report.md (curves, the metric as bars, the VQ strip, each arm's
 * run) from a run's summary and verdicts. Reads files and formats; computes nothing heavy.
 */
import { existsSync, readFileSync } from "node:fs";
import { lineChartSpec, barChartSpec } from "../../report/charts.js";
import { writeReport, type Block, type Section } from "../../report/document.js";
import { machineLine, runSections } from "../../report/run-report.js";
import { verdictBlocks, verdictTableMarkdown } from "../../report/verdicts.js";
import { readVerdicts } from "../../train/experiment.js";
import { openRun, type RunDir, type RunMeta } from "../../train/run-dir.js";
import type { VerdictsFile } from "../../train/claims.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { momSchema, type MoMConfig } from "./config.js";
import { smooth, smoothWindow } from "./metric.js";
import { PAPER, type MatchRow, type MoMSummary } from "./summary.js";

const f4 = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? "-" : x.toFixed(4));
const pct = (r: MatchRow | undefined) =>
  !r ? "-" : r.pct !== null ? `${r.pct.toFixed(1)}%` : r.reversePct !== null ? `not reached (dense reaches its final at ${r.reversePct.toFixed(1)}%)` : "not reached";

/** The results table (Markdown): our numbers beside the paper's, the baselines, the machine, preset, wall time and verdicts. */
export function resultsMarkdown(s: MoMSummary, cfg: MoMConfig, meta: RunMeta, verdicts: VerdictsFile | null): string {
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const armsRun = [...new Set(s.arms.map((a) => a.arm))].filter((a) => a !== "dense");
  const wall = typeof s.wallSeconds === "number" ? `; wall time ${(s.wallSeconds / 60).toFixed(1)} min` : "";
  const seeds = [...new Set(s.arms.map((a) => a.seed))].join(", ");
  const L: string[] = [];
  L.push(`Measured by \`tinyfoundry run mixture-of-mamba --preset ${preset}\` (seed ${seeds}); machine: ${machineLine(meta)}${wall}.`);
  L.push("");
  L.push(
    `Setup: Mamba with D = ${cfg.model.dModel}, ${cfg.model.nLayers} layer(s) × ${cfg.model.blocksPerLayer} blocks, N = ${cfg.model.dState}, E = ${cfg.model.expand * cfg.model.dModel}; ` +
      `T = ${cfg.model.contextLength}, batch ${cfg.train.batchSize}, ${cfg.train.steps} steps, AdamW lr ${cfg.train.lr}. ` +
      `Data: ${cfg.data.imagesPerSeq} MNIST digit(s) per sequence as 49 VQ tokens each (codebook ${s.vq.codebookSize}, held-out MSE/pixel ${s.vq.valMSE.toFixed(4)}, ${(100 * s.vq.codesUsed).toFixed(0)}% of codes used) between Moby-Dick byte text; ` +
      `${(100 * s.imageTokenFraction).toFixed(0)}% of input tokens are image codes. Parameters: ${s.arms.map((a) => `${a.arm} ${a.params.toLocaleString("en-US")}`).join(", ")}.`,
  );
  L.push("");
  L.push("**Steps to reach the dense Mamba's final training loss, as a % of the dense run's steps** (smoothed training loss; lower is better; the paper's numbers are at 1.4B parameters):");
  L.push("");
  L.push(`| modality | paper (Chameleon, 1.4B) | ${armsRun.join(" | ")} |`);
  L.push(`|---|---|${armsRun.map(() => "---").join("|")}|`);
  for (const [m, paper] of [
    ["image", `${PAPER.chameleonImagePct}%`],
    ["text", `${PAPER.chameleonTextPct}%`],
    ["total", "-"],
  ] as const) {
    L.push(`| ${m} | ${paper} | ${armsRun.map((a) => s.match.filter((r) => r.arm === a && r.modality === m).map(pct).join(", ") || "-").join(" | ")} |`);
  }
  L.push("");
  L.push(`Other paper settings not run here: Transfusion image ${PAPER.transfusionImagePct}%, three-modality speech ${PAPER.speechPct}%.`);
  L.push("");
  const b = s.baselines;
  L.push(
    `**Trivial baselines on the held-out split** (nats/token, add-α models fitted on the training split): text bytes unigram ${f4(b.text.unigram)}, bigram ${f4(b.text.bigram)}; ` +
      `image codes unigram ${f4(b.image.unigram)}, bigram ${f4(b.image.bigram)}.`,
  );
  L.push("");
  L.push(`**Final losses** (training: smoothed over the last ${Math.round(cfg.smoothFraction * 100)}% of steps; held-out: ${cfg.train.evalBatches} batches of validation text and digits):`);
  L.push("");
  L.push("| arm | seed | params | train text | train image | held-out text | held-out image | held-out total | s/step |");
  L.push("|---|---|---|---|---|---|---|---|---|");
  for (const a of s.arms) {
    L.push(`| ${a.arm} | ${a.seed} | ${a.params.toLocaleString("en-US")} | ${f4(a.finalText)} | ${f4(a.finalImage)} | ${f4(a.valText)} | ${f4(a.valImage)} | ${f4(a.valLoss)} | ${a.secondsPerStep.toFixed(3)} |`);
  }
  if (verdicts) L.push("", verdictTableMarkdown(verdicts));
  return L.join("\n") + "\n";
}

/** Per-modality training curves of every arm (smoothed as the metric smooths them) and the metric as bars. */
function curveBlocks(run: RunDir, s: MoMSummary, cfg: MoMConfig): Block[] {
  const arms = [...new Set(s.arms.map((a) => a.arm))].filter((a) => existsSync(run.path("arms", a, "metrics.jsonl")));
  const rows = Object.fromEntries(arms.map((a) => [a, openRun(run.path("arms", a)).metrics<Record<string, number>>()]));
  const w = smoothWindow(cfg);
  const blocks: Block[] = [];
  for (const [k, title] of [
    ["imageLoss", "image loss (training, smoothed)"],
    ["textLoss", "text loss (training, smoothed)"],
  ] as const) {
    const series = arms.map((a) => ({ name: a, points: smooth(rows[a].map((r) => r[k]), w).map((v, i) => [i + 1, v] as [number, number]) }));
    blocks.push({ kind: "chart", name: `curves-${k}`, spec: lineChartSpec({ title, xLabel: "step", yLabel: "loss (nats/token)", series }) });
  }
  const bars = s.match.filter((r) => r.modality !== "total" && r.pct !== null).map((r) => ({ label: r.arm, value: r.pct!, group: r.modality }));
  if (bars.length) blocks.push({ kind: "chart", name: "steps-to-match", spec: barChartSpec({ title: "% of dense steps to reach dense's final loss", bars, yLabel: "% of steps" }) });
  return blocks;
}

/** Write results.md, report.html and report.md for a run (the runner calls it; also usable on an existing run). */
export async function writeMoMReport(run: RunDir, summary?: MoMSummary, verdicts?: VerdictsFile | null, config?: MoMConfig): Promise<void> {
  const s = summary ?? run.summary<MoMSummary>();
  if (!s) throw new Error(`report: ${run.dir} has no summary.json (is the run finished?)`);
  const cfg = config ?? momSchema.parse(run.config());
  const v = verdicts === undefined ? readVerdicts(run.dir) : verdicts;
  const md = resultsMarkdown(s, cfg, run.meta(), v);
  writeFileAtomic(run.path("results.md"), md);
  const sections: Section[] = [{ heading: "Results", blocks: [{ kind: "text", text: md }] }];
  if (v) sections.push({ heading: "Claims and verdicts", blocks: verdictBlocks(v) });
  sections.push({ heading: "Per-modality training curves", blocks: curveBlocks(run, s, cfg) });
  const png = run.path("samples", "vq-digits.png");
  if (existsSync(png)) {
    sections.push({ heading: "VQ tokens of held-out digits", blocks: [{ kind: "image", name: "vq-digits", png: readFileSync(png), caption: "top: digits; bottom: decoded from their 49 VQ codes" }] });
  }
  for (const a of [...new Set(s.arms.map((x) => x.arm))]) {
    if (existsSync(run.path("arms", a, "meta.json"))) sections.push(...runSections(openRun(run.path("arms", a)), a).map((x) => ({ ...x, heading: `${a}: ${x.heading}` })));
  }
  const dense = s.arms.find((a) => a.arm === "dense");
  const subtitle = dense ? `dense Mamba LM: ${dense.params.toLocaleString("en-US")} parameters` : undefined;
  await writeReport({ title: "Mixture-of-Mamba (arXiv 2501.16295): dense vs modality-aware Mamba", subtitle, sections }, run.dir);
}
