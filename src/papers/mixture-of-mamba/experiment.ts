/**
 * The Mixture-of-Mamba experiment (arXiv 2501.16295, Chameleon setting at CPU scale): dense Mamba
 * vs Mixture-of-Mamba (all four projections split), the single-split ablations and a transformer of
 * about the same size, trained on the same interleaved text + VQ-digit documents in the same order
 * from the same seed. The headline metric is the paper's: the percentage of the dense model's
 * training steps at which a model first reaches the dense model's final loss, per modality (equal
 * FLOPs per step, so the step ratio is the FLOP ratio). Training losses are smoothed by a trailing
 * moving average before the comparison; held-out per-modality losses are reported beside them.
 */
import { writeFileSync } from "node:fs";
import { np, jit, tree, type Array, type JsTree } from "../../engine/index.js";
import { mambaBlockParams, type MambaLMConfig, type MambaLMParams } from "../../nn/mamba.js";
import { initLM, lmForward, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask, type AdamWState } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { openRun, type RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { lineChartSpec, barChartSpec } from "../../report/charts.js";
import { writeReport, type Block, type Section } from "../../report/document.js";
import { machineLine, runSections } from "../../report/run-report.js";
import { encodePNG } from "../../report/png.js";
import { ARMS, type ArmName, type MoMConfig } from "./config.js";
import { IMAGE, MODALITY_NAMES, TOKENS_PER_IMAGE, GRID, PATCH, loadDigits, makeBatch, prepareMoMData, routingFor, type HostBatch, type MoMData } from "./data.js";
import { SPLIT_ALL, SPLIT_NONE, initMoMLM, modalityLosses, momForward, type SplitFlags } from "./model.js";

/** The paper's headline numbers (1.4B scale; abstract and README of the official repository). */
export const PAPER = {
  chameleonImagePct: 42.5,
  chameleonTextPct: 65.4,
  transfusionImagePct: 34.76,
  speechPct: 24.8,
} as const;

export const ARM_SPLITS: Record<Exclude<ArmName, "transformer">, SplitFlags> = {
  dense: SPLIT_NONE,
  "mom-all": SPLIT_ALL,
  "mom-in": { ...SPLIT_NONE, in: true },
  "mom-x": { ...SPLIT_NONE, x: true },
  "mom-dt": { ...SPLIT_NONE, dt: true },
  "mom-out": { ...SPLIT_NONE, out: true },
};

export type ArmSummary = {
  arm: ArmName;
  params: number;
  steps: number;
  /** Smoothed training losses at the last step. */
  finalLoss: number;
  finalText: number;
  finalImage: number;
  valLoss: number;
  valText: number;
  valImage: number;
  trainSeconds: number;
  secondsPerStep: number;
};

export type MatchRow = { arm: ArmName; modality: "total" | "text" | "image"; denseFinal: number; step: number | null; pct: number | null };

export type MoMSummary = {
  arms: ArmSummary[];
  match: MatchRow[];
  verdicts: { claim: string; verdict: "reproduced" | "partly" | "not reproduced" | "not run"; detail: string }[];
  vq: { codebookSize: number; valMSE: number; codesUsed: number };
  imageTokenFraction: number;
  wallSeconds: number;
};

export function mambaConfigOf(cfg: MoMConfig, vocabSize: number): MambaLMConfig {
  const m = cfg.model;
  return {
    vocabSize,
    dModel: m.dModel,
    nLayers: m.nLayers,
    blocksPerLayer: m.blocksPerLayer,
    dState: m.dState,
    dConv: m.dConv,
    expand: m.expand,
    dtRank: m.dtRank,
    dtMin: 0.001,
    dtMax: 0.1,
    dtInitFloor: 1e-4,
    scanChunk: m.scanChunk,
    tiedHead: true,
  };
}

export function transformerConfigOf(cfg: MoMConfig, vocabSize: number): LMConfig {
  return {
    vocabSize,
    dModel: cfg.model.dModel,
    nLayers: cfg.model.nLayers,
    nHeads: cfg.transformer.nHeads,
    contextLength: cfg.model.contextLength,
    norm: "rms",
    pos: "rope",
    mlp: "swiglu",
    mlpRatio: cfg.transformer.mlpRatio,
    tiedHead: true,
    bias: false,
  };
}

/** Device arrays of a host batch: x, y [B, T] int32; perm, inv [B·T] int32; text/image target masks [B, T]. */
export function batchArrays(b: HostBatch, K = 2): Array[] {
  const r = routingFor(b.xModality, K);
  const shape = [b.B, b.T];
  const int = (a: Int32Array) => np.array(a, { dtype: np.int32 });
  const maskOf = (m: number) => np.array(Float32Array.from(b.yModality, (v) => (v === m ? 1 : 0))).reshape(shape);
  return [int(b.x).reshape(shape), int(b.y).reshape(shape), int(r.perm), int(r.inv), maskOf(0), maskOf(IMAGE)];
}

/** Tokens per modality in every batch (fixed by construction): [text, image] counts of B·T inputs. */
export function routingCounts(cfg: MoMConfig): number[] {
  const B = cfg.train.batchSize;
  const img = B * cfg.data.imagesPerSeq * TOKENS_PER_IMAGE;
  return [B * cfg.model.contextLength - img, img];
}

type AnyParams = MambaLMParams | LMParams;

/** The loss of an arm: (params, x, y, perm, inv, maskText, maskImage) → [total, [text, image]]. */
function armLoss(arm: ArmName, cfg: MoMConfig, vocab: number) {
  const counts = routingCounts(cfg);
  if (arm === "transformer") {
    const lm = transformerConfigOf(cfg, vocab);
    return (p: AnyParams, x: Array, y: Array, perm: Array, inv: Array, mt: Array, mi: Array): [Array, Array[]] => {
      perm.dispose();
      inv.dispose();
      return modalityLosses(lmForward(p as LMParams, lm, x).logits, y, mt, mi);
    };
  }
  const split = ARM_SPLITS[arm];
  const mc = mambaConfigOf(cfg, vocab);
  return (p: AnyParams, x: Array, y: Array, perm: Array, inv: Array, mt: Array, mi: Array): [Array, Array[]] => {
    const logits = momForward(p as MambaLMParams, mc, x, split, { perm, inv, counts });
    perm.dispose();
    inv.dispose();
    return modalityLosses(logits, y, mt, mi);
  };
}

function initArm(arm: ArmName, cfg: MoMConfig, vocab: number): AnyParams {
  if (arm === "transformer") return initLM(transformerConfigOf(cfg, vocab), cfg.seed);
  return initMoMLM(mambaConfigOf(cfg, vocab), ARM_SPLITS[arm], 2, cfg.seed);
}

/** Trailing moving average of `xs` over `w` values. */
export function smooth(xs: number[], w: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    if (i >= w) s -= xs[i - w];
    out.push(s / Math.min(i + 1, w));
  }
  return out;
}

