/**
 * The FP4-training experiment's report: one comparison document (report.html / report.md) with
 * loss curves of every arm, the final-loss table beside the paper's, the Table 1 analogue beside
 * the paper's Table 1, verdicts computed from the numbers, and `results.md` (the block the
 * README shows, via `tinyfoundry readme`). Every measured number comes from the run.
 */
import { writeFileSync } from "node:fs";
import { lineChartSpec } from "../../report/charts.js";
import { fmt, writeReport, type Block, type ReportDoc } from "../../report/document.js";
import { machineLine } from "../../report/run-report.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import { quantileIndices } from "./model.js";
import { ARM_DESCRIPTIONS, fp4TrainingPresets, type FP4TrainingConfig } from "./config.js";
import type { ArmSummary, FidelityRow, FP4TrainingSummary } from "./experiment.js";

export type Verdict = { claim: string; verdict: string; detail?: string };

/** The paper's numbers (arXiv 2501.17116 v2). */
export const PAPER = {
  /** Final training loss after 100B tokens (§4.2, Fig. 5). */
  finalLoss: [
    { model: "LLaMA-2 1.3B", bf16: 2.49, fp4: 2.55 },
    { model: "LLaMA-2 7B", bf16: 2.07, fp4: 2.17 },
    { model: "LLaMA-2 13B", bf16: 1.88, fp4: 1.97 },
  ],
  /** Table 1: fidelity of quantized activations, LLaMA-1.3B at iteration 30,000. */
  table1: [
    { clamp: false, comp: false, quantile: null, sim: 0.9219, mse: 0.1055, snr: 8.31 },
    { clamp: true, comp: false, quantile: 0.999, sim: 0.9883, mse: 0.0366, snr: 14.25 },
    { clamp: true, comp: true, quantile: 0.999, sim: 0.9961, mse: 0.0245, snr: 15.31 },
    { clamp: true, comp: true, quantile: 0.99, sim: 1.0, mse: 0.0099, snr: 18.38 },
    { clamp: true, comp: true, quantile: 0.97, sim: 1.0, mse: 0.0068, snr: 20.88 },
  ],
  /** Residual density at α = 0.999 / 0.99 / 0.97 (§4.3). */
  density: { 0.999: 0.002, 0.99: 0.02, 0.97: 0.06 } as Record<string, number>,
};

/** Differences smaller than this (nats/byte) are treated as noise between arms. */
export const NOISE = 0.02;
/** Differences smaller than this are no difference at all (not even "in direction"). */
export const TIE = 0.005;
/** "Close to fp32": at most the paper's largest gap (7B: +0.10). */
export const CLOSE = 0.1;

const find = (arms: ArmSummary[], name: string) => arms.find((a) => a.arm === name);
const ok = (a: ArmSummary | undefined): a is ArmSummary => !!a && a.status !== "interrupted" && Number.isFinite(a.valLoss);

/** "worse" claims: b is worse than a by at least NOISE → reproduced; by less → in direction. */
function worse(claim: string, a: ArmSummary | undefined, b: ArmSummary | undefined): Verdict | null {
  if (!a || !b) return null;
  if (b.status === "diverged") return { claim, verdict: "reproduced", detail: `${b.arm} diverged at step ${b.divergedAtStep}` };
  if (!ok(a) || !ok(b)) return null;
  const d = b.valLoss - a.valLoss;
  const detail = `val loss ${fmt(b.valLoss)} (${b.arm}) vs ${fmt(a.valLoss)} (${a.arm}): ${d >= 0 ? "+" : ""}${fmt(d)} nats/byte`;
  if (d >= NOISE) return { claim, verdict: "reproduced", detail };
  if (d >= TIE) return { claim, verdict: "reproduced in direction", detail: `${detail}, below the ${NOISE} noise margin` };
  if (d > -TIE) return { claim, verdict: "not reproduced", detail: `${detail}: no difference (within ±${TIE})` };
  return { claim, verdict: "not reproduced", detail };
}

