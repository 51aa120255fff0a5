/**
 * Report, results table and verdicts of the guidance-free experiment. The verdict rules are fixed here, before
 * any run, and applied mechanically to the measured numbers:
 * - 2-D "GFT at β = 1/w samples like CFG at w": ratio R = Σ_{w>1} MMD²(GFT@1/w, CFG@w) / Σ_{w>1} MMD²(cond, CFG@w)
 *   (how far GFT is from CFG, relative to how far guidance moves the samples). R ≤ 0.25 reproduced, ≤ 0.5 partly;
 *   inconclusive when guidance moves the samples by less than 3× the seed-to-seed floor Σ MMD²(CFG@w, CFG@w 2nd seed).
 * - Digits / AR "GFT matches CFG": best Fréchet distance over w within 20 % of CFG's (FD_GFT ≤ 1.2·FD_CFG), and the
 *   accuracy-vs-w curves within 5 points on average. Both: reproduced; one: partly; none: not reproduced.
 * - "Half the network evaluations": NFE ratio GFT/CFG at w > 1 (exactly 0.5 by construction) and the measured
 *   wall-time ratio per sample.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../util/atomic.js";
import { lineChartSpec, type Series } from "../../report/charts.js";
import { fmt, writeReport, type Block, type Section } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import type { GuidanceFreeConfig } from "./config.js";
import type { SampleRow, TrainArmSummary, Family } from "./experiment.js";

type Verdict = "reproduced" | "partly" | "not reproduced" | "inconclusive";
type EvalOut = { rows: SampleRow[]; floor?: Record<string, number>; perClass: number };
type Part = { arms: Record<string, TrainArmSummary>; classifier?: TrainArmSummary; eval: EvalOut };
type Parts = { mixture?: Part; digits?: Part; ar?: Part };

export type ClaimResult = { claim: string; paper: string; ours: string; verdict: Verdict };
export type GuidanceFreeSummary = {
  wallSeconds: number;
  preset: string;
  claims: ClaimResult[];
  mixture?: { ratioScratch: number; ratioFinetune: number | null; floorRatio: number; nfeRatio: number; timeRatio: number; rows: SampleRow[] };
  digits?: { bestFD: Record<string, number>; condFD: number; realFD: number; classifierValAccuracy: number; nfeRatio: number; timeRatio: number; rows: SampleRow[] };
  ar?: { bestFD: Record<string, number>; condFD: number; realFD: number; classifierValAccuracy: number; nfeRatio: number; timeRatio: number; rows: SampleRow[] };
  trainStepRatio: Record<string, number>;
  [k: string]: unknown;
};

// Paper numbers (arXiv 2501.15420 v1, Tables 2 and 4; FID-50K on ImageNet 256×256).
const PAPER_TABLE2: [string, number, number, number][] = [
  ["DiT-XL/2 (fine-tuned)", 9.34, 2.11, 1.99],
  ["LlamaGen-3B (fine-tuned)", 9.44, 2.22, 2.21],
  ["VAR-d30 (fine-tuned)", 5.26, 1.92, 1.91],
  ["MAR-B (fine-tuned)", 4.17, 2.27, 2.39],
];
const PAPER_TABLE4: [string, number, number, number, number][] = [
  ["DiT-B/2", 44.8, 9.72, 10.9, 9.04],
  ["MAR-B", 4.17, 2.27, 2.39, 2.27],
  ["LlamaGen-L", 19.0, 3.06, 2.88, 2.52],
  ["VAR-d16", 11.97, 3.36, 3.28, 3.42],
];

const FAMILIES: Family[] = ["CFG", "GFT scratch", "GFT fine-tuned"];

function mdTable(headers: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => (typeof v === "number" ? fmt(v) : v).replace(/\|/g, "\\|");
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)].join("\n");
}

const byFamily = (rows: SampleRow[], f: Family) => rows.filter((r) => r.family === f).sort((a, b) => a.w - b.w);

function timeRatio(rows: SampleRow[]): number {
  const g = rows.filter((r) => r.family === "GFT scratch" && r.w > 1);
  const c = rows.filter((r) => r.family === "CFG" && r.w > 1);
  const mean = (xs: SampleRow[]) => xs.reduce((s, r) => s + r.msPerSample, 0) / Math.max(xs.length, 1);
  return mean(g) / mean(c);
}

function nfeRatio(rows: SampleRow[]): number {
  const g = rows.find((r) => r.family === "GFT scratch" && r.w > 1);
  const c = rows.find((r) => r.family === "CFG" && r.w > 1);
  return g && c ? g.nfe / c.nfe : NaN;
}

function imageVerdict(rows: SampleRow[], fam: Family): { verdict: Verdict; best: number; bestCFG: number; accGap: number } {
  const best = (f: Family) => Math.min(...byFamily(rows, f).map((r) => r.fd as number));
  const cfg = byFamily(rows, "CFG");
  const g = byFamily(rows, fam);
  let gap = 0;
  for (const r of g) gap += Math.abs(r.accuracy - (cfg.find((c) => c.w === r.w)?.accuracy ?? NaN));
  gap /= Math.max(g.length, 1);
  const okFD = best(fam) <= 1.2 * best("CFG");
  const okAcc = gap <= 0.05;
  return { verdict: okFD && okAcc ? "reproduced" : okFD || okAcc ? "partly" : "not reproduced", best: best(fam), bestCFG: best("CFG"), accGap: gap };
}

function mixtureSums(rows: SampleRow[], fam: Family): { num: number; den: number } {
  let num = 0;
  let den = 0;
  for (const r of rows) {
    if (r.family !== fam || r.w <= 1) continue;
    num += r.mmdToCFG as number;
    den += r.mmdCondToCFG as number;
  }
  return { num, den };
}

function mixtureRatio(rows: SampleRow[], fam: Family): number {
  const { num, den } = mixtureSums(rows, fam);
  return num / den;
}

function ratioVerdict(rows: SampleRow[], fam: Family): Verdict {
  const { den } = mixtureSums(rows, fam);
  const floor = mixtureSums(rows, "CFG (2nd seed)").num;
  if (!(den > 3 * Math.max(floor, 0))) return "inconclusive";
  const r = mixtureRatio(rows, fam);
  return r <= 0.25 ? "reproduced" : r <= 0.5 ? "partly" : "not reproduced";
}

/** Loss curves of a part's training arms. */
function lossChart(run: RunDir, names: string[], title: string): Block | null {
  const series: Series[] = [];
  for (const n of names) {
    const dir = run.path("arms", n);
    if (!existsSync(join(dir, "metrics.jsonl"))) continue;
    const rows = openRun(dir).metrics<{ step: number; loss: number }>();
    const stride = Math.max(1, Math.floor(rows.length / 200));
    series.push({ name: n, points: rows.filter((_, i) => i % stride === 0).map((r) => [r.step, r.loss]) });
  }
  return series.length ? { kind: "chart", name: title.replace(/[^A-Za-z0-9]+/g, "-"), spec: lineChartSpec({ title, series, xLabel: "step", yLabel: "training loss", logY: true }) } : null;
}

