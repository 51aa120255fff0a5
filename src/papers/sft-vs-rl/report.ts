/**
 * The report of an `sft-vs-rl` run ("SFT Memorizes, RL Generalizes", arXiv 2501.17161): results.md (`results.ts`)
 * and report.html / report.md with the verdicts, success against each branch's FLOPs (the paper's Figs. 5-7), the
 * checkpoints and sample transcripts the arms wrote. Reads the summary, the verdicts and the arms' sample files;
 * computes nothing heavy. The runner calls it after the claims are judged.
 */
import { existsSync, readFileSync } from "node:fs";
import { lineChartSpec } from "../../report/charts.js";
import { writeReport, type Block, type ReportDoc, type Section } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { verdictBlocks } from "../../report/verdicts.js";
import type { VerdictsFile } from "../../train/claims.js";
import { presetOf } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { resultsMarkdown } from "./results.js";
import { sftCurve, type EvalPoint, type SftVsRlSummary, type TaskSummary } from "./summary.js";
import { splitKey } from "./tasks.js";

const pct = (x: number | undefined) => (100 * Number(x)).toFixed(1);
const pm = (p: number | undefined, se: number | undefined) => `${pct(p)} ± ${pct(se)}`;

/** Charts, checkpoint table and sample transcripts of one task run. */
function taskSections(run: RunDir, t: TaskSummary): Section[] {
  const vl = t.env === "general-points-vl";
  const gp = t.env === "general-points" || vl;
  const pre = vl ? "GP-VL: " : "";
  const { key: k, seKey: se } = t.metric;
  const charts: Block[] = t.splits.map((split) => {
    const kk = splitKey(split);
    const splitName = split === "id" ? "in-distribution" : split === "ood" ? "rule OOD" : "visual OOD";
    const series = (name: string, pts: EvalPoint[]) => ({ name, points: pts.map((p) => [p.flops, p.row[`${kk}${k}`]] as [number, number]) });
    return {
      kind: "chart",
      name: gp ? `${vl ? "vl-" : ""}success-vs-flops-${split}` : `navigation-per-step-vs-flops-${split}`,
      caption: `${gp ? pre : "Navigation: "}${splitName} ${t.metric.name} vs the branch's own FLOPs (0 = the SFT init; paper Figs. 5-${vl ? 7 : 6}); error bars in the table`,
      spec: lineChartSpec({ title: `${t.label} ${splitName} ${gp ? "success" : t.metric.name}`, series: [series("RL (PPO)", t.ppo.points), series("SFT", t.sft.points)], xLabel: "FLOPs of the branch", yLabel: t.metric.name, points: true }),
    };
  });
  // The SFT curve: success along SFT steps from the stage-0 model on (the init's own evaluations, its final row, then
  // the SFT branch's checkpoints), where OOD tends to peak early (issue 24).
  const pts = gp && !vl ? sftCurve(t) : [];
  if (pts.length > 0 && t.init.steps !== undefined) {
    const s0 = t.init.steps;
    const line = (split: string, name: string) => ({ name, points: pts.map((p) => [p.step, p.row[`${split}${k}`]] as [number, number]) });
    charts.push({
      kind: "chart",
      name: "success-vs-sft-steps",
      caption: `ID and rule-OOD success along SFT steps from the stage-0 model (the init ends at step ${s0}, then the SFT branch; episodes per split: ${pts.map((p) => `${p.step}: ${p.episodes}`).join(", ")}). OOD rule-following on face cards: ${pts.map((p) => `${p.step}: ${pct(p.row.oodPromptRule)} %`).join(", ")}`,
      spec: lineChartSpec({ title: `${t.label}: success along SFT steps`, series: [line("id", "ID"), line("ood", "rule OOD")], xLabel: "SFT steps from the stage-0 model", yLabel: "success rate", points: true }),
    });
  }
  const tr = t.trainingRuleKey;
  // KL to the init: at the PPO rollout temperature (`idKLRoll`); runs before it logged `idKL`, a Monte Carlo term at the
  // evaluation temperature that saturated (the same at every checkpoint), shown under its own header.
  const klRows = [...t.ppo.points, ...t.sft.points].map((p) => p.row);
  const klT = klRows.find((r) => typeof r.idKLTemperature === "number")?.idKLTemperature;
  const klKey = klT !== undefined ? "idKLRoll" : "idKL";
  const klHeader = klT !== undefined ? `KL to the init on ID prompts, answers at T ${klT} (nats)` : "KL to the init on ID prompts, Monte Carlo at the evaluation temperature (nats; saturated)";
  const headers = gp
    ? ["branch", "FLOPs of the branch", "ID success %", "OOD success %", "OOD answers on training rule %", "OOD answers on the prompt's rule %", klHeader]
    : ["branch", "FLOPs of the branch", "ID per-step accuracy %", "OOD per-step accuracy %", "OOD first turns in the absolute space %"];
  const vlCols = (p: EvalPoint) => (vl ? [pm(p.row.visSuccess, p.row.visStdErr), pct(p.row.idRecognition), pct(p.row.visRecognition)] : []);
  const gpCols = (p: EvalPoint) => (gp ? [pct(p.row.oodPromptRule), p.step === 0 ? "0" : p.row[klKey] === undefined ? "" : p.row[klKey].toFixed(3)] : []);
  const rows = (pts: EvalPoint[], name: string) => pts.map((p) => [name, p.flops.toExponential(2), pm(p.row[`id${k}`], p.row[`id${se}`]), pm(p.row[`ood${k}`], p.row[`ood${se}`]), pct(p.row[tr]), ...gpCols(p), ...vlCols(p)]);
  const hdr = vl ? [...headers, "visual-OOD success %", "ID card recognition %", "visual-OOD card recognition %"] : headers;
  const samples: Block[] = [];
  for (const [arm, prefix] of [[t.arms.init, "init"], [t.arms.ppo, "final"], [t.arms.sft, "final"]] as const) {
    for (const split of t.splits) {
      const f = run.path("arms", arm, "samples", `${prefix}-${split}-0.txt`);
      if (existsSync(f)) samples.push({ kind: "code", caption: `${arm}, ${split}`, text: readFileSync(f, "utf8").slice(0, 3000) });
    }
  }
  return [
    { heading: gp ? `${pre}Success along compute` : "Navigation: per-step accuracy along compute", blocks: charts },
    { heading: gp ? `${pre}Checkpoints` : "Navigation checkpoints", blocks: [{ kind: "table", headers: hdr, rows: [...rows(t.ppo.points, "RL"), ...rows(t.sft.points, "SFT")] }] },
    { heading: gp ? `${pre}Sample transcripts` : "Navigation sample transcripts", blocks: samples },
  ];
}

