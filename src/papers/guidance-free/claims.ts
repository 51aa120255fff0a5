/**
 * The guidance-free claims, written before any run and judged on the summary (pure: no I/O, no tensors).
 *
 * - "GFT matches CFG" (per family, GFT from scratch) and "fine-tuning matches quickly" (per family, GFT
 *   fine-tuned from the CFG model) compare, at each guided scale w > 1 separately, GFT at β = 1/w with CFG at w.
 *   The floor at w is the distance between independently trained CFG models (init and data seeds) at w; a
 *   second sampling seed of one model is not a floor. Gates: at least two trained CFG models, and a guidance
 *   benefit to match (CFG's best w beats w = 1 by more than the noise).
 * - "Half the network evaluations" is exact: NFE per sample, GFT over CFG at the same w > 1.
 */
import { defineClaim, gate, judge, type ClaimResult, type ClaimSpec, type Gate, type RuleVerdict } from "../../train/claims.js";
import { seedSpread } from "../../train/stats.js";
import type { GuidanceFreeConfig } from "./config.js";
import { guidedScales, meanOf, type Family, type GuidanceFreeSummary, type PartKey, type PartSummary, type SampleRow } from "./summary.js";

/** "Quickly": at most this fraction of the CFG model's pre-training steps (twice the paper's upper 5 %). */
export const QUICK_FRACTION = 0.1;

const BUDGET = "equal training steps, batch and data stream for CFG and GFT from scratch; the same sampler steps and samples per class at every w";

const matchSpec = (key: PartKey, id: string, what: string, paperValue: string) =>
  defineClaim({
    id,
    paper: `GFT trained from scratch, sampled with one pass at β = 1/w, matches CFG at guidance scale w (${what}).`,
    paperValue,
    metric: key === "mixture" ? "MMD² (per class, averaged) between GFT at β = 1/w and the CFG model at w, at each w > 1" : "|FD(GFT at β = 1/w) − FD(CFG at w)| at each w > 1 (Fréchet distance of classifier features, an FID substitute)",
    arms: [`${key}-cfg`, `${key}-gft-scratch`, "a second independently trained CFG model (the floor)"],
    budget: BUDGET,
    rule: "at each w > 1, GFT matches when its distance to CFG@w is within the distance between two independently trained CFG models at w: every w reproduced, some w partly, none not reproduced; farther from CFG@w than the unguided CFG@1 is, by more than that floor, at every w: opposite",
  });

const finetuneSpec = (key: PartKey, id: string, what: string, paperValue: string) =>
  defineClaim({
    id,
    paper: `GFT fine-tuned from a trained CFG model for a few per cent of its pre-training matches CFG at every guidance scale (${what}).`,
    paperValue,
    metric: key === "mixture" ? "MMD² between the fine-tuned GFT model at β = 1/w and the CFG model at w, at each w > 1" : "|FD(fine-tuned GFT at β = 1/w) − FD(CFG at w)| at each w > 1",
    arms: [`${key}-cfg`, `${key}-gft-finetune (starts from ${key}-cfg)`, "a second independently trained CFG model (the floor)"],
    budget: "fine-tuning steps as a fraction of the CFG model's pre-training steps (the paper: 1-5 % of the epochs); same sampler settings",
    rule: `as the match claim, per w > 1 against the trained-CFG floor; a match at every w after more than ${100 * QUICK_FRACTION} % of pre-training counts as partly; farther from CFG@w than its starting point (the CFG model unguided) at every w: opposite`,
  });

export const GF_CLAIMS: Record<string, ClaimSpec> = {
  "match-2d": matchSpec("mixture", "match-2d", "2-D Gaussian mixtures", "Theorem 1: the same sampling distribution as CFG (Table 4, DiT-B/2 from scratch: FID 9.04 vs CFG 9.72)"),
  "match-digits": matchSpec("digits", "match-digits", "digits, diffusion", "Table 4, DiT-B/2 from scratch: FID 9.04 (GFT) vs 9.72 (CFG)"),
  "match-ar": matchSpec("ar", "match-ar", "digits, autoregressive", "Table 4, LlamaGen-L from scratch: FID 2.52 (GFT) vs 3.06 (CFG)"),
  "finetune-2d": finetuneSpec("mixture", "finetune-2d", "2-D Gaussian mixtures", "Table 2, DiT-XL/2 fine-tuned ~2 % of pre-training: FID 1.99 (GFT) vs 2.11 (CFG)"),
  "finetune-digits": finetuneSpec("digits", "finetune-digits", "digits, diffusion", "Table 2, DiT-XL/2 fine-tuned ~2 % of pre-training: FID 1.99 (GFT) vs 2.11 (CFG)"),
  "finetune-ar": finetuneSpec("ar", "finetune-ar", "digits, autoregressive", "Table 2, LlamaGen-3B fine-tuned 15 epochs: FID 2.21 (GFT) vs 2.22 (CFG)"),
  "nfe-halved": defineClaim({
    id: "nfe-halved",
    paper: "A GFT model samples with one network evaluation per step where CFG needs two, halving the sampling cost.",
    paperValue: "1 vs 2 NFE per step (50 % saving)",
    metric: "network evaluations per sample, GFT at β = 1/w over CFG at w, every w > 1 and every family (exact count)",
    arms: ["CFG", "GFT from scratch", "GFT fine-tuned"],
    budget: "the same sampler steps (DDIM steps, or tokens) at every w",
    rule: "ratio at most 0.5 in every family: reproduced; between 0.5 and 1: partly; 1: not reproduced; above 1: opposite",
  }),
};

