/**
 * The guidance-free claims, written before any run and judged on the summary (pure: no I/O, no tensors).
 *
 * Every family (2-D mixtures, digits diffusion, digits autoregressive) trains two CFG models with different
 * init and data seeds; their distance is the floor of every "GFT matches CFG" comparison, made at each guided
 * scale w > 1 separately and reported per w, never summed:
 * - "match" (sampling test): GFT from scratch sampled at β = 1/w against CFG sampled at w (2-D: MMD² to the
 *   pooled samples of the two CFG models; digits: FD difference to their mean FD);
 * - "functional" (noise-free test): on fixed inputs, GFT's ε (per-token next-token law for the AR model) at
 *   β = 1/w against the midpoint of the two CFG models' guided ε (logits) at w;
 * - "fine-tune": GFT fine-tuned from the first CFG model at its pre-training rate, judged by the functional test
 *   along a curve of fine-tuning steps as a fraction of pre-training.
 * Gates, per family: two trained CFG models; a guidance benefit to match (CFG's best w beats w = 1 on the
 * family's quality metric by more than the noise and the seed spread); and, per test, at least one w where
 * guidance moves CFG's output by more than the floor (otherwise "within the floor" would not tell GFT from an
 * unguided model). "Half the network evaluations" is exact: NFE per sample, GFT over CFG at the same w > 1.
 */
import { defineClaim, gate, judge, type ClaimResult, type ClaimSpec, type Gate, type RuleVerdict } from "../../train/claims.js";
import { seedSpread } from "../../train/stats.js";
import type { GuidanceFreeConfig } from "./config.js";
import { guidedScales, meanOf, type Family, type FunctionalSummary, type GuidanceFreeSummary, type PartKey, type PartSummary, type SampleRow } from "./summary.js";

/** "Quickly": a match at every w within this fraction of the CFG model's pre-training steps (twice the paper's upper 5 %). */
export const QUICK_FRACTION = 0.1;

const BUDGET = "equal training steps, batch and data stream for the CFG models and GFT from scratch; the same sampler steps and samples per class at every w";
const FLOOR_ARMS = "a second CFG model trained with other init and data seeds (the floor)";
const FAMILY: Record<PartKey, string> = { mixture: "2-D Gaussian mixtures", digits: "digits, diffusion", ar: "digits, autoregressive" };
const FUNCTIONAL_METRIC: Record<PartKey, string> = {
  mixture: "mean squared difference of ε on fixed (x_t, t, c) inputs",
  digits: "mean squared difference of ε on fixed (x_t, t, c) inputs",
  ar: "per-token KL divergence of the next-token law on held-out digit prefixes (teacher-forced)",
};
const PER_W_RULE =
  "at each w > 1 where guidance moves CFG's output by more than the floor, GFT matches when its distance to the CFG pair's midpoint at w is within the distance between the two CFG models at w: every such w reproduced, some partly, none not reproduced; farther from CFG@w than the unguided CFG models are, by more than the floor, at every such w: opposite";

const matchSpec = (key: PartKey, paperValue: string) =>
  defineClaim({
    id: `match-${key === "mixture" ? "2d" : key}`,
    paper: `GFT trained from scratch, sampled with one pass at β = 1/w, matches CFG at guidance scale w (${FAMILY[key]}; sampling test).`,
    paperValue,
    metric:
      key === "mixture"
        ? "MMD² (per class, averaged) between GFT samples at β = 1/w and the pooled samples of the two CFG models at w, at each w > 1"
        : "|FD(GFT at β = 1/w) − mean FD of the two CFG models at w| at each w > 1 (Fréchet distance of classifier features, an FID substitute)",
    arms: [`${key}-cfg`, `${key}-gft-scratch`, FLOOR_ARMS],
    budget: BUDGET,
    rule: PER_W_RULE,
  });

