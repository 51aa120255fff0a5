/**
 * The over-tokenized experiment's report: one comparison document (report.html / report.md) with
 * the verdicts, loss curves of every arm, the log10 m fit, our tables beside the paper's numbers,
 * and `results.md` (the block the README shows). It reads the summary and verdicts the runner
 * hands it (and the arms' metrics for the curves); it computes nothing heavy.
 */
import { writeFileSync } from "node:fs";
import { lineChartSpec } from "../../report/charts.js";
import { fmt, writeReport, type Block, type ReportDoc } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { verdictBlocks, verdictTableMarkdown } from "../../report/verdicts.js";
import type { VerdictsFile } from "../../train/claims.js";
import { binomialSE } from "../../train/stats.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import type { OverTokenizedExperimentConfig } from "./config.js";
import { PAPER, pairedDiff, sweepArms, type ArmResult, type OverTokenizedSummary, type TrivialBaselines } from "./summary.js";


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

/** "−0.0901 ± 0.0050" (paired over held-out crops, same seed and model size), or "-" without that baseline. */
function deltaText(arms: ArmResult[], a: ArmResult): string {
  const base = arms.find((b) => b.role === "baseline" && b.seed === a.seed && b.lmParams === a.lmParams);
  if (!base || base === a) return "-";
  const d = pairedDiff(base, a);
  return Number.isFinite(d.se) ? `${d.diff.toFixed(4)} ± ${d.se.toFixed(4)}` : d.diff.toFixed(4);
}

function accuracyText(a: ArmResult): string {
  if (!(a.completionAccuracy >= 0) || !(a.completionN > 0)) return "-";
  return `${a.completionAccuracy.toFixed(3)} ± ${binomialSE(Math.round(a.completionAccuracy * a.completionN), a.completionN).toFixed(3)} (n = ${a.completionN})`;
}

const HEAD_LABEL: Record<string, string> = { joint: "joint 3-gram output (OD)", factorised: "factorised next-2-token heads (MTP approximation, not OD)" };

/** Fraction of the gap from the bigram loss down to the entropy floor that a held-out loss closes. */
function gapClosed(loss: number, bigram?: number, floor?: number): string {
  return bigram !== undefined && floor !== undefined && bigram > floor && Number.isFinite(loss) ? ((bigram - loss) / (bigram - floor)).toFixed(3) : "-";
}

export function cfgRows(arms: ArmResult[], floor?: number, bigram?: number): (string | number)[][] {
  return arms.map((a) => [
    a.arm,
    a.odHead ? HEAD_LABEL[a.odHead] : a.role,
    a.seed,
    a.lmParams,
    a.oeTableParams + a.otherParams,
    a.finalTrainLoss,
    a.valLoss,
    floor !== undefined && Number.isFinite(a.valLoss) ? (a.valLoss - floor).toFixed(4) : "-",
    gapClosed(a.valLoss, bigram, floor),
    deltaText(arms, a),
    accuracyText(a),
  ]);
}
const cfgHeaders = ["arm", "what", "seed", "LM params", "extra params", "train loss (last 10%)", "held-out loss", "held-out − entropy floor", "bigram-to-floor gap closed", "Δ vs baseline ± SE", "completion accuracy ± SE"];

export function textRows(arms: ArmResult[]): (string | number)[][] {
  return arms.map((a) => {
    const base = arms.find((b) => b.role === "baseline" && b.seed === a.seed);
    return [a.arm, a.seed, a.m, a.oeTableParams, a.finalTrainLoss, a.valLoss, deltaText(arms, a), Math.round(a.tokensPerSec), base ? `${(100 * (a.tokensPerSec / base.tokensPerSec - 1)).toFixed(1)}%` : "-"];
  });
}
const textHeaders = ["arm", "seed", "m", "OE table params", "train loss (last 10%)", "held-out loss (nats/byte)", "Δ vs baseline ± SE", "tokens/s", "tokens/s vs baseline"];

const baselinesText = (b: TrivialBaselines | null, what: string, unit: string) => {
  if (!b) return "";
  const bigram = typeof b.bigram === "number" ? `, bigram ${b.bigram.toFixed(4)}` : "";
  const f = b.entropyFloor;
  const floor = f ? ` The grammar's entropy floor (sentences from nonterminal ${f.root}, mean ${f.meanLength.toFixed(1)} terminals; H(S)/(E|S| + 2), exact sentence probabilities, Monte Carlo over ${f.samples} sentences): ${f.perToken.toFixed(4)} ± ${f.se.toFixed(4)} ${unit}; a model whose 64-token window starts mid-sentence cannot reach it.` : "";
  return `Trivial baselines on the held-out split: uniform over ${what} ${b.uniform.toFixed(4)}, unigram ${b.unigram.toFixed(4)}${bigram} ${unit} (add-one frequencies of the training split).${floor}`;
};