/**
 * The paper's metric: the first step at which `curve` (smoothed) is at or below `target`, as a
 * percentage of `total` steps; null when it never gets there.
 */
export function stepsToReach(curve: number[], target: number, total: number): { step: number | null; pct: number | null } {
  const i = curve.findIndex((v) => v <= target);
  if (i < 0) return { step: null, pct: null };
  return { step: i + 1, pct: (100 * (i + 1)) / total };
}

async function trainArm(arm: ArmName, cfg: MoMConfig, data: MoMData, run: RunDir, resume: boolean, ctx: ExperimentContext): Promise<ArmSummary> {
  const V = data.vocab.size;
  const B = cfg.train.batchSize;
  const T = cfg.model.contextLength;
  const lossFn = armLoss(arm, cfg, V);
  const probe = initArm(arm, cfg, V);
  const params = paramCount(probe);
  const decayMask = defaultDecayMask(probe);
  tree.dispose(probe as unknown as JsTree<Array>);
  const trainStep = makeTrainStep(lossFn, {
    adamw: { beta1: cfg.train.beta1, beta2: cfg.train.beta2, eps: 1e-8, weightDecay: cfg.train.weightDecay },
    clip: cfg.train.clip,
    decayMask,
    hasAux: true,
  });
  const evalFn = jit((p: AnyParams, batch: Array[]) => {
    const [total, [text, image]] = lossFn(p, batch[0], batch[1], batch[2], batch[3], batch[4], batch[5]);
    return np.stack([total, text, image]);
  });
  const evalRng = new Rng(cfg.seed, "mom-eval");
  const evalSet = Array.from({ length: cfg.train.evalBatches }, () => makeBatch(data, "val", B, T, cfg.data.imagesPerSeq, evalRng));
  const result = await trainLoop<AnyParams>({
    run,
    totalSteps: cfg.train.steps,
    init: () => {
      const p = initArm(arm, cfg, V);
      return { params: p, opt: adamwInit(p) as AdamWState<AnyParams> };
    },
    trainStep,
    rngs: { data: Rng.stream(cfg.seed, "data") },
    nextBatch: (_s, rngs) => batchArrays(makeBatch(data, "train", B, T, cfg.data.imagesPerSeq, rngs.data)),
    lr: (s) => warmupCosine(s, { lr: cfg.train.lr, warmupSteps: cfg.train.warmupSteps, totalSteps: cfg.train.steps, minLrRatio: cfg.train.minLrRatio }),
    tokensPerStep: B * T,
    evalEvery: cfg.train.evalEvery,
    evaluate: async (p) => {
      const acc = [0, 0, 0];
      for (const b of evalSet) {
        const v = await (evalFn(tree.ref(p as unknown as JsTree<Array>) as never, batchArrays(b) as never) as Array).data();
        for (let i = 0; i < 3; i++) acc[i] += v[i] / evalSet.length;
      }
      return { valLoss: acc[0], valText: acc[1], valImage: acc[2] };
    },
    checkpointEvery: cfg.train.checkpointEvery,
    auxNames: ["textLoss", "imageLoss"],
    resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, arm),
  });
  trainStep.dispose();
  evalFn.dispose();
  tree.dispose(result.params as unknown as JsTree<Array>);
  tree.dispose(result.opt as unknown as JsTree<Array>);
  const rows = run.metrics<Record<string, number>>();
  const w = Math.max(1, Math.round(cfg.smoothFraction * cfg.train.steps));
  const last = (k: string) => smooth(rows.map((r) => r[k]), w).at(-1) ?? NaN;
  return {
    arm,
    params,
    steps: result.step,
    finalLoss: last("loss"),
    finalText: last("textLoss"),
    finalImage: last("imageLoss"),
    valLoss: result.lastEval.valLoss ?? NaN,
    valText: result.lastEval.valText ?? NaN,
    valImage: result.lastEval.valImage ?? NaN,
    trainSeconds: result.trainSeconds,
    secondsPerStep: result.trainSeconds / Math.max(1, result.step),
  };
}