/** The verdicts, computed from the numbers with the stated margins. */
export function judge(arms: ArmSummary[], fid: FidelityRow[] | null, widths: number[]): Verdict[] {
  const out: Verdict[] = [];
  const fp32 = find(arms, "fp32");
  const ours = find(arms, "w4a4-dge-occ");
  if (ok(fp32) && ours) {
    const claim = "FP4 training with DGE + OCC stays close to fp32 (paper: +0.06 / +0.10 / +0.09 nats at 1.3B / 7B / 13B)";
    if (!ok(ours)) out.push({ claim, verdict: "not reproduced", detail: `the FP4 arm ${(ours as ArmSummary).status}` });
    else {
      const gap = ours.valLoss - fp32.valLoss;
      const detail = `gap ${gap >= 0 ? "+" : ""}${fmt(gap)} nats/byte (val ${fmt(ours.valLoss)} vs ${fmt(fp32.valLoss)})`;
      out.push({ claim, verdict: gap <= CLOSE ? "reproduced" : "not reproduced", detail: `${detail}; "close" means at most +${CLOSE}` });
    }
  }
  const v1 = worse("Direct W4A4 casting is clearly worse than W4A4 + DGE + OCC (Fig. 1, Fig. 6a)", ours, find(arms, "w4a4-direct"));
  if (v1) out.push(v1);
  const v2 = worse("Tensor-wise scaling is worse than vector-wise (token / channel) scaling (Fig. 6d)", ours, find(arms, "w4a4-dge-occ-tensor"));
  if (v2) out.push(v2);
  const direct = find(arms, "w4a4-direct");
  const v3 = worse("DGE alone improves W4A4 over the direct cast (§3.1)", find(arms, "w4a4-dge"), direct);
  if (v3) out.push(v3);
  const v4 = worse("OCC alone improves W4A4 over the direct cast (§3.2)", find(arms, "w4a4-occ"), direct);
  if (v4) out.push(v4);
  const wt = find(arms, "w4a4-dge-occ-wtensor");
  const at = find(arms, "w4a4-dge-occ-atensor");
  if (ok(wt) && ok(at)) {
    const claim = "Coarse (tensor-wise) activations hurt more than coarse weights (Fig. 6d)";
    const d = at.valLoss - wt.valLoss;
    out.push({ claim, verdict: d >= NOISE ? "reproduced" : d >= TIE ? "reproduced in direction" : "not reproduced", detail: `val loss A-tensor ${fmt(at.valLoss)} vs W-tensor ${fmt(wt.valLoss)}` });
  }
  const ks = (["w4a8-dge-k3", "w4a8-dge-k5", "w4a8-dge-k10"] as const).map((n) => find(arms, n)).filter(ok);
  const ste = find(arms, "w4a8-ste");
  if (ks.length === 3 && ok(ste)) {
    const best = ks.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    const k5 = ks[1];
    out.push({
      claim: "DGE improves W4A8 training over the straight-through estimator, with k = 5 best of 3 / 5 / 10 (Fig. 6b)",
      verdict: k5.valLoss < ste.valLoss && best.arm === k5.arm ? "reproduced" : k5.valLoss < ste.valLoss || best.arm === k5.arm ? "partly reproduced" : "not reproduced",
      detail: `val loss STE ${fmt(ste.valLoss)}; k=3 ${fmt(ks[0].valLoss)}, k=5 ${fmt(ks[1].valLoss)}, k=10 ${fmt(ks[2].valLoss)}`,
    });
  }
  const direct8 = find(arms, "w8a4-direct");
  if (direct8 && direct8.status !== "interrupted") {
    out.push({
      claim: "W8A4 with activations cast directly to FP4 diverges (NaN at 1.3B, Fig. 6c)",
      verdict: direct8.status === "diverged" ? "reproduced" : "not reproduced",
      detail: direct8.status === "diverged" ? `diverged at step ${direct8.divergedAtStep}` : `trained to val loss ${fmt(direct8.valLoss)}; a tiny byte model has few activation outliers (expected by the notes)`,
    });
  }
  const occ = (["w8a4-occ-0.999", "w8a4-occ-0.99", "w8a4-occ-0.97"] as const).map((n) => find(arms, n)).filter(ok);
  if (occ.length === 3) {
    const mono = occ[1].valLoss <= occ[0].valLoss && occ[2].valLoss <= occ[1].valLoss;
    out.push({
      claim: "In W8A4 with OCC, a smaller α trains better: 0.97 ≤ 0.99 ≤ 0.999 (Fig. 6c)",
      verdict: mono ? "reproduced" : "not reproduced",
      detail: `val loss ${occ.map((a) => `${a.arm.replace("w8a4-occ-", "α=")} ${fmt(a.valLoss)}`).join(", ")}`,
    });
  }
  const paperRows = fid ? fid.filter((r) => !r.extra) : [];
  if (paperRows.length >= 3) {
    const snr = paperRows.map((r) => r.snrDb);
    const strict = snr.every((v, i) => i === 0 || v > snr[i - 1] + 1e-9);
    const weak = snr.every((v, i) => i === 0 || v >= snr[i - 1] - 1e-9);
    const noop = paperRows.filter((r) => r.clamp && r.quantile !== null && widths.every((c) => quantileIndices(r.quantile!, c).hi === c - 1 && quantileIndices(r.quantile!, c).lo === 0));
    const detail = `SNR ${snr.map((v) => v.toFixed(2)).join(" → ")} dB`;
    let note = "";
    if (noop.length) note = `; α = ${[...new Set(noop.map((r) => r.quantile))].join(", ")} clamps nothing in rows of ${widths.join(" / ")} values (the index floor(α·c) is the row's maximum), so those rows equal the no-clamp row`;
    const extra = fid!.find((r) => r.extra && r.clamp);
    if (extra) note += `; clamp only at α = ${extra.quantile} gives ${extra.snrDb.toFixed(2)} dB against ${snr[0].toFixed(2)} dB without a clamp`;
    out.push({
      claim: "Table 1 ordering: fidelity rises from no clamp → clamp only → clamp + compensation at α = 0.999 → 0.99 → 0.97",
      verdict: strict ? "reproduced" : weak ? "partly reproduced" : "not reproduced",
      detail: detail + note,
    });
  }
  return out;
}