/** The report document of a run. */
export function buildReport(run: RunDir, s: SftVsRlSummary, verdicts: VerdictsFile, results: string): ReportDoc {
  const sections: Section[] = [
    { heading: "Verdicts", blocks: verdictBlocks(verdicts) },
    { heading: "Results", blocks: [{ kind: "code", text: results, caption: "results.md" }] },
  ];
  for (const t of s.tasks) sections.push(...taskSections(run, t));
  const probes = run.path("arms", "stage0", "samples", "probes.txt");
  if (existsSync(probes)) sections.push({ heading: "Stage-0 probes", blocks: [{ kind: "code", caption: "greedy completions (first examples)", text: readFileSync(probes, "utf8") }] });
  sections.push({ heading: "Machine", blocks: [{ kind: "text", text: machineLine(run.meta()) }] });
  return { title: "SFT Memorizes, RL Generalizes (arXiv 2501.17161) at CPU scale", subtitle: `run ${run.dir}`, sections };
}

/** Write results.md, report.html and report.md of a run (the runner calls it; also usable on a finished run). */
export async function writeSftVsRlReport(run: RunDir, summary: SftVsRlSummary, verdicts: VerdictsFile): Promise<void> {
  const results = resultsMarkdown(summary, verdicts, { preset: presetOf(run), machine: machineLine(run.meta()) });
  writeFileAtomic(run.path("results.md"), results);
  await writeReport(buildReport(run, summary, verdicts, results), run.dir);
}