/** Write report.html, report.md and results.md into the run directory. */
export async function writeOverTokenizedReport(run: RunDir, s: OverTokenizedSummary, verdicts: VerdictsFile, c: OverTokenizedExperimentConfig): Promise<void> {
  const meta = run.meta();
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const trainSec = [...s.cfgArms, ...s.textArms].reduce((a, x) => a + x.trainSeconds, 0);
  const wall = typeof s.wallSeconds === "number" ? `Wall time ${s.wallSeconds.toFixed(0)} s over every invocation (${trainSec.toFixed(0)} s in training steps of the arms' last invocations).` : "";
  const head = `Preset **${preset}**, seed ${c.seed}, table update ${c.tableUpdate}. Machine: ${machineLine(meta)}. ${wall}`.trim();

  const results: string[] = [`### Measured results (written by the run, not by hand)`, "", head, "", verdictTableMarkdown(verdicts)];
  const sections: ReportDoc["sections"] = [{ heading: "Verdicts", blocks: [{ kind: "text", text: head.replace(/\*\*/g, "") }, ...verdictBlocks(verdicts)] }];

  if (s.cfgArms.length) {
    const size = (name: string, m: typeof c.cfg.model, t: typeof c.cfg.train) => {
      const p = s.cfgArms.find((a) => a.arm === (name ? `${name}-` : "") + c.cfg.arms[0]?.name)?.lmParams;
      return `GPT d=${m.dModel}, ${m.nLayers} layer${m.nLayers > 1 ? "s" : ""}, ${m.nHeads} heads, ${m.pos === "rope" ? "rotary" : "learned"} positions, context ${m.contextLength}${p ? ` (${p.toLocaleString("en-US")} LM params)` : ""}, ${t.steps} steps of batch ${t.batchSize} at lr ${t.lr}`;
    };
    const sizes = [size("", c.cfg.model, c.cfg.train), ...c.cfg.extraSizes.map((x) => `${size(x.name, x.model, x.train)} (arms "${x.name}-…")`)].join("; ");
    const setting = `cfg3f rooted at nonterminal ${c.cfg.root}, ${c.cfg.sentences} sentences (${Math.round(c.cfg.valFraction * 100)}% held out); ${sizes}; completion: last ${c.cfg.generation.cut} terminals of ${c.cfg.generation.prompts} held-out sentences sampled at temperature ${c.cfg.generation.temperature} from the next-token distribution (the OD arm's joint distribution marginalised), checked by the grammar's parser. The OD arm predicts the next 3-gram as one of 41 classes; a factorised next-2-token arm, where present, is App. C's MTP approximation and decides no claim.`;
    const rows = cfgRows(s.cfgArms, s.cfgBaselines?.entropyFloor?.perToken, s.cfgBaselines?.bigram);
    const triv = baselinesText(s.cfgBaselines, "the 3 terminals", "nats/token");
    const paper = "Paper (Fig. 2, curves only, no table): a 3-gram input improves generation accuracy for both the 2.4M and the 85M model; a 3-gram output helps the 85M model and hurts the 2.4M one.";
    results.push("", `#### (A) cfg3f: input vs output vocabulary (paper §3.1, Fig. 2)`, "", setting, "", md(cfgHeaders, rows), "", triv, "", paper);
    const blocks: Block[] = [
      { kind: "text", text: setting },
      { kind: "table", headers: cfgHeaders, rows },
      { kind: "text", text: triv },
      { kind: "chart", name: "cfg-val-loss", spec: lineChartSpec({ title: "cfg3f: held-out next-token loss", series: armCurves(run, "cfg", s.cfgArms, "valLoss"), xLabel: "step", yLabel: "nats/token", points: true }) },
      { kind: "chart", name: "cfg-train-loss", spec: lineChartSpec({ title: "cfg3f: next-token training loss (moving average of 20)", series: armCurves(run, "cfg", s.cfgArms, "nextTokenLoss").map((x) => ({ ...x, points: smooth(x.points) })), xLabel: "step", yLabel: "nats/token" }) },
    ];
    sections.push({ heading: "(A) cfg3f", blocks });
  }

  if (s.textArms.length) {
    const m = c.text.model;
    const setting = `Byte-level LM on ${c.text.file ?? c.text.corpus} (V = 256), d=${m.dModel}, ${m.nLayers} layers, ${m.nHeads} heads, context ${m.contextLength}, ${c.text.train.steps} steps of batch ${c.text.train.batchSize}; OE arms n = ${c.text.n}, k = ${c.text.k}, hash ${c.text.hash}.`;
    const rows = textRows(s.textArms);
    const f = s.fit;
    const fitText = f
      ? `Least-squares fit over the OE arms: held-out L = ${f.valIntercept.toFixed(4)} ${f.valSlope < 0 ? "−" : "+"} ${Math.abs(f.valSlope).toFixed(4)}·log10 m (slope SE ${Number.isFinite(f.valSlopeSE) ? f.valSlopeSE.toFixed(4) : "n/a"}, R² ${f.valR2.toFixed(3)}, ${f.points} points); training L = ${f.trainIntercept.toFixed(4)} ${f.trainSlope < 0 ? "−" : "+"} ${Math.abs(f.trainSlope).toFixed(4)}·log10 m (R² ${f.trainR2.toFixed(3)}). Paper (Fig. 5, ${PAPER.fig5.setting}): L = ${PAPER.fig5.intercept} − ${Math.abs(PAPER.fig5.slope)}·log10 m.`
      : "Fewer than two OE arms: no fit.";
    const purityHeaders = ["m", "hash", "distinct training n-grams", "rows hit (smallest over tables)", "distinct training n-grams per hit row (largest)"];
    const purityRows = s.hashPurity.map((h) => [h.m, h.hash ?? "mod", h.distinctNgrams ?? "-", `${(100 * h.rowsHitFraction).toFixed(1)}%`, Number.isFinite(h.ngramsPerHitRow) ? h.ngramsPerHitRow.toFixed(2) : "-"]);
    const t = s.throughput;
    const tp = !t
      ? ""
      : t.method === "interleaved"
        ? `Throughput, one process, ${t.steps ?? "?"} steps of each model interleaved: baseline ${Math.round(t.baselineTokensPerSec)} tokens/s; ${t.oe.map((x) => `OE m = ${x.m} ${Math.round(x.tokensPerSec)} tokens/s (${(100 * x.change).toFixed(1)}% by median step, ${typeof x.changeOfMin === "number" ? (100 * x.changeOfMin).toFixed(1) : "?"}% by fastest step)`).join(", ")}. Paper (Table 6): ${PAPER.table6.olmoe13b}% and ${PAPER.table6.olmoe7b}%.`
        : `Throughput (${t.method}): tokens/s of the OE arms against the baseline: ${t.oe.map((x) => `m = ${x.m} ${(100 * x.change).toFixed(1)}%`).join(", ")}. Arms trained one after another on a shared machine do not measure the paper's overhead.`;
    const triv = baselinesText(s.textBaselines, "256 bytes", "nats/byte");
    results.push("", `#### (B) m-sweep: loss against log10 m (paper §4.2, Fig. 5)`, "", setting, "", md(textHeaders, rows), "", triv, "", fitText, "", "Hash purity of the swept tables on the training bytes:", "", md(purityHeaders, purityRows), "", tp, "",
      "Paper, for scale: OLMoE-1.3B 2.554 → 2.472 with OE-12.8M (Table 1); 2-gram only: m = 3.2M 2.511, m = 12.8M 2.493 (Table 2); throughput −4.63% (1.3B) and −8.3% (7B) (Table 6).");
    const blocks: Block[] = [{ kind: "text", text: setting }, { kind: "table", headers: textHeaders, rows }, { kind: "text", text: triv }, { kind: "text", text: fitText }, { kind: "table", caption: "Hash purity", headers: purityHeaders, rows: purityRows }, { kind: "text", text: tp }];
    const sweep = sweepArms(s.textArms);
    if (sweep.length && f) {
      const xs = sweep.map((a) => Math.log10(a.m));
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      const base = s.textArms.find((a) => a.role === "baseline");
      const series = [
        { name: "held-out loss", points: sweep.map((a) => [Math.log10(a.m), a.valLoss] as [number, number]) },
        { name: "train loss", points: sweep.map((a) => [Math.log10(a.m), a.finalTrainLoss] as [number, number]) },
        { name: "fit (held-out)", points: [lo, hi].map((x) => [x, f.valIntercept + f.valSlope * x] as [number, number]) },
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

  const doc: ReportDoc = { title: "Over-Tokenized Transformer (arXiv 2501.16975): our reproduction", subtitle: head.replace(/\*\*/g, ""), sections };
  await writeReport(doc, run.dir);
  writeFileSync(run.path("results.md"), results.filter((x, i, a) => !(x === "" && a[i - 1] === "")).join("\n") + "\n");
}