const functionalSpec = (key: PartKey, paperValue: string) =>
  defineClaim({
    id: `functional-${key === "mixture" ? "2d" : key}`,
    paper: `The GFT sampling model at β = 1/w computes CFG's guided prediction at w (${FAMILY[key]}; noise-free functional test).`,
    paperValue,
    metric: `${FUNCTIONAL_METRIC[key]}: GFT from scratch at β = 1/w against the midpoint of the two CFG models at w, at each w > 1`,
    arms: [`${key}-cfg`, `${key}-gft-scratch`, FLOOR_ARMS],
    budget: BUDGET,
    rule: `${PER_W_RULE}. A model drawn like a third CFG seed is expected at about 3/4 of the floor`,
  });

const finetuneSpec = (key: PartKey, paperValue: string) =>
  defineClaim({
    id: `finetune-${key === "mixture" ? "2d" : key}`,
    paper: `GFT fine-tuned from a trained CFG model for a few per cent of its pre-training matches CFG at every guidance scale (${FAMILY[key]}).`,
    paperValue,
    metric: `${FUNCTIONAL_METRIC[key]}: the fine-tuned model at β = 1/w against the CFG midpoint at w, along fine-tuning (curve against the fraction of pre-training steps)`,
    arms: [`${key}-cfg`, `${key}-gft-finetune (starts from ${key}-cfg, at the pre-training learning rate)`, FLOOR_ARMS],
    budget: "fine-tuning steps as a fraction of the CFG model's pre-training steps (a GFT update costs one extra forward pass, about 4/3 of a CFG update); the paper: 1-5 % of the epochs",
    rule: `per w as the functional test, at the end of fine-tuning; reproduced when the curve is within the floor at every w by ${100 * QUICK_FRACTION} % of pre-training; a match reached later is partly; farther from CFG@w than its starting point (the CFG model unguided), by more than the floor, at every w: opposite`,
  });

const T4_DIT = "Table 4, DiT-B/2 from scratch: FID 9.04 (GFT) vs 9.72 (CFG)";
const T4_LLAMA = "Table 4, LlamaGen-L from scratch: FID 2.52 (GFT) vs 3.06 (CFG)";
const THM = "Theorem 1: the GFT optimum is CFG's guided model, ε^s = ε^c + (1/β − 1)(ε^c − ε^u)";
const THM_AR = "the logit form of Theorem 1: ℓ^s = ℓ^c + (1/β − 1)(ℓ^c − ℓ^u) up to a per-position constant";