function curve(rows: SampleRow[], key: string, title: string, yLabel: string, fams: Family[] = FAMILIES): Block {
  const series = fams.map((f) => ({ name: f, points: byFamily(rows, f).map((r) => [r.w, r[key] as number] as [number, number]) })).filter((s) => s.points.length);
  return { kind: "chart", name: title.replace(/[^A-Za-z0-9]+/g, "-"), spec: lineChartSpec({ title, series, xLabel: "guidance scale w (GFT: β = 1/w)", yLabel, points: true }) };
}

function qualityDiversity(rows: SampleRow[], title: string): Block {
  const series = FAMILIES.map((f) => ({ name: f, points: byFamily(rows, f).map((r) => [r.accuracy, r.fd as number] as [number, number]) })).filter((s) => s.points.length);
  return { kind: "chart", name: title.replace(/[^A-Za-z0-9]+/g, "-"), spec: lineChartSpec({ title, series, xLabel: "classifier accuracy of samples (IS analogue)", yLabel: "Fréchet distance (FID substitute)", points: true }) };
}

function samplePNGs(run: RunDir, arm: string): Block[] {
  const dir = run.path("arms", arm, "samples");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".png"))
    .sort()
    .map((f) => ({ kind: "image" as const, name: `${arm}-${f.replace(/\.png$/, "")}`, png: readFileSync(join(dir, f)), caption: f }));
}

const mixtureHeaders = ["sampler", "w", "β", "NFE", "ms/sample", "Bayes acc.", "precision", "recall", "MMD² to CFG@w", "MMD² to tilted p_w"];
const mixtureRow = (r: SampleRow): (string | number)[] => [r.family, r.w, r.beta === null ? "-" : r.beta, r.nfe, r.msPerSample, r.accuracy, r.precision, r.recall, r.family === "CFG" ? "-" : (r.mmdToCFG as number), r.mmdToTilted as number];
const imageHeaders = ["sampler", "w", "β", "NFE", "ms/sample", "FD (FID subst.)", "accuracy", "confidence", "precision", "recall"];
const imageRow = (r: SampleRow): (string | number)[] => [r.family, r.w, r.beta === null ? "-" : r.beta, r.nfe, r.msPerSample, r.fd as number, r.accuracy, r.confidence, r.precision, r.recall];

