/**
 * The guidance-free report: report.html / report.md (verdicts, per-w comparisons, curves, sample PNGs) and
 * results.md (the README block: the verdict table beside the paper's numbers). Reads the summary and the
 * verdicts; the sample images were drawn by the experiment's eval arms.
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../util/atomic.js";
import { lineChartSpec, type Series } from "../../report/charts.js";
import { fmt, writeReport, type Block, type Section } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { verdictBlocks, verdictTableMarkdown } from "../../report/verdicts.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import type { VerdictsFile } from "../../train/claims.js";
import type { GuidanceFreeConfig } from "./config.js";
import { firstMatch, guidanceBenefit, matchByW, nfeRatios } from "./claims.js";
import { byFamily, meanOf, type Family, type GuidanceFreeSummary, type PartKey, type PartSummary, type SampleRow } from "./summary.js";

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
const PAPER2_HEADERS = ["paper Table 2 (ImageNet 256, FID-50K)", "w/o guidance", "w/ CFG", "GFT w/o guidance"];
const PAPER4_HEADERS = ["paper Table 4 (FID)", "base w/o guidance", "+CFG", "+GFT fine-tuned", "GFT from scratch"];

const FAMILIES: Family[] = ["CFG", "GFT scratch", "GFT fine-tuned"];
const TITLES: Record<PartKey, string> = { mixture: "2-D Gaussian mixtures", digits: "Digits, diffusion", ar: "Digits, autoregressive" };

function mdTable(headers: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => (typeof v === "number" ? fmt(v) : v).replace(/\|/g, "\\|");
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`)].join("\n");
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9]+/g, "-");

/** Loss curves of a family's training arms. */
function lossChart(run: RunDir, names: string[], title: string): Block | null {
  const series: Series[] = [];
  for (const n of names) {
    const dir = run.path("arms", n);
    if (!existsSync(join(dir, "metrics.jsonl"))) continue;
    const rows = openRun(dir).metrics<{ step: number; loss: number }>();
    const stride = Math.max(1, Math.floor(rows.length / 200));
    series.push({ name: n, points: rows.filter((_, i) => i % stride === 0).map((r) => [r.step, r.loss]) });
  }
  return series.length ? { kind: "chart", name: slug(title), spec: lineChartSpec({ title, series, xLabel: "step", yLabel: "training loss", logY: true }) } : null;
}

function curve(rows: SampleRow[], key: keyof SampleRow, title: string, yLabel: string, fams: Family[] = FAMILIES): Block {
  const series = fams.map((f) => ({ name: f, points: byFamily(rows, f).map((r) => [r.w, r[key] as number] as [number, number]) })).filter((s) => s.points.length);
  return { kind: "chart", name: slug(title), spec: lineChartSpec({ title, series, xLabel: "guidance scale w (GFT: β = 1/w)", yLabel, points: true }) };
}

function qualityDiversity(rows: SampleRow[], title: string): Block {
  const series = FAMILIES.map((f) => ({ name: f, points: byFamily(rows, f).map((r) => [r.accuracy, r.fd ?? NaN] as [number, number]) })).filter((s) => s.points.length);
  return { kind: "chart", name: slug(title), spec: lineChartSpec({ title, series, xLabel: "classifier accuracy of samples (IS analogue)", yLabel: "Fréchet distance (FID substitute)", points: true }) };
}

function samplePNGs(run: RunDir, arm: string): Block[] {
  const dir = run.path("arms", arm, "samples");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".png"))
    .sort()
    .map((f) => ({ kind: "image" as const, name: `${arm}-${f.replace(/\.png$/, "")}`, png: readFileSync(join(dir, f)), caption: f }));
}

const beta = (r: SampleRow) => (r.beta === null ? "-" : r.beta);
const mixtureHeaders = ["sampler", "train seed", "w", "β", "NFE", "ms/sample", "Bayes acc.", "precision", "recall", "MMD² to CFG@w (GFT: the CFG pair; CFG: the other CFG model)", "MMD² to tilted p_w"];
const mixtureRow = (r: SampleRow): (string | number)[] => [r.family, r.trainSeed, r.w, beta(r), r.nfe, r.msPerSample, r.accuracy, r.precision, r.recall, r.mmdToCFG ?? NaN, r.mmdToTilted ?? NaN];
const imageHeaders = ["sampler", "train seed", "w", "β", "NFE", "ms/sample", "FD (FID subst.)", "accuracy", "confidence", "precision", "recall"];
const imageRow = (r: SampleRow): (string | number)[] => [r.family, r.trainSeed, r.w, beta(r), r.nfe, r.msPerSample, r.fd ?? NaN, r.accuracy, r.confidence, r.precision, r.recall];