/** Metric rows: for every non-dense arm and modality, where it reaches dense's final smoothed loss. */
export function matchTable(curves: Record<string, Record<string, number[]>>, total: number): MatchRow[] {
  const dense = curves.dense;
  const out: MatchRow[] = [];
  for (const arm of Object.keys(curves) as ArmName[]) {
    if (arm === "dense") continue;
    for (const [modality, key] of [
      ["image", "imageLoss"],
      ["text", "textLoss"],
      ["total", "loss"],
    ] as const) {
      const target = dense[key].at(-1)!;
      const r = stepsToReach(curves[arm][key], target, total);
      out.push({ arm, modality, denseFinal: target, ...r });
    }
  }
  return out;
}

function verdictsOf(match: MatchRow[], arms: ArmSummary[]): MoMSummary["verdicts"] {
  const get = (arm: ArmName, m: MatchRow["modality"]) => match.find((r) => r.arm === arm && r.modality === m);
  const pctStr = (r?: MatchRow) => (r?.pct == null ? "no step of the run (not reached)" : `${r.pct.toFixed(1)}% of the dense steps`);
  const v: MoMSummary["verdicts"] = [];
  const judge = (r: MatchRow | undefined): "reproduced" | "partly" | "not reproduced" =>
    r?.pct == null ? "not reproduced" : r.pct <= 90 ? "reproduced" : "partly";
  const img = get("mom-all", "image");
  const txt = get("mom-all", "text");
  if (!img || !txt) {
    v.push({ claim: "MoM reaches dense's final loss in fewer steps", verdict: "not run", detail: "the mom-all arm was not in the run" });
    return v;
  }
  v.push({
    claim: `Image: MoM reaches dense's final image loss with fewer steps (paper, Chameleon 1.4B: ${PAPER.chameleonImagePct}%)`,
    verdict: judge(img),
    detail: `MoM reaches it at ${pctStr(img)} (reproduced: ≤ 90%; partly: 90-100%)`,
  });
  v.push({
    claim: `Text: MoM reaches dense's final text loss with fewer steps (paper, Chameleon 1.4B: ${PAPER.chameleonTextPct}%)`,
    verdict: judge(txt),
    detail: `MoM reaches it at ${pctStr(txt)}`,
  });
  const ip = img.pct ?? Infinity;
  const tp = txt.pct ?? Infinity;
  v.push({
    claim: "Image gains more than text (smaller % for image)",
    verdict: ip < tp ? "reproduced" : "not reproduced",
    detail: `image ${pctStr(img)}, text ${pctStr(txt)}`,
  });
  const singles = arms.filter((a) => a.arm.startsWith("mom-") && a.arm !== "mom-all");
  const all = arms.find((a) => a.arm === "mom-all")!;
  if (singles.length === 0) {
    v.push({ claim: "Joint decoupling beats every single split (ablation)", verdict: "not run", detail: "no single-split arm in the run" });
  } else {
    const best = singles.reduce((a, b) => (a.finalLoss <= b.finalLoss ? a : b));
    v.push({
      claim: "Joint decoupling (all four split) beats every single split (final smoothed training loss)",
      verdict: all.finalLoss <= best.finalLoss ? "reproduced" : "not reproduced",
      detail: `mom-all ${all.finalLoss.toFixed(4)} vs best single split ${best.arm} ${best.finalLoss.toFixed(4)}; dense ${arms.find((a) => a.arm === "dense")!.finalLoss.toFixed(4)}`,
    });
  }
  return v;
}