export const GF_CLAIMS: Record<string, ClaimSpec> = {
  "match-2d": matchSpec("mixture", `${THM} (same sampling distribution as CFG); ${T4_DIT}`),
  "match-digits": matchSpec("digits", T4_DIT),
  "match-ar": matchSpec("ar", T4_LLAMA),
  "functional-2d": functionalSpec("mixture", THM),
  "functional-digits": functionalSpec("digits", THM),
  "functional-ar": functionalSpec("ar", THM_AR),
  "finetune-2d": finetuneSpec("mixture", "Table 2, DiT-XL/2 fine-tuned ~2 % of pre-training: FID 1.99 (GFT) vs 2.11 (CFG)"),
  "finetune-digits": finetuneSpec("digits", "Table 2, DiT-XL/2 fine-tuned ~2 % of pre-training: FID 1.99 (GFT) vs 2.11 (CFG)"),
  "finetune-ar": finetuneSpec("ar", "Table 2, LlamaGen-3B fine-tuned 15 epochs: FID 2.21 (GFT) vs 2.22 (CFG)"),
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

/**
 * One guided scale: the distance of a GFT model to CFG@w, the floor (the two CFG models' distance), how far
 * guidance moves CFG (w = 1 to w), whether the scale can decide (movement beyond the floor), and the outcome.
 */
export type MatchAtW = { w: number; gap: number; floor: number | null; movement: number; decided: boolean; matched: boolean | null; away: boolean | null };

/** The per-w outcome from gap, floor and movement; `reference` is what "opposite" is measured from (default: the movement). */
export function compareAtW(w: number, gap: number, floor: number | null, movement: number, reference = movement): MatchAtW {
  const f = floor !== null && Number.isFinite(floor) ? Math.max(0, floor) : null;
  const ok = f !== null && Number.isFinite(gap);
  const decided = f !== null && Number.isFinite(movement) && movement > f;
  return { w, gap, floor: f, movement, decided, matched: ok ? gap <= f! : null, away: ok ? gap - reference > f! : null };
}

/** The sampling test of a family's GFT model at each w > 1. */
export function matchByW(summary: GuidanceFreeSummary, key: PartKey, family: Family): MatchAtW[] {
  const p = summary[key];
  if (!p) return [];
  return guidedScales(p.eval.rows)
    .filter((w) => p.eval.rows.some((r) => r.family === family && r.w === w))
    .map((w) => {
      const row = p.eval.rows.find((r) => r.family === family && r.w === w)!;
      const cfgs = cfgRows(p, w);
      if (key === "mixture") {
        // MMD² is unbiased and can dip below 0 at no difference; a CFG model's mmdToCFG is to the other CFG model.
        const floor = cfgs.length >= 2 ? Math.max(...cfgs.map((r) => r.mmdToCFG ?? NaN)) : null;
        return compareAtW(w, Math.max(0, row.mmdToCFG ?? NaN), floor, cfgs[0]?.mmdCondToCFG ?? NaN);
      }
      const fdCFG = (v: number) => meanOf(cfgRows(p, v).map((r) => r.fd ?? NaN));
      const floor = cfgs.length >= 2 ? seedSpread(cfgs.map((r) => r.fd ?? NaN)) : null;
      return compareAtW(w, Math.abs((row.fd ?? NaN) - fdCFG(w)), floor, Math.abs(fdCFG(1) - fdCFG(w)));
    });
}

/** The functional test of a family's GFT model at each w > 1 (the fine-tuned model: "opposite" is measured from its start). */
export function functionalByW(f: FunctionalSummary | undefined, family: Family): MatchAtW[] {
  if (!f) return [];
  return f.rows
    .filter((r) => r.gaps[family] !== undefined)
    .map((r) => compareAtW(r.w, r.gaps[family]!, Number.isFinite(r.floor) ? r.floor : null, r.movement, family === "GFT fine-tuned" ? r.start : r.movement));
}

/** The first point of the fine-tuning curve within the floor at every deciding w (null: never). */
export function firstMatch(f: FunctionalSummary | undefined): { step: number; fraction: number } | null {
  if (!f?.finetuneCurve) return null;
  const decided = f.rows.map((r) => Number.isFinite(r.floor) && r.movement > r.floor);
  for (const pt of f.finetuneCurve) {
    if (f.rows.every((r, i) => !decided[i] || pt.gaps[i] <= r.floor) && decided.some(Boolean)) return { step: pt.step, fraction: pt.fraction };
  }
  return null;
}

/** CFG's guidance benefit on the family's quality metric, and the noise it must clear. */
export function guidanceBenefit(key: PartKey, p: PartSummary | undefined): { benefit: number | null; noise: number; spread: number; bestW: number | null } {
  if (!p) return { benefit: null, noise: 0, spread: 0, bestW: null };
  const ws = guidedScales(p.eval.rows);
  const spreadAt = (w: number, f: (r: SampleRow) => number) => (cfgRows(p, w).length >= 2 ? seedSpread(cfgRows(p, w).map(f)) : 0);
  if (key === "mixture") {
    // Higher Bayes-classifier accuracy of samples (the IS analogue); noise: 2 binomial SE of the difference and the CFG seed spread.
    const acc = (w: number) => meanOf(cfgRows(p, w).map((r) => r.accuracy));
    const n = (w: number) => cfgRows(p, w).reduce((s, r) => s + r.samples, 0);
    const bestW = ws.length ? ws.reduce((b, w) => (acc(w) > acc(b) ? w : b)) : null;
    if (bestW === null) return { benefit: null, noise: 0, spread: 0, bestW };
    const se = (w: number) => Math.sqrt((acc(w) * (1 - acc(w))) / Math.max(n(w), 1));
    const spread = finiteOr0(Math.max(spreadAt(1, (r) => r.accuracy), spreadAt(bestW, (r) => r.accuracy)));
    return { benefit: acc(bestW) - acc(1), noise: finiteOr0(Math.max(2 * Math.hypot(se(1), se(bestW)), spread)), spread, bestW };
  }
  // Lower Fréchet distance (the FID substitute); noise: FD between two real sample sets of the same size and the CFG seed spread.
  const fd = (w: number) => meanOf(cfgRows(p, w).map((r) => r.fd ?? NaN));
  const bestW = ws.length ? ws.reduce((b, w) => (fd(w) < fd(b) ? w : b)) : null;
  if (bestW === null) return { benefit: null, noise: 0, spread: 0, bestW };
  const spread = finiteOr0(Math.max(spreadAt(1, (r) => r.fd ?? NaN), spreadAt(bestW, (r) => r.fd ?? NaN)));
  return { benefit: fd(1) - fd(bestW), noise: finiteOr0(Math.max(p.eval.realVsReal?.fd ?? NaN, spread)), spread, bestW };
}

function familyGates(key: PartKey, p: PartSummary | undefined, per: MatchAtW[], test: string): Gate[] {
  const b = guidanceBenefit(key, p);
  const what = key === "mixture" ? "Bayes accuracy at CFG's best w minus at w = 1, must exceed max(2 SE, CFG seed spread)" : "FD at w = 1 minus at CFG's best w, must exceed max(real-vs-real FD, CFG seed spread)";
  return [
    gate("independently trained CFG models (init and data seeds) for the floor", p ? cfgSeeds(p).length : null, ">=", 2),
    gate(`CFG guidance benefit (${what})`, b.benefit, ">", b.noise),
    gate(`guided scales where guidance moves CFG beyond the trained-CFG floor (${test})`, p && per.length ? per.filter((m) => m.decided).length : null, ">=", 1),
  ];
}

const num = (x: number) => (Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3));
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const listOf = (per: MatchAtW[]) => per.map((m) => `w=${m.w}: ${num(m.gap)} vs floor ${m.floor === null ? "-" : num(m.floor)}${m.decided ? "" : " (guidance moves CFG less than the floor: not deciding)"}`).join(", ");