// ---------------------------------------------------------------------------------------------
// Per-w comparison against the trained-CFG floor
// ---------------------------------------------------------------------------------------------

const finiteOr0 = (x: number) => (Number.isFinite(x) ? x : 0);
const cfgRows = (p: PartSummary, w: number) => p.eval.rows.filter((r) => r.family === "CFG" && r.w === w);
const cfgSeeds = (p: PartSummary) => [...new Set(p.eval.rows.filter((r) => r.family === "CFG").map((r) => r.trainSeed))];

/** One guided scale: the family's distance to CFG@w (mean over its trained seeds), the floor, and how far guidance moves CFG. */
export type MatchAtW = { w: number; gap: number; gapPerSeed: number[]; floor: number | null; movement: number; matched: boolean | null; away: boolean | null };

function matchAtW(key: PartKey, p: PartSummary, family: Family, w: number, refSeed: number): MatchAtW {
  const rows = p.eval.rows.filter((r) => r.family === family && r.w === w);
  let gapPerSeed: number[];
  let floor: number | null;
  let movement: number;
  if (key === "mixture") {
    // Distances are MMD² to the reference CFG model's samples at w; other trained CFG models give the floor.
    gapPerSeed = rows.map((r) => r.mmdToCFG ?? NaN);
    const others = cfgRows(p, w).filter((r) => r.trainSeed !== refSeed);
    // MMD² is unbiased and can dip below 0 at no difference: a distance below 0 counts as 0.
    floor = others.length ? Math.max(0, ...others.map((r) => r.mmdToCFG ?? NaN)) : null;
    movement = cfgRows(p, w).find((r) => r.trainSeed === refSeed)?.mmdCondToCFG ?? NaN;
  } else {
    const fdCFG = (v: number) => meanOf(cfgRows(p, v).map((r) => r.fd ?? NaN));
    gapPerSeed = rows.map((r) => Math.abs((r.fd ?? NaN) - fdCFG(w)));
    const fds = cfgRows(p, w).map((r) => r.fd ?? NaN);
    floor = fds.length >= 2 ? seedSpread(fds) : null;
    movement = Math.abs(fdCFG(1) - fdCFG(w));
  }
  const gap = meanOf(gapPerSeed);
  if (floor !== null && !Number.isFinite(floor)) floor = null;
  const ok = floor !== null && Number.isFinite(gap);
  return { w, gap, gapPerSeed, floor, movement, matched: ok ? gap <= floor! : null, away: ok ? gap - movement > floor! : null };
}

/** The per-w comparison of a family's GFT model with CFG (also drawn by the report). */
export function matchByW(summary: GuidanceFreeSummary, key: PartKey, family: Family): MatchAtW[] {
  const p = summary[key];
  if (!p) return [];
  return guidedScales(p.eval.rows)
    .filter((w) => p.eval.rows.some((r) => r.family === family && r.w === w))
    .map((w) => matchAtW(key, p, family, w, summary.seed));
}

