/**
 * The over-tokenized experiment's report: one comparison document (report.html / report.md)
 * with loss curves of every arm, the log10 m fit, our table beside the paper's numbers, and
 * `results.md` (the block the README shows). Every number comes from the run.
 */
import { writeFileSync } from "node:fs";
import { lineChartSpec } from "../../report/charts.js";
import { fmt, writeReport, type Block, type ReportDoc } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import type { OverTokenizedExperimentConfig } from "./config.js";
import type { ArmResult, OverTokenizedSummary } from "./experiment.js";

/** Paper numbers used for comparison (arXiv 2501.16975). */
export const PAPER = {
  fig5: { intercept: 2.6754, slope: -0.0256, setting: "OLMoE-1.3B, n = 2, k = 1, m from 20K to 12.8M, 500B tokens" },
  table1: [
    { model: "OLMoE-1.3B", baseline: 2.554, oe: 2.472 },
    { model: "OLMoE-7B", baseline: 2.305, oe: 2.229 },
  ],
  table2: [
    { row: "baseline", loss: 2.554 },
    { row: "+E_{3.2M×d}(x^(−2))", loss: 2.511 },
    { row: "+E_{12.8M×d}(x^(−2))", loss: 2.493 },
    { row: "OE-3.2M (2+3-gram, k = 2)", loss: 2.495 },
    { row: "OE-12.8M (2+3-gram, k = 2)", loss: 2.472 },
  ],
  table6: { olmoe13b: -4.63, olmoe7b: -8.3 },
  table5: { baseline: 2.554, oe: 2.472, ot: 2.481 },
};