/** The per-w rule shared by the match, functional and fine-tune claims; only deciding scales count. */
export function perWRule(per: MatchAtW[], what: string): { verdict: RuleVerdict; why: string } {
  const list = listOf(per);
  const dec = per.filter((m) => m.decided);
  const matched = dec.filter((m) => m.matched).length;
  if (dec.length && matched === dec.length) return { verdict: "reproduced", why: `${what} is within the trained-CFG floor at every deciding w (${list}).` };
  if (dec.length && dec.every((m) => m.away)) return { verdict: "opposite", why: `${what} is farther from CFG@w than its unguided reference, beyond the floor, at every deciding w (${list}).` };
  if (matched > 0) return { verdict: "partly", why: `${what} is within the trained-CFG floor at ${matched} of ${dec.length} deciding guidance scales (${list}).` };
  return { verdict: "not reproduced", why: `${what} is beyond the trained-CFG floor at every deciding w (${list}).` };
}

/** "ours": the distance at the deciding w with the largest distance-to-floor ratio, with the floor at that w. */
function worst(per: MatchAtW[], seeds: number[], unit: string) {
  const cand = per.filter((m) => Number.isFinite(m.gap) && (m.decided || !per.some((x) => x.decided)));
  if (!cand.length) return { ours: null, floor: null };
  const ratio = (m: MatchAtW) => (m.floor && m.floor > 0 ? m.gap / m.floor : m.gap > 0 ? Infinity : 0);
  const m = cand.reduce((a, b) => (ratio(b) > ratio(a) ? b : a));
  return { ours: { value: m.gap, se: null, seeds, unit: `${unit} at w = ${m.w} (the deciding w farthest from its floor)` }, floor: m.floor };
}