/** The per-w comparison behind the match and fine-tune claims. */
function matchTable(s: GuidanceFreeSummary, key: PartKey): { headers: string[]; rows: (string | number)[][] } {
  const unit = key === "mixture" ? "MMD²" : "|ΔFD|";
  const rows: (string | number)[][] = [];
  const resampled = (w: number) => s[key]?.eval.rows.find((r) => r.family === "CFG (resampled)" && r.w === w)?.mmdToCFG;
  for (const fam of ["GFT scratch", "GFT fine-tuned"] as const) {
    for (const m of matchByW(s, key, fam)) {
      const row: (string | number)[] = [fam, m.w, m.gap, m.floor ?? "- (one CFG model)", m.movement, m.decided ? (m.matched ? "within" : "beyond") : "not deciding"];
      if (key === "mixture") row.push(resampled(m.w) ?? "-");
      rows.push(row);
    }
  }
  const headers = ["GFT model", "w", `${unit} to the CFG pair at w`, `trained-CFG floor (${unit}, CFG seed to seed)`, `${unit} CFG@1 to CFG@w (guidance effect)`, "at this w"];
  if (key === "mixture") headers.push("MMD² CFG@w resampled (sampling noise only, not a floor)");
  return { headers, rows };
}

/** The functional test per w: the floor, each GFT model's distance and its ratio to the floor. */
function functionalTable(p: PartSummary): { headers: string[]; rows: (string | number)[][] } | null {
  const f = p.functional;
  if (!f) return null;
  const ratio = (g: number | undefined, fl: number) => (g === undefined ? "-" : fl > 0 ? g / fl : "-");
  const rows = f.rows.map((r) => [r.w, r.floor, r.gaps["GFT scratch"] ?? "-", ratio(r.gaps["GFT scratch"], r.floor), r.gaps["GFT fine-tuned"] ?? "-", ratio(r.gaps["GFT fine-tuned"], r.floor), r.movement, r.start]);
  return { headers: ["w", "floor (CFG seed to seed)", "GFT scratch", "÷ floor", "GFT fine-tuned (end)", "÷ floor", "CFG@1 to CFG@w (guidance effect)", "fine-tuning start"], rows };
}

/** The fine-tuning curve: distance ÷ floor at each w against the fraction of pre-training steps. */
function finetuneCurveBlocks(p: PartSummary, title: string): { md: string[]; blocks: Block[] } {
  const f = p.functional;
  const curve = f?.finetuneCurve;
  if (!f || !curve?.length) return { md: [], blocks: [] };
  const series: Series[] = f.rows.map((r, i) => ({ name: `w = ${r.w}`, points: curve.map((pt) => [100 * pt.fraction, r.floor > 0 ? pt.gaps[i] / r.floor : NaN] as [number, number]) }));
  const chart: Block = { kind: "chart", name: slug(`${title} fine-tuning curve`), spec: lineChartSpec({ title: `${title}: GFT fine-tuning, functional distance ÷ trained-CFG floor`, series, xLabel: "fine-tuning steps, % of pre-training steps (a GFT update ≈ 4/3 of a CFG update)", yLabel: "distance ÷ floor (≤ 1: matches)", logY: true, points: true }) };
  // A few points for the table: 0, 1, 2, 5, 10, 20 % and the end.
  const marks = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
  const pick = curve.filter((pt, i) => i === curve.length - 1 || marks.some((m) => Math.abs(pt.fraction - m) < 1e-9));
  const headers = ["fine-tuning steps", "% of pre-training", ...f.rows.map((r) => `w = ${r.w}: distance ÷ floor`)];
  const rows = pick.map((pt) => [pt.step, 100 * pt.fraction, ...f.rows.map((r, i) => (r.floor > 0 ? pt.gaps[i] / r.floor : NaN))]);
  const first = firstMatch(f);
  const text = `Fine-tuning at the pre-training learning rate: ${first ? `within the floor at every deciding w from ${first.step} steps (${fmt(100 * first.fraction, 3)} % of pre-training)` : "never within the floor at every deciding w"}.`;
  return { md: [text, "", mdTable(headers, rows), ""], blocks: [{ kind: "text", text }, { kind: "table", headers, rows }, chart] };
}