const f4 = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? "-" : x.toFixed(4));
const pct = (x: number | null | undefined) => (x == null ? "not reached" : `${x.toFixed(1)}%`);

/** The results table (Markdown): our numbers beside the paper's, the machine, preset, wall time and verdicts. */
export function resultsMarkdown(s: MoMSummary, cfg: MoMConfig, run: RunDir, mambaParams: Record<string, number>): string {
  const meta = run.meta();
  const preset = typeof meta.preset === "string" ? meta.preset : "custom";
  const armsRun = s.arms.map((a) => a.arm).filter((a) => a !== "dense");
  const L: string[] = [];
  L.push(`Measured by \`tinyfoundry run mixture-of-mamba --preset ${preset}\` (seed ${cfg.seed}); machine: ${machineLine(meta)}; wall time ${(s.wallSeconds / 60).toFixed(1)} min.`);
  L.push("");
  L.push(
    `Setup: Mamba with D = ${cfg.model.dModel}, ${cfg.model.nLayers} layer(s) × ${cfg.model.blocksPerLayer} blocks, N = ${cfg.model.dState}, E = ${cfg.model.expand * cfg.model.dModel}; ` +
      `T = ${cfg.model.contextLength}, batch ${cfg.train.batchSize}, ${cfg.train.steps} steps, AdamW lr ${cfg.train.lr}. ` +
      `Data: ${cfg.data.imagesPerSeq} MNIST digit(s) per sequence as 49 VQ tokens each (codebook ${s.vq.codebookSize}, held-out MSE/pixel ${s.vq.valMSE.toFixed(4)}, ${(100 * s.vq.codesUsed).toFixed(0)}% of codes used) between Moby-Dick byte text; ` +
      `${(100 * s.imageTokenFraction).toFixed(0)}% of input tokens are image codes. Parameters: ${Object.entries(mambaParams).map(([k, v]) => `${k} ${v.toLocaleString("en-US")}`).join(", ")}.`,
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
    L.push(`| ${m} | ${paper} | ${armsRun.map((a) => pct(s.match.find((r) => r.arm === a && r.modality === m)?.pct)).join(" | ")} |`);
  }
  L.push("");
  L.push(`Other paper settings not run here: Transfusion image ${PAPER.transfusionImagePct}%, three-modality speech ${PAPER.speechPct}%.`);
  L.push("");
  L.push("**Final losses** (training: smoothed over the last " + `${Math.round(cfg.smoothFraction * 100)}% of steps; held-out: ${cfg.train.evalBatches} batches of validation text and digits):`);
  L.push("");
  L.push("| arm | params | train text | train image | held-out text | held-out image | held-out total | s/step |");
  L.push("|---|---|---|---|---|---|---|---|");
  for (const a of s.arms) {
    L.push(`| ${a.arm} | ${a.params.toLocaleString("en-US")} | ${f4(a.finalText)} | ${f4(a.finalImage)} | ${f4(a.valText)} | ${f4(a.valImage)} | ${f4(a.valLoss)} | ${a.secondsPerStep.toFixed(3)} |`);
  }
  L.push("");
  L.push("**Verdicts:**");
  L.push("");
  for (const v of s.verdicts) L.push(`- ${v.claim}: **${v.verdict}**. ${v.detail}.`);
  return L.join("\n") + "\n";
}