const familySeeds = (p: PartSummary | undefined, f: Family) => (p ? [...new Set(p.eval.rows.filter((r) => r.family === f).map((r) => r.trainSeed))] : []);
const MATCH_UNIT: Record<PartKey, string> = { mixture: "MMD² to the CFG pair", digits: "|ΔFD| to the CFG pair", ar: "|ΔFD| to the CFG pair" };
const FUNC_UNIT: Record<PartKey, string> = { mixture: "ε mean squared difference to the CFG midpoint", digits: "ε mean squared difference to the CFG midpoint", ar: "per-token KL (nats) from the CFG midpoint" };

function matchClaim(s: GuidanceFreeSummary, key: PartKey): ClaimResult {
  const per = matchByW(s, key, "GFT scratch");
  const w = worst(per, familySeeds(s[key], "GFT scratch"), MATCH_UNIT[key]);
  return judge(GF_CLAIMS[`match-${key === "mixture" ? "2d" : key}`], { gates: familyGates(key, s[key], per, "sampling test"), ours: w.ours, floor: w.floor, rule: () => perWRule(per, "GFT from scratch sampled at β = 1/w") });
}

function functionalClaim(s: GuidanceFreeSummary, key: PartKey): ClaimResult {
  const f = s[key]?.functional;
  const per = functionalByW(f, "GFT scratch");
  const w = worst(per, [s.seed], FUNC_UNIT[key]);
  const gates = [...familyGates(key, s[key], per, "functional test"), gate("fixed inputs of the functional test", f ? f.inputs : null, ">=", 2)];
  return judge(GF_CLAIMS[`functional-${key === "mixture" ? "2d" : key}`], { gates, ours: w.ours, floor: w.floor, rule: () => perWRule(per, "GFT from scratch at β = 1/w") });
}

function finetuneClaim(s: GuidanceFreeSummary, key: PartKey): ClaimResult {
  const p = s[key];
  const f = p?.functional;
  const ft = p?.arms.gftFinetune;
  const fraction = p && ft && p.arms.cfg ? ft.steps / p.arms.cfg.steps : null;
  const per = functionalByW(f, "GFT fine-tuned");
  const w = worst(per, [s.seed], FUNC_UNIT[key]);
  const gates = [...familyGates(key, p, per, "functional test"), gate("GFT fine-tuned arm trained (steps)", p ? (ft?.steps ?? 0) : null, ">", 0)];
  return judge(GF_CLAIMS[`finetune-${key === "mixture" ? "2d" : key}`], {
    gates,
    ours: w.ours,
    floor: w.floor,
    rule: () => {
      const what = `GFT fine-tuned for ${ft?.steps} steps (${pct(fraction ?? NaN)} of pre-training) at β = 1/w`;
      const r = perWRule(per, what);
      const first = firstMatch(f);
      const when = first ? ` The curve first reached the floor at every deciding w after ${first.step} steps (${pct(first.fraction)} of pre-training).` : "";
      if (r.verdict === "reproduced" && (!first || first.fraction > QUICK_FRACTION)) return { verdict: "partly", why: `${r.why}${when} That is more than ${100 * QUICK_FRACTION} % of pre-training, not a few per cent.` };
      return { verdict: r.verdict, why: `${r.why}${when}` };
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
  const keys = ["mixture", "digits", "ar"] as const;
  return [...keys.map((k) => matchClaim(s, k)), ...keys.map((k) => functionalClaim(s, k)), ...keys.map((k) => finetuneClaim(s, k)), nfeClaim(s)];
}