/** CFG's guidance benefit on the family's quality metric, and the noise it must clear. */
export function guidanceBenefit(key: PartKey, p: PartSummary | undefined): { benefit: number | null; noise: number; bestW: number | null } {
  if (!p) return { benefit: null, noise: 0, bestW: null };
  const ws = guidedScales(p.eval.rows);
  if (key === "mixture") {
    // Higher Bayes-classifier accuracy of samples (the IS analogue); noise: 2 binomial SE of the difference, or the CFG seed spread at w = 1.
    const acc = (w: number) => meanOf(cfgRows(p, w).map((r) => r.accuracy));
    const n = (w: number) => cfgRows(p, w).reduce((s, r) => s + r.samples, 0);
    const bestW = ws.length ? ws.reduce((b, w) => (acc(w) > acc(b) ? w : b)) : null;
    if (bestW === null) return { benefit: null, noise: 0, bestW };
    const se = (w: number) => Math.sqrt((acc(w) * (1 - acc(w))) / Math.max(n(w), 1));
    const spread = cfgRows(p, 1).length >= 2 ? seedSpread(cfgRows(p, 1).map((r) => r.accuracy)) : 0;
    return { benefit: acc(bestW) - acc(1), noise: finiteOr0(Math.max(2 * Math.hypot(se(1), se(bestW)), spread)), bestW };
  }
  // Lower Fréchet distance (the FID substitute); noise: FD between two real sample sets of the same size, or the CFG seed spread at w = 1.
  const fd = (w: number) => meanOf(cfgRows(p, w).map((r) => r.fd ?? NaN));
  const bestW = ws.length ? ws.reduce((b, w) => (fd(w) < fd(b) ? w : b)) : null;
  if (bestW === null) return { benefit: null, noise: 0, bestW };
  const spread = cfgRows(p, 1).length >= 2 ? seedSpread(cfgRows(p, 1).map((r) => r.fd ?? NaN)) : 0;
  const noise = Math.max(p.eval.realVsReal?.fd ?? NaN, spread);
  return { benefit: fd(1) - fd(bestW), noise: finiteOr0(noise), bestW };
}

function baseGates(key: PartKey, p: PartSummary | undefined): Gate[] {
  const b = guidanceBenefit(key, p);
  const what = key === "mixture" ? "Bayes accuracy at CFG's best w minus at w = 1, must exceed max(2 SE, CFG seed spread)" : "FD at w = 1 minus at CFG's best w, must exceed max(real-vs-real FD, CFG seed spread)";
  return [
    gate("independently trained CFG models for the floor (one until a second is trained, issue 21)", p ? cfgSeeds(p).length : null, ">=", 2),
    gate(`CFG guidance benefit (${what})`, b.benefit, ">", b.noise),
  ];
}

const UNIT: Record<PartKey, string> = { mixture: "MMD² to CFG@w", digits: "FD difference to CFG@w", ar: "FD difference to CFG@w" };
const num = (x: number) => (Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3));

/** The per-w rule shared by the match and fine-tune claims. */
export function perWRule(per: MatchAtW[], what: string): { verdict: RuleVerdict; why: string } {
  const list = per.map((m) => `w=${m.w}: ${num(m.gap)} vs floor ${m.floor === null ? "-" : num(m.floor)}`).join(", ");
  const matched = per.filter((m) => m.matched).length;
  if (per.length && matched === per.length) return { verdict: "reproduced", why: `${what} is within the trained-CFG floor at every w (${list}).` };
  if (per.length && per.every((m) => m.away)) return { verdict: "opposite", why: `${what} is farther from CFG@w than the unguided CFG model, beyond the floor, at every w (${list}).` };
  if (matched > 0) return { verdict: "partly", why: `${what} is within the trained-CFG floor at ${matched} of ${per.length} guidance scales (${list}).` };
  return { verdict: "not reproduced", why: `${what} is beyond the trained-CFG floor at every w (${list}).` };
}

/** "ours": the largest per-w distance (the worst w), mean over the family's trained seeds, with the floor at that w. */
function worst(per: MatchAtW[], key: PartKey, seeds: number[]) {
  const finite = per.filter((m) => Number.isFinite(m.gap));
  if (!finite.length) return { ours: null, floor: null };
  const m = finite.reduce((a, b) => (b.gap > a.gap ? b : a));
  const se = m.gapPerSeed.length >= 2 ? Math.sqrt(m.gapPerSeed.reduce((s, g) => s + (g - m.gap) ** 2, 0) / (m.gapPerSeed.length - 1) / m.gapPerSeed.length) : null;
  return { ours: { value: m.gap, se, seeds, unit: `${UNIT[key]} at w = ${m.w} (largest over w)` }, floor: m.floor };
}

const familySeeds = (p: PartSummary | undefined, f: Family) => (p ? [...new Set(p.eval.rows.filter((r) => r.family === f).map((r) => r.trainSeed))] : []);

function matchClaim(s: GuidanceFreeSummary, key: PartKey, id: string): ClaimResult {
  const per = matchByW(s, key, "GFT scratch");
  const w = worst(per, key, familySeeds(s[key], "GFT scratch"));
  return judge(GF_CLAIMS[id], { gates: baseGates(key, s[key]), ours: w.ours, floor: w.floor, rule: () => perWRule(per, "GFT from scratch at β = 1/w") });
}