function benefitText(key: PartKey, p: PartSummary): string {
  const b = guidanceBenefit(key, p);
  const metric = key === "mixture" ? "Bayes accuracy" : "FD";
  return `Gate, CFG's guidance benefit on ${metric} (mean of the two CFG models): ${b.benefit === null ? "not measured" : fmt(b.benefit, 4)} at w = ${b.bestW ?? "-"} against w = 1; it must exceed ${fmt(b.noise, 4)} (the larger of the evaluation noise and the CFG seed spread ${fmt(b.spread, 4)}): ${b.benefit !== null && b.benefit > b.noise ? "passed" : "FAILED"}.`;
}

function partDescription(key: PartKey, cfg: GuidanceFreeConfig): string {
  if (key === "mixture") return `${cfg.mixture.data.classes} classes × ${cfg.mixture.data.componentsPerClass} components on a ring; ${cfg.mixture.sample.perClass} samples per class per sampler, DDIM ${cfg.mixture.sample.ddimSteps} steps; MMD² averaged over classes`;
  if (key === "digits") return `${cfg.digits.side}×${cfg.digits.side} MNIST digits, classes ${cfg.digits.classes.join(",")}, residual-MLP denoiser (${cfg.digits.model.depth} blocks × ${cfg.digits.model.hidden}), DDIM ${cfg.digits.sample.ddimSteps} steps, ${cfg.digits.sample.perClass} samples per class`;
  return `${cfg.ar.side}×${cfg.ar.side} digits at ${cfg.ar.levels} grey levels (${cfg.ar.side ** 2} tokens), classes ${cfg.ar.classes.join(",")}, ${cfg.ar.model.nLayers}-layer d=${cfg.ar.model.dModel} transformer, temperature 1, ${cfg.ar.sample.perClass} samples per class`;
}

function partSection(run: RunDir, s: GuidanceFreeSummary, key: PartKey, p: PartSummary, cfg: GuidanceFreeConfig): { md: string[]; section: Section } {
  const rows = p.eval.rows;
  const title = TITLES[key];
  const mt = matchTable(s, key);
  const extra = p.eval.realVsReal
    ? ` Real-vs-real FD (train subset vs validation, the evaluation's resolution) ${fmt(p.eval.realVsReal.fd, 3)}; classifier validation accuracy ${fmt((p.classifier?.valAccuracy as number) ?? NaN, 3)}. FD is a Fréchet distance in the features of our small MLP classifier (an FID substitute, not comparable to FID values).`
    : "";
  const text = `${partDescription(key, cfg)}.${extra} ${benefitText(key, p)}`;
  const md = [`### ${title}`, "", text, "", "Sampling test:", "", mdTable(mt.headers, mt.rows), ""];
  const blocks: Block[] = [{ kind: "text", text }, { kind: "table", headers: mt.headers, rows: mt.rows }];
  const ft = functionalTable(p);
  if (ft) {
    const ftext = `Functional test (${p.functional!.metric}, ${p.functional!.inputs} fixed inputs; distances to the midpoint of the two CFG models; a model like a third CFG seed is expected near 3/4 of the floor):`;
    md.push(ftext, "", mdTable(ft.headers, ft.rows), "");
    blocks.push({ kind: "text", text: ftext }, { kind: "table", headers: ft.headers, rows: ft.rows });
  }
  const fc = finetuneCurveBlocks(p, title);
  md.push(...fc.md);
  blocks.push(...fc.blocks);
  md.push(mdTable(key === "mixture" ? mixtureHeaders : imageHeaders, rows.map(key === "mixture" ? mixtureRow : imageRow)), "");
  if (key !== "mixture") {
    // Our numbers in the layout of the paper's Table 4 (best FD over w; FD is our substitute, not FID).
    // FD per w averaged over a family's trained seeds (two for CFG), then the best w.
    const fdAt = (f: Family, w: number) => meanOf(byFamily(rows, f).filter((r) => r.w === w).map((r) => r.fd ?? NaN));
    const best = (f: Family) => (byFamily(rows, f).length ? Math.min(...[...new Set(byFamily(rows, f).map((r) => r.w))].map((w) => fdAt(f, w))) : "-");
    const t4 = [[`ours: ${title} (CFG: mean of 2 seeds)`, fdAt("CFG", 1), best("CFG"), best("GFT fine-tuned"), best("GFT scratch")]];
    const h4 = ["ours (FD, best over w)", "CFG model w/o guidance", "CFG (best w)", "GFT fine-tuned (best β)", "GFT from scratch (best β)"];
    md.push(mdTable(h4, t4), "");
    blocks.push({ kind: "table", headers: h4, rows: t4 });
  }
  if (key === "mixture") {
    blocks.push(
      { kind: "table", headers: mixtureHeaders, rows: rows.map(mixtureRow) },
      curve(rows, "accuracy", "2-D: Bayes-classifier accuracy of samples", "accuracy"),
      curve(rows, "mmdToCFG", "2-D: MMD² to CFG at the same w", "MMD²", ["GFT scratch", "GFT fine-tuned", "CFG (resampled)"]),
      curve(rows, "precision", "2-D: precision", "precision"),
      curve(rows, "recall", "2-D: recall", "recall"),
    );
  } else {
    blocks.push(
      { kind: "table", headers: imageHeaders, rows: rows.map(imageRow) },
      qualityDiversity(rows, `${title}: FD vs accuracy (quality-diversity)`),
      curve(rows, "fd", `${title}: FD vs guidance`, "FD"),
      curve(rows, "accuracy", `${title}: accuracy vs guidance`, "accuracy"),
    );
  }
  blocks.push(...samplePNGs(run, `${key}-eval`));
  const lc = lossChart(run, [`${key}-cfg`, `${key}-cfg-seed2`, `${key}-gft-scratch`, `${key}-gft-finetune`], `${title}: training loss`);
  if (lc) blocks.push(lc);
  return { md, section: { heading: title, blocks } };
}