/** A strip of original digits and their VQ reconstructions (top: original, bottom: decoded codes). */
function vqStrip(data: MoMData, n = 8): Uint8Array {
  const digits = loadDigits();
  const scale = 3;
  const W = n * 28 * scale;
  const H = 2 * 28 * scale;
  const rgba = new Uint8Array(W * H * 4);
  const put = (x: number, y: number, v: number) => {
    const g = Math.max(0, Math.min(255, Math.round(255 * v)));
    for (let dy = 0; dy < scale; dy++)
      for (let dx = 0; dx < scale; dx++) {
        const o = ((y * scale + dy) * W + x * scale + dx) * 4;
        rgba[o] = rgba[o + 1] = rgba[o + 2] = g;
        rgba[o + 3] = 255;
      }
  };
  for (let j = 0; j < n; j++) {
    const idx = Math.floor((j * data.valDigits.length) / n); // spread over the labels (digits are sorted by label)
    const d = data.valDigits[idx];
    const codes = data.imageCodes.val[idx];
    for (let yy = 0; yy < 28; yy++) for (let xx = 0; xx < 28; xx++) put(j * 28 + xx, yy, digits.pixels[d * 784 + yy * 28 + xx]);
    for (let t = 0; t < TOKENS_PER_IMAGE; t++) {
      const gy = Math.floor(t / GRID);
      const gx = t % GRID;
      for (let py = 0; py < PATCH; py++)
        for (let px = 0; px < PATCH; px++) put(j * 28 + gx * PATCH + px, 28 + gy * PATCH + py, data.codebook.centroids[codes[t] * PATCH * PATCH + py * PATCH + px]);
    }
  }
  return encodePNG(W, H, rgba);
}