const md = (headers: string[], rows: (string | number)[][]) =>
  [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map((c) => fmt(c).replace(/\|/g, "\\|")).join(" | ")} |`)].join("\n");

const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${fmt(v)}` : "-");

function smooth(points: [number, number][], w = 25): [number, number][] {
  return points.map(([x], i) => {
    const s = points.slice(Math.max(0, i - w + 1), i + 1);
    return [x, s.reduce((a, p) => a + p[1], 0) / s.length];
  });
}

function curves(run: RunDir, arms: ArmSummary[], key: string, smoothed: boolean): { name: string; points: [number, number][] }[] {
  return arms.map((a) => {
    const rows = openRun(run.path("arms", a.arm)).metrics<Record<string, number>>();
    const pts = rows.filter((r) => typeof r[key] === "number" && Number.isFinite(r[key])).map((r) => [r.step, r[key]] as [number, number]);
    return { name: a.arm, points: smoothed ? smooth(pts) : pts };
  });
}

/** The final-loss table rows: arm, description, train loss, val loss, gap to fp32, ms/step, relative cost. */
export function finalLossRows(arms: ArmSummary[]): (string | number)[][] {
  const fp32 = find(arms, "fp32");
  return arms.map((a) => [
    a.arm,
    a.status === "diverged" ? `diverged at step ${a.divergedAtStep}` : a.status,
    a.finalTrainLoss,
    a.valLoss,
    fp32 && ok(fp32) && a.arm !== "fp32" ? signed(a.valLoss - fp32.valLoss) : "-",
    Number.isFinite(a.msPerStep) ? Math.round(a.msPerStep) : "-",
    fp32 && Number.isFinite(fp32.msPerStep) && Number.isFinite(a.msPerStep) ? `${(a.msPerStep / fp32.msPerStep).toFixed(2)}x` : "-",
  ]);
}

const FINAL_HEADERS = ["arm", "status", "final train loss", "val loss", "val gap to fp32", "ms/step", "step time vs fp32"];

function paperLossRows(): (string | number)[][] {
  return PAPER.finalLoss.map((r) => [r.model, r.bf16, r.fp4, signed(r.fp4 - r.bf16)]);
}

function fidelityRows(fid: FidelityRow[]): (string | number)[][] {
  return fid.map((r) => {
    const p = r.extra ? undefined : PAPER.table1.find((x) => x.clamp === r.clamp && x.comp === r.compensate && x.quantile === r.quantile);
    return [
      r.granularity,
      r.clamp ? "yes" : "no",
      r.clamp ? (r.compensate ? "yes" : "no") : "-",
      r.quantile ?? "-",
      `${(r.sim * 100).toFixed(2)}%`,
      r.mse,
      r.snrDb.toFixed(2),
      r.clamp ? `${(r.residualDensity * 100).toFixed(2)}%` : "-",
      p ? `${(p.sim * 100).toFixed(2)}%` : "-",
      p ? p.mse : "-",
      p ? p.snr.toFixed(2) : r.extra ? "(not in the paper)" : "-",
    ];
  });
}