function finetuneClaim(s: GuidanceFreeSummary, key: PartKey, id: string): ClaimResult {
  const p = s[key];
  const ft = p?.arms.gftFinetune;
  const fraction = p && ft && p.arms.cfg ? ft.steps / p.arms.cfg.steps : null;
  const per = matchByW(s, key, "GFT fine-tuned");
  const w = worst(per, key, familySeeds(p, "GFT fine-tuned"));
  const gates = [...baseGates(key, p), gate("GFT fine-tuned arm trained (steps)", p ? (ft?.steps ?? 0) : null, ">", 0)];
  return judge(GF_CLAIMS[id], {
    gates,
    ours: w.ours,
    floor: w.floor,
    rule: () => {
      const what = `GFT fine-tuned for ${ft?.steps} steps (${num(100 * (fraction ?? NaN))} % of pre-training) at β = 1/w`;
      const r = perWRule(per, what);
      if (r.verdict === "reproduced" && (fraction ?? Infinity) > QUICK_FRACTION) return { verdict: "partly", why: `${r.why} It took more than ${100 * QUICK_FRACTION} % of pre-training, not a few per cent.` };
      return r;
    },
  });
}

/** NFE per sample of GFT over CFG at the same w > 1, per family (largest over w and GFT models). */
export function nfeRatios(s: GuidanceFreeSummary): { key: PartKey; ratio: number; timeRatio: number }[] {
  const out: { key: PartKey; ratio: number; timeRatio: number }[] = [];
  for (const key of ["mixture", "digits", "ar"] as const) {
    const rows = s[key]?.eval.rows ?? [];
    const pairs: [SampleRow, SampleRow][] = [];
    for (const g of rows.filter((r) => (r.family === "GFT scratch" || r.family === "GFT fine-tuned") && r.w > 1)) {
      const c = rows.find((r) => r.family === "CFG" && r.w === g.w && r.trainSeed === g.trainSeed) ?? rows.find((r) => r.family === "CFG" && r.w === g.w);
      if (c) pairs.push([g, c]);
    }
    if (!pairs.length) continue;
    const scratch = pairs.filter(([g]) => g.family === "GFT scratch");
    out.push({
      key,
      ratio: Math.max(...pairs.map(([g, c]) => g.nfe / c.nfe)),
      timeRatio: meanOf(scratch.map(([g]) => g.msPerSample)) / meanOf(scratch.map(([, c]) => c.msPerSample)),
    });
  }
  return out;
}

function nfeClaim(s: GuidanceFreeSummary): ClaimResult {
  const rs = nfeRatios(s);
  const max = rs.length ? Math.max(...rs.map((r) => r.ratio)) : null;
  return judge(GF_CLAIMS["nfe-halved"], {
    gates: [gate("families sampled at w > 1 by CFG and GFT", rs.length, ">=", 1)],
    ours: max === null ? null : { value: max, se: null, seeds: [s.seed], unit: "GFT/CFG network evaluations per sample (largest over families)" },
    rule: () => {
      const list = `${rs.map((r) => `${r.key} ${num(r.ratio)}`).join(", ")}; wall time per sample GFT/CFG ${rs.map((r) => `${r.key} ${num(r.timeRatio)}`).join(", ")} (one measurement, not judged)`;
      const eps = 1e-9;
      if (max! <= 0.5 + eps) return { verdict: "reproduced", why: `GFT needs at most half of CFG's network evaluations in every family (${list}).` };
      if (max! > 1 + eps) return { verdict: "opposite", why: `GFT needs more network evaluations than CFG in some family (${list}).` };
      if (max! >= 1 - eps) return { verdict: "not reproduced", why: `GFT saves no network evaluations in some family (${list}).` };
      return { verdict: "partly", why: `GFT saves network evaluations, but less than half in some family (${list}).` };
    },
  });
}

/** Every claim of the experiment, judged on the summary (a family that did not run gives not testable). */
export function guidanceFreeClaims(s: GuidanceFreeSummary, _cfg?: GuidanceFreeConfig): ClaimResult[] {
  return [
    matchClaim(s, "mixture", "match-2d"),
    matchClaim(s, "digits", "match-digits"),
    matchClaim(s, "ar", "match-ar"),
    finetuneClaim(s, "mixture", "finetune-2d"),
    finetuneClaim(s, "digits", "finetune-digits"),
    finetuneClaim(s, "ar", "finetune-ar"),
    nfeClaim(s),
  ];
}