export async function runMixtureOfMamba(cfg: MoMConfig, ctx: ExperimentContext): Promise<MoMSummary> {
  const t0 = Date.now();
  const data = prepareMoMData({ ...cfg.data }, cfg.seed);
  ctx.log(`data: ${data.trainDigits.length} train / ${data.valDigits.length} val digits, codebook ${cfg.data.codebookSize} (held-out MSE ${data.vqValMSE.toFixed(4)}), vocab ${data.vocab.size}`);
  ctx.run.writeJson("data.json", {
    corpus: data.corpus,
    vocab: data.vocab,
    valFraction: cfg.data.valFraction,
    valDigits: data.valDigits,
    vqValMSE: data.vqValMSE,
    codesUsed: data.codesUsed,
    codebook: Array.from(data.codebook.centroids),
  });
  const arms = ARMS.filter((a) => cfg.arms.includes(a));
  const summaries: ArmSummary[] = [];
  for (const arm of arms) {
    ctx.log(`arm ${arm}`);
    summaries.push(await runArm(ctx, arm, { ...cfg, arm }, (run, resume) => trainArm(arm, cfg, data, run, resume, ctx)));
  }
  const w = Math.max(1, Math.round(cfg.smoothFraction * cfg.train.steps));
  const raw: Record<string, Record<string, number[]>> = {};
  const curves: Record<string, Record<string, number[]>> = {};
  for (const arm of arms) {
    const rows = openRun(ctx.run.path("arms", arm)).metrics<Record<string, number>>();
    raw[arm] = {};
    curves[arm] = {};
    for (const k of ["loss", "textLoss", "imageLoss"]) {
      raw[arm][k] = rows.map((r) => r[k]);
      curves[arm][k] = smooth(raw[arm][k], w);
    }
  }
  const match = matchTable(curves, cfg.train.steps);
  const counts = routingCounts(cfg);
  const V = data.vocab.size;
  const mc = mambaConfigOf(cfg, V);
  const summary: MoMSummary = {
    arms: summaries,
    match,
    verdicts: verdictsOf(match, summaries),
    vq: { codebookSize: cfg.data.codebookSize, valMSE: data.vqValMSE, codesUsed: data.codesUsed },
    imageTokenFraction: counts[1] / (counts[0] + counts[1]),
    wallSeconds: (Date.now() - t0) / 1000,
  };
  const sizes: Record<string, number> = {};
  for (const a of summaries) sizes[a.arm] = a.params;
  const md = resultsMarkdown(summary, cfg, ctx.run, sizes);
  writeFileSync(ctx.run.path("results.md"), md);
  const vqPng = vqStrip(data);
  writeFileSync(`${ctx.run.samplesDir}/vq-digits.png`, vqPng);

  // Report: per-modality curves of every arm, the metric as bars, the results table, each arm's run.
  const blocks: Block[] = [];
  for (const [k, title] of [
    ["imageLoss", "image loss (training, smoothed)"],
    ["textLoss", "text loss (training, smoothed)"],
  ] as const) {
    blocks.push({
      kind: "chart",
      name: `curves-${k}`,
      spec: lineChartSpec({ title, xLabel: "step", yLabel: "loss (nats/token)", series: arms.map((a) => ({ name: a, points: curves[a][k].map((v, i) => [i + 1, v] as [number, number]) })) }),
    });
  }
  const bars = match.filter((r) => r.modality !== "total" && r.pct != null).map((r) => ({ label: r.arm, value: r.pct!, group: r.modality }));
  if (bars.length) blocks.push({ kind: "chart", name: "steps-to-match", spec: barChartSpec({ title: "% of dense steps to reach dense's final loss", bars, yLabel: "% of steps" }) });
  const sections: Section[] = [
    { heading: "Results", blocks: [{ kind: "text", text: md }] },
    { heading: "Per-modality training curves", blocks },
    { heading: "VQ tokens of held-out digits", blocks: [{ kind: "image", name: "vq-digits", png: vqPng, caption: "top: digits; bottom: decoded from their 49 VQ codes" }] },
  ];
  for (const arm of arms) sections.push(...runSections(openRun(ctx.run.path("arms", arm)), arm).map((s) => ({ ...s, heading: `${arm}: ${s.heading}` })));
  await writeReport({ title: "Mixture-of-Mamba (arXiv 2501.16295): dense vs modality-aware Mamba", subtitle: `mamba block params ${mambaBlockParams(mc).toLocaleString("en-US")} (dense)`, sections }, ctx.run.dir);
  ctx.run.writeSummary(summary as unknown as Record<string, unknown>);
  return summary;
}

export { MODALITY_NAMES };
