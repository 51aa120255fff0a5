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
import { armRunName, momSchema, type MoMConfig } from "./config.js";
import { HORIZONS, smooth, smoothWindow, stepsSaved } from "./metric.js";
import { PAPER, type MatchRow, type MoMSummary } from "./summary.js";

const f4 = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? "-" : x.toFixed(4));
const pct = (r: MatchRow | undefined) =>
  !r ? "-" : r.pct !== null ? `${r.pct.toFixed(1)}%` : r.reversePct !== null ? `not reached (dense gets there at ${r.reversePct.toFixed(1)}%)` : "not reached";
const withSE = (m: number, se: number | undefined) => (se !== undefined && Number.isFinite(se) && se > 0 ? `${f4(m)} ± ${f4(se)}` : f4(m));
const horizonName = (h: number) => (h === 1 ? "end" : `${Math.round(100 * h)}% of training`);

/** The results table (Markdown): our numbers beside the paper's, the baselines, the machine, preset, wall time and verdicts. */
export function resultsMarkdown(s: MoMSummary, cfg: MoMConfig, meta: RunMeta, verdicts: VerdictsFile | null): string {
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const armsRun = [...new Set(s.arms.map((a) => a.arm))].filter((a) => a !== "dense");
  const horizons = [...HORIZONS].reverse().filter((h) => s.match.some((r) => r.horizon === h));
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
  L.push(
    "**Steps to reach the dense Mamba's training loss, as a % of the dense run's steps**, read at the end of training (the paper's metric, which the verdicts use) and at 50% of training " +
      "(smoothed training loss, each seed against the dense run of the same seed, one value per seed; lower is better; the paper's numbers are at 1.4B parameters). " +
      "The dense rows are one dense seed against another: their distance from 100% is the seed noise, and the floor row is its largest |steps saved| in points:",
  );
  L.push("");
  const modalities = ["image", "text", "total"] as const;
  L.push("| arm | read at | image | text | total |");
  L.push("|---|---|---|---|---|");
  L.push(`| paper: Mixture-of-Mamba, Chameleon 1.4B | end | ${PAPER.chameleonImagePct}% | ${PAPER.chameleonTextPct}% | - |`);
  for (const a of ["dense", ...armsRun]) {
    for (const h of horizons) {
      const rows = (m: string) => s.match.filter((r) => r.arm === a && r.modality === m && r.horizon === h);
      if (!rows("total").length) continue;
      const seeds = [...new Set(rows("total").map((r) => (a === "dense" ? `${r.seed} vs ${r.refSeed}` : String(r.seed))))];
      const label = `${a} (seed${seeds.length > 1 ? "s" : ""} ${seeds.join(", ")})`;
      L.push(`| ${label} | ${horizonName(h)} | ${modalities.map((m) => rows(m).map(pct).join(", ")).join(" | ")} |`);
    }
  }
  for (const h of horizons) {
    const floor = (m: string) => {
      const reps = s.match.filter((r) => r.arm === "dense" && r.modality === m && r.horizon === h && r.seed !== r.refSeed);
      return reps.length ? `±${Math.max(...reps.map((r) => Math.abs(stepsSaved(r)))).toFixed(1)} points` : "- (one dense seed)";
    };
    L.push(`| dense seed floor | ${horizonName(h)} | ${modalities.map(floor).join(" | ")} |`);
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
  L.push(
    `**Final losses** (training: smoothed over the last ${Math.round(cfg.smoothFraction * 100)}% of steps; held-out: mean ± standard error over ${cfg.train.evalBatches} fixed batches of validation text and digits, the same for every arm and seed):`,
  );
  L.push("");
  L.push("| arm | seed | params | train text | train image | held-out text | held-out image | held-out total | s/step |");
  L.push("|---|---|---|---|---|---|---|---|---|");
  for (const a of s.arms) {
    L.push(
      `| ${a.arm} | ${a.seed} | ${a.params.toLocaleString("en-US")} | ${f4(a.finalText)} | ${f4(a.finalImage)} | ${withSE(a.valText, a.valTextSE)} | ${withSE(a.valImage, a.valImageSE)} | ${withSE(a.valLoss, a.valLossSE)} | ${a.secondsPerStep.toFixed(3)} |`,
    );
  }
  if (verdicts) L.push("", verdictTableMarkdown(verdicts));
  return L.join("\n") + "\n";
}

/** Per-modality training curves of every arm (smoothed as the metric smooths them) and the metric as bars. */
function curveBlocks(run: RunDir, s: MoMSummary, cfg: MoMConfig): Block[] {
  const arms = s.arms.map((a) => armRunName(a.arm, a.seed, cfg)).filter((a) => existsSync(run.path("arms", a, "metrics.jsonl")));
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
  const bars = s.match
    .filter((r) => r.modality !== "total" && r.pct !== null && r.horizon === 1 && r.arm !== "dense")
    .map((r) => ({ label: armRunName(r.arm, r.seed, cfg), value: r.pct!, group: r.modality }));
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
  for (const a of s.arms.map((x) => armRunName(x.arm, x.seed, cfg))) {
    if (existsSync(run.path("arms", a, "meta.json"))) sections.push(...runSections(openRun(run.path("arms", a)), a).map((x) => ({ ...x, heading: `${a}: ${x.heading}` })));
  }
  const dense = s.arms.find((a) => a.arm === "dense");
  const subtitle = dense ? `dense Mamba LM: ${dense.params.toLocaleString("en-US")} parameters` : undefined;
  await writeReport({ title: "Mixture-of-Mamba (arXiv 2501.16295): dense vs modality-aware Mamba", subtitle, sections }, run.dir);
}