const md = (headers: string[], rows: (string | number)[][]) =>
  [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map((c) => fmt(c)).join(" | ")} |`)].join("\n");

function armCurves(run: RunDir, study: string, arms: ArmResult[], key: string): { name: string; points: [number, number][] }[] {
  return arms.map((a) => {
    const r = openRun(run.path("arms", `${study}-${a.arm}`));
    const rows = r.metrics<Record<string, number>>();
    return { name: a.arm, points: rows.filter((x) => typeof x[key] === "number").map((x) => [x.step, x[key]] as [number, number]) };
  });
}

function smooth(points: [number, number][], w = 20): [number, number][] {
  return points.map(([x], i) => {
    const s = points.slice(Math.max(0, i - w + 1), i + 1);
    return [x, s.reduce((a, p) => a + p[1], 0) / s.length];
  });
}

export function cfgRows(arms: ArmResult[]): (string | number)[][] {
  const base = arms.find((a) => a.arm === "baseline");
  return arms.map((a) => [
    a.arm,
    a.lmParams,
    a.oeTableParams + a.otherParams,
    a.finalTrainLoss,
    a.valLoss,
    base ? a.valLoss - base.valLoss : "-",
    a.completionAccuracy >= 0 ? a.completionAccuracy : "-",
    Math.round(a.tokensPerSec),
  ]);
}
const cfgHeaders = ["arm", "LM params", "extra params", "train loss (last 10%)", "held-out loss", "Δ vs baseline", "completion accuracy", "tokens/s"];

export function textRows(arms: ArmResult[]): (string | number)[][] {
  const base = arms.find((a) => a.arm === "baseline");
  return arms.map((a) => [
    a.arm,
    a.m,
    a.oeTableParams,
    a.finalTrainLoss,
    a.valLoss,
    base ? a.valLoss - base.valLoss : "-",
    Math.round(a.tokensPerSec),
    base ? `${(100 * (a.tokensPerSec / base.tokensPerSec - 1)).toFixed(1)}%` : "-",
  ]);
}
const textHeaders = ["arm", "m", "OE table params", "train loss (last 10%)", "held-out loss (nats/byte)", "Δ vs baseline", "tokens/s", "tokens/s vs baseline"];

/** Write report.html, report.md and results.md into the run directory. */
export async function writeOverTokenizedReport(run: RunDir, c: OverTokenizedExperimentConfig, s: OverTokenizedSummary): Promise<void> {
  const meta = run.meta();
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const machine = machineLine(meta);
  const trainSec = [...s.cfgArms, ...s.textArms].reduce((a, x) => a + x.trainSeconds, 0);
  const head = `Preset **${preset}**, seed ${c.seed}, table update ${c.tableUpdate}. Machine: ${machine}. Wall time ${s.wallSeconds.toFixed(0)} s (this invocation; ${trainSec.toFixed(0)} s in training steps over all arms).`;

  const verdictRows = s.verdicts.map((v) => [v.claim, `**${v.verdict}**`, v.evidence]);
  const results: string[] = [`### Measured results (written by the run, not by hand)`, "", head, "", md(["claim", "verdict", "evidence"], verdictRows)];

  const sections: ReportDoc["sections"] = [{ heading: "Verdicts", blocks: [{ kind: "text", text: head }, { kind: "table", headers: ["claim", "verdict", "evidence"], rows: verdictRows.map((r) => r.map((x) => String(x).replace(/\*\*/g, ""))) }] }];

  if (s.cfgArms.length) {
    const m = c.cfg.model;
    const setting = `cfg3f, ${c.cfg.sentences} sentences (${Math.round(c.cfg.valFraction * 100)}% held out), GPT d=${m.dModel}, ${m.nLayers} layers, ${m.nHeads} heads, context ${m.contextLength}, ${c.cfg.train.steps} steps of batch ${c.cfg.train.batchSize}; completion: last ${c.cfg.generation.cut} terminals of ${c.cfg.generation.prompts} held-out sentences sampled at temperature ${c.cfg.generation.temperature}.`;
    const rows = cfgRows(s.cfgArms);
    results.push("", `#### (A) cfg3f: input vs output vocabulary (paper §3.1, Fig. 2)`, "", setting, "", md(cfgHeaders, rows), "",
      "Paper (Fig. 2, curves only, no table): a 3-gram input improves generation accuracy for both the 2.4M and the 85M model; a 3-gram output helps the 85M model and hurts the 2.4M one.");
    const blocks: Block[] = [
      { kind: "text", text: setting },
      { kind: "table", headers: cfgHeaders, rows },
      { kind: "chart", name: "cfg-val-loss", spec: lineChartSpec({ title: "cfg3f: held-out next-token loss", series: armCurves(run, "cfg", s.cfgArms, "valLoss"), xLabel: "step", yLabel: "nats/token", points: true }) },
      { kind: "chart", name: "cfg-train-loss", spec: lineChartSpec({ title: "cfg3f: next-token training loss (moving average of 20)", series: armCurves(run, "cfg", s.cfgArms, "nextTokenLoss").map((x) => ({ ...x, points: smooth(x.points) })), xLabel: "step", yLabel: "nats/token" }) },
    ];
    sections.push({ heading: "(A) cfg3f", blocks });
  }

  if (s.textArms.length) {
    const m = c.text.model;
    const setting = `Byte-level LM on ${c.text.file ?? c.text.corpus} (V = 256), d=${m.dModel}, ${m.nLayers} layers, ${m.nHeads} heads, context ${m.contextLength}, ${c.text.train.steps} steps of batch ${c.text.train.batchSize}; OE arms n = ${c.text.n}, k = ${c.text.k}.`;
    const rows = textRows(s.textArms);
    const fitText = s.fit
      ? `Least-squares fit over the OE arms: held-out L = ${s.fit.valIntercept.toFixed(4)} ${s.fit.valSlope < 0 ? "−" : "+"} ${Math.abs(s.fit.valSlope).toFixed(4)}·log10 m (R² ${s.fit.valR2.toFixed(3)}); training L = ${s.fit.trainIntercept.toFixed(4)} ${s.fit.trainSlope < 0 ? "−" : "+"} ${Math.abs(s.fit.trainSlope).toFixed(4)}·log10 m (R² ${s.fit.trainR2.toFixed(3)}). Paper (Fig. 5, ${PAPER.fig5.setting}): L = ${PAPER.fig5.intercept} − ${Math.abs(PAPER.fig5.slope)}·log10 m.`
      : "Fewer than two OE arms: no fit.";
    results.push("", `#### (B) m-sweep: loss against log10 m (paper §4.2, Fig. 5)`, "", setting, "", md(textHeaders, rows), "", fitText, "",
      "Paper, for scale: OLMoE-1.3B 2.554 → 2.472 with OE-12.8M (Table 1); 2-gram only: m = 3.2M 2.511, m = 12.8M 2.493 (Table 2); throughput −4.63% (1.3B) and −8.3% (7B) (Table 6).");
    const blocks: Block[] = [{ kind: "text", text: setting }, { kind: "table", headers: textHeaders, rows }, { kind: "text", text: fitText }];
    const sweep = s.textArms.filter((a) => a.arm === `oe-m${a.m}`).sort((a, b) => a.m - b.m);
    if (sweep.length && s.fit) {
      const xs = sweep.map((a) => Math.log10(a.m));
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      const base = s.textArms.find((a) => a.arm === "baseline");
      const series = [
        { name: "held-out loss", points: sweep.map((a) => [Math.log10(a.m), a.valLoss] as [number, number]) },
        { name: "train loss", points: sweep.map((a) => [Math.log10(a.m), a.finalTrainLoss] as [number, number]) },
        { name: "fit (held-out)", points: [lo, hi].map((x) => [x, s.fit!.valIntercept + s.fit!.valSlope * x] as [number, number]) },
      ];
      if (base) series.push({ name: "baseline held-out", points: [lo, hi].map((x) => [x, base.valLoss] as [number, number]) });
      blocks.push({ kind: "chart", name: "text-fit", spec: lineChartSpec({ title: "Loss against log10 m", series, xLabel: "log10 m", yLabel: "nats/byte", points: true }) });
    }
    blocks.push({ kind: "chart", name: "text-val-loss", spec: lineChartSpec({ title: "Held-out loss per arm", series: armCurves(run, "text", s.textArms, "valLoss"), xLabel: "step", yLabel: "nats/byte", points: true }) });
    blocks.push({ kind: "chart", name: "text-train-loss", spec: lineChartSpec({ title: "Next-token training loss (moving average of 20)", series: armCurves(run, "text", s.textArms, "nextTokenLoss").map((x) => ({ ...x, points: smooth(x.points) })), xLabel: "step", yLabel: "nats/byte" }) });
    sections.push({ heading: "(B) m-sweep", blocks });
  }

  sections.push({
    heading: "Paper numbers",
    blocks: [
      { kind: "table", caption: "Table 1 (training loss, 500B tokens)", headers: ["model", "baseline", "+OE-12.8M"], rows: PAPER.table1.map((r) => [r.model, r.baseline, r.oe]) },
      { kind: "table", caption: "Table 2 (OLMoE-1.3B, training loss)", headers: ["row", "loss"], rows: PAPER.table2.map((r) => [r.row, r.loss]) },
      { kind: "table", caption: "Table 5 (OLMoE-1.3B)", headers: ["baseline", "OE-12.8M", "OT-12.8M"], rows: [[PAPER.table5.baseline, PAPER.table5.oe, PAPER.table5.ot]] },
      { kind: "text", text: `Fig. 5: L = ${PAPER.fig5.intercept} − ${Math.abs(PAPER.fig5.slope)}·log10 m (${PAPER.fig5.setting}). Table 6 throughput: ${PAPER.table6.olmoe13b}% and ${PAPER.table6.olmoe7b}%.` },
    ],
  });

  const doc: ReportDoc = { title: "Over-Tokenized Transformer (arXiv 2501.16975): our reproduction", subtitle: head, sections };
  await writeReport(doc, run.dir);
  writeFileSync(run.path("results.md"), results.join("\n") + "\n");
}