/** Build summary, report.html/report.md and results.md in the run directory. */
export async function buildReport(run: RunDir, cfg: GuidanceFreeConfig, parts: Parts, wallSeconds: number): Promise<GuidanceFreeSummary> {
  const meta = run.meta();
  const preset = String(meta.preset ?? "custom");
  const claims: ClaimResult[] = [];
  const sections: Section[] = [];
  const md: string[] = [];
  const trainStepRatio: Record<string, number> = {};
  const summary: GuidanceFreeSummary = { wallSeconds, preset, claims, trainStepRatio };

  md.push(`Measured by \`tinyfoundry run guidance-free --preset ${preset}\` (seed ${cfg.seed}) on ${machineLine(meta)}; experiment wall time ${fmt(wallSeconds, 1)} s.`, "");

  for (const [key, p] of Object.entries(parts) as [keyof Parts, Part][]) {
    if (p.arms.cfg && p.arms.gftScratch) trainStepRatio[key] = p.arms.gftScratch.msPerStep / p.arms.cfg.msPerStep;
  }

  if (parts.mixture) {
    const rows = parts.mixture.eval.rows;
    const rS = mixtureRatio(rows, "GFT scratch");
    const hasFt = rows.some((r) => r.family === "GFT fine-tuned");
    const rF = hasFt ? mixtureRatio(rows, "GFT fine-tuned") : null;
    const floor = mixtureRatio(rows, "CFG (2nd seed)");
    summary.mixture = { ratioScratch: rS, ratioFinetune: rF, floorRatio: floor, nfeRatio: nfeRatio(rows), timeRatio: timeRatio(rows), rows };
    claims.push({
      claim: "2-D: GFT (from scratch) at β = 1/w samples like CFG at w",
      paper: "same sampling distribution as CFG (Theorem 1)",
      ours: `R = ΣMMD²(GFT,CFG)/ΣMMD²(cond,CFG) = ${fmt(rS, 3)} (seed-to-seed floor ${fmt(floor, 3)})`,
      verdict: ratioVerdict(rows, "GFT scratch"),
    });
    if (rF !== null) {
      const ft = parts.mixture.arms.gftFinetune;
      claims.push({
        claim: `2-D: GFT fine-tuned from CFG for ${ft?.steps ?? "?"} steps (${fmt((100 * (ft?.steps ?? 0)) / cfg.mixture.train.steps, 1)} % of pre-training) matches CFG`,
        paper: "fine-tuning needs ~1-5 % of pre-training",
        ours: `R = ${fmt(rF, 3)}`,
        verdict: ratioVerdict(rows, "GFT fine-tuned"),
      });
    }
    const calib = cfg.mixture.sample.guidance
      .filter((w) => w > 1)
      .map((w) => {
        const at = (f: Family) => rows.find((r) => r.family === f && r.w === w);
        return [w, at("GFT scratch")?.mmdCondToCFG as number, at("CFG (2nd seed)")?.mmdToCFG as number, at("GFT scratch")?.mmdToCFG as number, hasFt ? (at("GFT fine-tuned")?.mmdToCFG as number) : "-"] as (string | number)[];
      });
    const calibHeaders = ["w", "MMD²(no guidance, CFG@w)", "MMD²(CFG@w 2nd seed, CFG@w)", "MMD²(GFT scratch @1/w, CFG@w)", "MMD²(GFT fine-tuned @1/w, CFG@w)"];
    md.push("### 2-D Gaussian mixtures", "", `${cfg.mixture.data.classes} classes × ${cfg.mixture.data.componentsPerClass} components on a ring; ${cfg.mixture.sample.perClass} samples per class per sampler, DDIM ${cfg.mixture.sample.ddimSteps} steps; MMD² averaged over classes.`, "");
    md.push(mdTable(calibHeaders, calib), "", mdTable(mixtureHeaders, rows.map(mixtureRow)), "");
    const blocks: Block[] = [
      { kind: "text", text: `Primary test (spec §2.7): distance between GFT at β = 1/w and CFG at w, next to how far guidance moves the samples (no guidance vs CFG@w) and the seed-to-seed floor (two independent CFG sample sets). R(GFT scratch) = ${fmt(rS, 3)}, R(GFT fine-tuned) = ${rF === null ? "-" : fmt(rF, 3)}, floor ${fmt(floor, 3)}.` },
      { kind: "table", headers: calibHeaders, rows: calib },
      { kind: "table", headers: mixtureHeaders, rows: rows.map(mixtureRow) },
      curve(rows, "accuracy", "2-D: Bayes-classifier accuracy of samples", "accuracy"),
      curve(rows, "mmdToCFG", "2-D: MMD² to CFG at the same w", "MMD²", ["GFT scratch", "GFT fine-tuned", "CFG (2nd seed)"]),
      curve(rows, "precision", "2-D: precision", "precision"),
      curve(rows, "recall", "2-D: recall", "recall"),
      ...samplePNGs(run, "mixture-eval"),
    ];
    const lc = lossChart(run, ["mixture-cfg", "mixture-gft-scratch", "mixture-gft-finetune"], "2-D: training loss");
    if (lc) blocks.push(lc);
    sections.push({ heading: "2-D Gaussian mixtures", blocks });
  }

  const imagePart = (key: "digits" | "ar", p: Part, title: string, desc: string) => {
    const rows = p.eval.rows;
    const floorFD = (p.eval.floor?.fd as number) ?? NaN;
    const vs = imageVerdict(rows, "GFT scratch");
    const hasFt = rows.some((r) => r.family === "GFT fine-tuned");
    const vf = hasFt ? imageVerdict(rows, "GFT fine-tuned") : null;
    const cond = rows.find((r) => r.family === "CFG" && r.w === 1);
    const bestFD: Record<string, number> = { CFG: vs.bestCFG, "GFT scratch": vs.best };
    if (vf) bestFD["GFT fine-tuned"] = vf.best;
    summary[key] = { bestFD, condFD: cond?.fd as number, realFD: floorFD, classifierValAccuracy: (p.classifier?.valAccuracy as number) ?? NaN, nfeRatio: nfeRatio(rows), timeRatio: timeRatio(rows), rows };
    claims.push({
      claim: `${title}: GFT from scratch at β = 1/w matches CFG at w`,
      paper: key === "ar" ? "LlamaGen-L: GFT 2.52 vs CFG 3.06 FID" : "DiT-B/2: GFT 9.04 vs CFG 9.72 FID",
      ours: `best FD ${fmt(vs.best, 3)} vs CFG ${fmt(vs.bestCFG, 3)}; mean |Δ accuracy| ${fmt(vs.accGap, 3)}`,
      verdict: vs.verdict,
    });
    if (vf) {
      claims.push({
        claim: `${title}: GFT fine-tuned from CFG matches CFG`,
        paper: key === "ar" ? "LlamaGen-3B: 2.21 vs 2.22" : "DiT-XL/2: 1.99 vs 2.11",
        ours: `best FD ${fmt(vf.best, 3)} vs CFG ${fmt(vf.bestCFG, 3)}; mean |Δ accuracy| ${fmt(vf.accGap, 3)}`,
        verdict: vf.verdict,
      });
    }
    const ours: (string | number)[][] = [["ours: " + desc, cond?.fd as number, vs.bestCFG, vf ? vf.best : "-", vs.best]];
    md.push(`### ${title}`, "", `${desc}. Real-vs-real FD floor (train subset vs validation) ${fmt(floorFD, 3)}; classifier validation accuracy ${fmt((p.classifier?.valAccuracy as number) ?? NaN, 3)}. FD is a Fréchet distance in the features of our small MLP classifier (an FID substitute, not comparable to FID values).`, "");
    md.push(mdTable(imageHeaders, rows.map(imageRow)), "");
    md.push(mdTable(["model", "no guidance", "CFG (best w)", "GFT fine-tuned (best β)", "GFT scratch (best β)"], ours), "");
    const blocks: Block[] = [
      { kind: "text", text: `${desc}. Real-vs-real FD floor ${fmt(floorFD, 3)}; classifier validation accuracy ${fmt((p.classifier?.valAccuracy as number) ?? NaN, 3)}.` },
      { kind: "table", headers: imageHeaders, rows: rows.map(imageRow) },
      qualityDiversity(rows, `${title}: FD vs accuracy (quality-diversity)`),
      curve(rows, "fd", `${title}: FD vs guidance`, "FD"),
      curve(rows, "accuracy", `${title}: accuracy vs guidance`, "accuracy"),
      ...samplePNGs(run, `${key}-eval`),
    ];
    const lc = lossChart(run, [`${key}-cfg`, `${key}-gft-scratch`, `${key}-gft-finetune`], `${title}: training loss`);
    if (lc) blocks.push(lc);
    sections.push({ heading: title, blocks });
  };
  if (parts.digits) imagePart("digits", parts.digits, "Digits, diffusion", `${cfg.digits.side}×${cfg.digits.side} MNIST digits, classes ${cfg.digits.classes.join(",")}, residual-MLP denoiser (${cfg.digits.model.depth} blocks × ${cfg.digits.model.hidden}), DDIM ${cfg.digits.sample.ddimSteps} steps, ${cfg.digits.sample.perClass} samples per class`);
  if (parts.ar) imagePart("ar", parts.ar, "Digits, autoregressive", `${cfg.ar.side}×${cfg.ar.side} digits at ${cfg.ar.levels} grey levels (${cfg.ar.side ** 2} tokens), classes ${cfg.ar.classes.join(",")}, ${cfg.ar.model.nLayers}-layer d=${cfg.ar.model.dModel} transformer, temperature 1, ${cfg.ar.sample.perClass} samples per class`);

  // Cost claims.
  const costRows: (string | number)[][] = [];
  for (const [key, s] of [["2-D", summary.mixture], ["digits", summary.digits], ["AR", summary.ar]] as const) {
    if (!s) continue;
    costRows.push([key, s.nfeRatio, s.timeRatio, trainStepRatio[key === "2-D" ? "mixture" : key === "AR" ? "ar" : "digits"] ?? NaN]);
  }
  if (costRows.length) {
    const nfeOK = costRows.every((r) => Math.abs((r[1] as number) - 0.5) < 1e-9);
    const tr = costRows.map((r) => r[2] as number);
    claims.push({
      claim: "Sampling with GFT halves the network evaluations of CFG",
      paper: "1 vs 2 NFE per step (50 % saving)",
      ours: `NFE ratio ${costRows.map((r) => fmt(r[1] as number, 2)).join(" / ")}; wall-time ratio per sample ${tr.map((t) => fmt(t, 2)).join(" / ")}`,
      verdict: nfeOK && tr.every((t) => t < 0.75) ? "reproduced" : nfeOK ? "partly" : "not reproduced",
    });
  }

  const claimTable = mdTable(["claim", "paper", "ours", "verdict"], claims.map((c) => [c.claim, c.paper, c.ours, c.verdict]));
  const costHeaders = ["part", "NFE ratio GFT/CFG (w > 1)", "time per sample GFT/CFG", "train step time GFT/CFG"];
  const paper2 = mdTable(["paper Table 2 (ImageNet 256, FID-50K)", "w/o guidance", "w/ CFG", "GFT w/o guidance"], PAPER_TABLE2);
  const paper4 = mdTable(["paper Table 4 (FID)", "base w/o guidance", "+CFG", "+GFT fine-tuned", "GFT from scratch"], PAPER_TABLE4);
  const results = [
    `**Preset \`${preset}\`**, seed ${cfg.seed}. Machine: ${machineLine(meta)}. Wall time ${fmt(wallSeconds, 1)} s.`,
    "",
    claimTable,
    "",
    mdTable(costHeaders, costRows),
    "",
    ...md,
    "Paper numbers for comparison (arXiv 2501.15420 v1):",
    "",
    paper2,
    "",
    paper4,
    "",
  ].join("\n");
  writeFileAtomic(run.path("results.md"), results + "\n");

  sections.unshift(
    { heading: "Claims and verdicts", blocks: [{ kind: "table", headers: ["claim", "paper", "ours", "verdict"], rows: claims.map((c) => [c.claim, c.paper, c.ours, c.verdict]) }, { kind: "table", headers: costHeaders, rows: costRows }] },
    {
      heading: "Paper tables",
      blocks: [
        { kind: "table", headers: ["Table 2 (ImageNet 256, FID-50K)", "w/o guidance", "w/ CFG", "GFT w/o guidance"], rows: PAPER_TABLE2 },
        { kind: "table", headers: ["Table 4 (FID)", "base w/o guidance", "+CFG", "+GFT fine-tuned", "GFT from scratch"], rows: PAPER_TABLE4 },
      ],
    },
  );
  await writeReport(
    { title: "Guidance-free training (arXiv 2501.15420): GFT vs CFG at small scale", subtitle: `Preset ${preset}, seed ${cfg.seed}. Machine: ${machineLine(meta)}. Wall time ${fmt(wallSeconds, 1)} s.`, sections },
    run.dir,
  );
  run.writeSummary(summary as unknown as Record<string, unknown>);
  return summary;
}