const FID_HEADERS = ["scales", "clamp", "comp", "α", "SIM", "MSE", "SNR (dB)", "ΔA non-zeros", "paper SIM", "paper MSE", "paper SNR"];

function setupText(cfg: FP4TrainingConfig, summary: FP4TrainingSummary): string {
  const m = cfg.model;
  const t = cfg.train;
  const params = summary.arms[0]?.params ?? 0;
  return [
    `Byte-level GPT on \`${cfg.data.file ?? cfg.data.corpus}\`: ${m.nLayers} layers, width ${m.dModel}, ${m.nHeads} heads, ${m.mlp === "gelu" ? "GeLU" : "SwiGLU"} FFN ${m.mlpRatio}x, context ${m.contextLength}, ${params.toLocaleString("en-US")} parameters.`,
    `AdamW (β = ${t.beta1}, ${t.beta2}; wd ${t.weightDecay}), peak lr ${t.lr}, ${t.warmupSteps} warm-up steps, cosine to ${t.minLrRatio * 100}%, batch ${t.batchSize} x ${m.contextLength} tokens, ${t.steps} steps, clip ${t.clip}. Every arm has the same init, data order and seed.`,
    `FP4: ${cfg.fp4.format.toUpperCase()}, ${cfg.fp4.pow2Scale ? "power-of-two" : "exact absmax"} scales, DGE k = ${cfg.fp4.k} (cap ${cfg.fp4.dgeCap}), OCC α = ${cfg.fp4.quantile}, at ${cfg.fp4.sites.join(", ")}; embeddings, LM head, attention scores, norms and activation functions stay float32. Gradients and optimizer states are float32 (the paper: FP8 gradients, FP8/FP16 Adam moments).`,
    `Losses are nats per byte; validation uses each arm's own (FP4) forward. "Final train loss" is the mean over the last 10% of steps.`,
  ].join(" ");
}

/** ` --set arms=[...]` when the arms differ from the preset's (so the line says how to rerun it). */
function setFlags(cfg: FP4TrainingConfig, preset: string): string {
  const p = (fp4TrainingPresets as Record<string, FP4TrainingConfig>)[preset];
  if (!p || JSON.stringify(p.arms) === JSON.stringify(cfg.arms)) return "";
  return ` --set 'arms=${JSON.stringify(cfg.arms)}'`;
}