function costTable(s: GuidanceFreeSummary): { headers: string[]; rows: (string | number)[][] } {
  const rows = nfeRatios(s).map((r) => {
    const arms = s[r.key]?.arms;
    const step = arms?.cfg && arms.gftScratch ? arms.gftScratch.msPerStep / arms.cfg.msPerStep : NaN;
    return [TITLES[r.key], r.ratio, r.timeRatio, step];
  });
  return { headers: ["family", "NFE ratio GFT/CFG (w > 1)", "time per sample GFT/CFG", "train step time GFT/CFG"], rows };
}

/** Write report.html / report.md and results.md into the run directory. */
export async function writeGuidanceFreeReport(run: RunDir, s: GuidanceFreeSummary, verdicts: VerdictsFile, cfg: GuidanceFreeConfig): Promise<void> {
  const meta = run.meta();
  const preset = String(meta.preset ?? "custom");
  const wall = typeof s.wallSeconds === "number" ? `; wall time ${fmt(s.wallSeconds, 1)} s` : "";
  const head = `**Preset \`${preset}\`**, seed ${cfg.seed}. Machine: ${machineLine(meta)}${wall}.`;
  const parts = (["mixture", "digits", "ar"] as const).flatMap((k) => (s[k] ? [partSection(run, s, k, s[k]!, cfg)] : []));
  const cost = costTable(s);
  const results = [
    head,
    "",
    verdictTableMarkdown(verdicts),
    "",
    mdTable(cost.headers, cost.rows),
    "",
    ...parts.flatMap((p) => p.md),
    "Paper numbers for comparison (arXiv 2501.15420 v1):",
    "",
    mdTable(PAPER2_HEADERS, PAPER_TABLE2),
    "",
    mdTable(PAPER4_HEADERS, PAPER_TABLE4),
    "",
  ].join("\n");
  writeFileAtomic(run.path("results.md"), results + "\n");
  const sections: Section[] = [
    { heading: "Claims and verdicts", blocks: [...verdictBlocks(verdicts), { kind: "table", headers: cost.headers, rows: cost.rows }] },
    {
      heading: "Paper tables",
      blocks: [
        { kind: "table", headers: PAPER2_HEADERS, rows: PAPER_TABLE2 },
        { kind: "table", headers: PAPER4_HEADERS, rows: PAPER_TABLE4 },
      ],
    },
    ...parts.map((p) => p.section),
  ];
  await writeReport({ title: "Guidance-free training (arXiv 2501.15420): GFT vs CFG at small scale", subtitle: `Preset ${preset}, seed ${cfg.seed}. Machine: ${machineLine(meta)}${wall}.`, sections }, run.dir);
}