/** Write report.html, report.md and results.md into the experiment's run directory. */
export async function writeFP4Report(run: RunDir, cfg: FP4TrainingConfig, summary: FP4TrainingSummary): Promise<{ html: string; md: string }> {
  const { arms, fidelity: fid, verdicts } = summary;
  const meta = run.meta();
  const blocks: Block[] = [
    { kind: "text", text: setupText(cfg, summary) },
    { kind: "text", text: `Machine: ${machineLine(meta)}. Wall time ${(summary.wallSeconds / 60).toFixed(1)} min; training steps of all arms ${(summary.trainSecondsAllArms / 60).toFixed(1)} min.` },
  ];
  const verdictBlock: Block = { kind: "table", headers: ["claim", "verdict", "detail"], rows: verdicts.map((v) => [v.claim, v.verdict, v.detail ?? ""]) };
  const skip = Math.floor(cfg.train.steps / 10); // the first 10% of steps would flatten the scale
  const train = curves(run, arms, "loss", true).map((c) => ({ ...c, points: c.points.filter(([x]) => x > skip) }));
  const val = curves(run, arms, "valLoss", false);
  const charts: Block[] = [
    { kind: "chart", name: "fp4-train-loss", spec: lineChartSpec({ title: `Training loss (moving average of 25 steps, after step ${skip})`, series: train, xLabel: "step", yLabel: "nats/byte" }) },
    { kind: "chart", name: "fp4-val-loss", spec: lineChartSpec({ title: "Validation loss", series: val, xLabel: "step", yLabel: "nats/byte", points: true }) },
  ];
  const gap = (series: { name: string; points: [number, number][] }[]) => {
    const base = new Map(series.find((c) => c.name === "fp32")?.points ?? []);
    return series.filter((c) => c.name !== "fp32").map((c) => ({ name: c.name, points: c.points.filter(([x]) => base.has(x)).map(([x, y]) => [x, y - base.get(x)!] as [number, number]) }));
  };
  if (arms.some((a) => a.arm === "fp32") && arms.length > 1) {
    charts.push(
      { kind: "chart", name: "fp4-train-gap", spec: lineChartSpec({ title: "Training loss minus fp32's (moving averages of 25 steps)", series: gap(train), xLabel: "step", yLabel: "nats/byte" }) },
      { kind: "chart", name: "fp4-val-gap", spec: lineChartSpec({ title: "Validation loss minus fp32's", series: gap(val), xLabel: "step", yLabel: "nats/byte", points: true }) },
    );
  }
  const armTable: Block = { kind: "table", headers: ["arm", "what it is"], rows: arms.map((a) => [a.arm, ARM_DESCRIPTIONS[a.arm]]) };
  const sections = [
    { heading: "Setup", blocks },
    { heading: "Verdicts", blocks: [verdictBlock, { kind: "text" as const, text: `Margins: "clearly worse" needs at least ${NOISE} nats/byte of validation loss; ${TIE} to ${NOISE} is "in direction"; less than ${TIE} is no difference. "Close to fp32" means a gap of at most ${CLOSE}.` }] },
    { heading: "Loss curves", blocks: charts },
    {
      heading: "Final losses",
      blocks: [
        { kind: "table" as const, headers: FINAL_HEADERS, rows: finalLossRows(arms), caption: "This run (step times: wall clock on this machine, same run)" },
        { kind: "table" as const, headers: ["paper model (100B tokens)", "BF16", "FP4 (DGE + OCC)", "gap"], rows: paperLossRows(), caption: "The paper, §4.2 / Fig. 5" },
        armTable,
      ],
    },
  ];
  if (fid) {
    sections.push({
      heading: "Table 1 analogue: fidelity of FP4 activations",
      blocks: [
        { kind: "table", headers: FID_HEADERS, rows: fidelityRows(fid), caption: `Activations entering the quantized linears of the trained fp32 model (${fid[0].tensors} tensors of width ${summary.fidelityWidths.join(" / ")}), E2M1; means over tensors. Paper: LLaMA-1.3B, iteration 30,000.` },
        { kind: "text", text: `The paper's residual densities are ${Object.entries(PAPER.density).map(([a, d]) => `${d * 100}% at α = ${a}`).join(", ")} (about 2(1 − α)). With MS-AMP's index rule a row of c values is clamped at sorted[floor((1 − α)c)] and sorted[floor(αc)], so short rows clamp fewer entries than 2(1 − α)c.` },
      ],
    });
  } else {
    sections.push({ heading: "Table 1 analogue: fidelity of FP4 activations", blocks: [{ kind: "text", text: "Not measured: it needs the fp32 arm and `fidelity.batches` > 0." }] });
  }
  const doc: ReportDoc = { title: "FP4 training (arXiv 2501.17116): fp32 vs FP4 arms", subtitle: `Run ${run.dir}, created ${meta.createdAt}`, sections };
  const r = await writeReport(doc, run.dir);

  const wall = `wall time ${(summary.wallSeconds / 60).toFixed(1)} min (training steps ${(summary.trainSecondsAllArms / 60).toFixed(1)} min of it)`;
  const results: string[] = [
    `Measured by \`npx tinyfoundry run fp4-training --preset ${String(meta.preset ?? "?")}${setFlags(cfg, String(meta.preset ?? ""))}\` (${cfg.train.steps} steps, ${cfg.model.nLayers} layers, width ${cfg.model.dModel}, context ${cfg.model.contextLength}, batch ${cfg.train.batchSize}, seed ${cfg.seed}) on ${machineLine(meta)}; ${wall}.`,
    "",
    md(FINAL_HEADERS, finalLossRows(arms)),
    "",
    "The paper (final training loss after 100B tokens, §4.2):",
    "",
    md(["model", "BF16", "FP4 (DGE + OCC)", "gap"], paperLossRows()),
    "",
  ];
  if (fid) results.push(`Table 1 analogue (activations of the trained fp32 model, widths ${summary.fidelityWidths.join(" / ")}; paper: LLaMA-1.3B):`, "", md(FID_HEADERS, fidelityRows(fid)), "");
  results.push("Verdicts:", "", md(["claim", "verdict", "detail"], verdicts.map((v) => [v.claim, v.verdict, v.detail ?? ""])), "");
  writeFileSync(run.path("results.md"), results.join("\n"));
  return r;
}
