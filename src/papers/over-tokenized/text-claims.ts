/**
 * The text claims: over-encoding lowers the loss (Table 1), the loss falls log-linearly in the
 * table size m (Fig. 5), and over-encoding costs a few percent of throughput (Table 6).
 */
import { defineClaim, directionRule, gate, judge, type ClaimResult, type RuleVerdict } from "../../train/claims.js";
import { seedSpread } from "../../train/stats.js";
import { armsOf, compareArms, finite, mean, trainedGate, TRAINED_BELOW_UNIGRAM, withSeeds, type Comparison } from "./comparison.js";
import { PAPER, sweepArms, type OverTokenizedSummary } from "./summary.js";

/** The paper's OE gain as a fraction of its uniform-to-baseline margin (Table 1, OLMoE-1.3B: 0.082 of ln 50280 − 2.554). */
const T1 = PAPER.table1[0];
export const PAPER_OE_FRACTION = (T1.baseline - T1.oe) / (Math.log(T1.vocab) - T1.baseline);
/** The m-sweep presupposes tables the data fill: every table of every swept m has this fraction of its rows hit. */
export const MIN_ROWS_HIT = 0.9;
/** A negative slope counts as log-linear when the fit's R² is at least this. */
export const MIN_R2 = 0.8;
/** OE's throughput cost: a slowdown of at most this is "a few percent" (reproduced); up to `THROUGHPUT_LOOSE`, partly. */
export const THROUGHPUT_COST = 0.1;
export const THROUGHPUT_LOOSE = 0.25;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export const OE_TEXT = defineClaim({
  id: "oe-text",
  paper: "Over-encoding (hashed n-gram input embeddings) lowers a language model's loss at the same training budget.",
  paperValue: `Table 1: OLMoE-1.3B ${T1.baseline} -> ${T1.oe}, OLMoE-7B ${PAPER.table1[1].baseline} -> ${PAPER.table1[1].oe} with OE-12.8M`,
  metric: "held-out loss (nats/byte) of each swept OE arm minus the baseline, paired on the same held-out crops",
  arms: ["text-baseline", "text-oe-m<m> for every swept m"],
  budget: "same steps, batch, context and transformer; OE adds its hashed tables and projections",
  rule: `gated on a trained baseline (>= ${pct(TRAINED_BELOW_UNIGRAM)} below the unigram loss); each m must be lower beyond max(2 SE, seed spread) and by at least the paper's relative gain (${pct(PAPER_OE_FRACTION)} of the baseline's margin below uniform): every m: reproduced; some m lower beyond the noise: partly; none lower and some higher: opposite; otherwise not reproduced`,
});

export const OE_LOG_LINEAR = defineClaim({
  id: "oe-log-linear-m",
  paper: "The loss falls log-linearly in the over-encoding table size m.",
  paperValue: `Fig. 5: L = ${PAPER.fig5.intercept} - ${-PAPER.fig5.slope} log10 m (${PAPER.fig5.setting})`,
  metric: "least-squares slope of held-out loss against log10 m over the swept OE arms (nats/byte per decade), with its SE and R²",
  arms: ["text-oe-m<m> for every swept m"],
  budget: "same steps, batch, context and transformer; only m changes",
  rule: `gated on >= 3 table sizes and hash purity (every table of every swept m has >= ${pct(MIN_ROWS_HIT)} of its rows hit by the training n-grams, so m is the table's real capacity); slope negative beyond max(2 SE, seed spread per decade) with R² >= ${MIN_R2}: reproduced; negative beyond the noise with lower R²: partly; positive beyond it: opposite; otherwise not reproduced`,
});

export const OE_THROUGHPUT = defineClaim({
  id: "oe-throughput",
  paper: "Over-encoding costs a few percent of training throughput.",
  paperValue: `Table 6: ${PAPER.table6.olmoe13b}% (OLMoE-1.3B), ${PAPER.table6.olmoe7b}% (OLMoE-7B)`,
  metric: "training tokens/s of OE (the largest swept m) relative to the baseline, median step times of interleaved steps in one process",
  arms: ["text-baseline", "text-oe-m<m> for every swept m"],
  budget: "same model, batch and context",
  rule: `gated on a same-process measurement (baseline and OE steps interleaved; wall-clock rates of arms trained one after another on a shared machine are not the paper's number); slowdown <= ${pct(THROUGHPUT_COST)}: reproduced; <= ${pct(THROUGHPUT_LOOSE)}: partly; more: not reproduced`,
});

export function oeTextClaim(s: OverTokenizedSummary): ClaimResult {
  const base = armsOf(s.textArms, "baseline");
  const sweep = sweepArms(s.textArms);
  const ms = [...new Set(sweep.map((a) => a.m))];
  const cmps = ms.map((m) => ({ m, c: compareArms(base, sweep.filter((a) => a.m === m)) }));
  const measured = cmps.filter((x): x is { m: number; c: Comparison } => x.c !== null && Number.isFinite(x.c.se));
  const floor = measured[0]?.c.floor ?? null;
  const uniform = s.textBaselines?.uniform ?? NaN;
  const full = PAPER_OE_FRACTION * (uniform - mean(base.map((b) => finite(b.valLoss))));
  return judge(OE_TEXT, {
    gates: [trainedGate("text", base, s.textBaselines), gate("swept m with a paired held-out SE against the baseline", measured.length, ">=", Math.max(1, ms.length))],
    // The mean effect over m; its SE is the mean of the per-m SEs (an upper bound, the m share a baseline).
    ours: measured.length ? { value: mean(measured.map((x) => x.c.effect)), se: mean(measured.map((x) => x.c.se)), seeds: measured[0].c.seeds, unit: "nats/byte, mean over m" } : null,
    floor,
    rule: () => {
      const per = measured.map(({ m, c }) => ({ m, c, r: directionRule({ effect: c.effect, se: c.se, floor: c.floor ?? undefined, expect: "lower", full, what: `m = ${m}`, unit: "nats/byte" }) }));
      const count = (v: RuleVerdict) => per.filter((p) => p.r.verdict === v).length;
      const lower = count("reproduced") + count("partly");
      const verdict: RuleVerdict = count("reproduced") === per.length ? "reproduced" : lower > 0 ? "partly" : count("opposite") > 0 ? "opposite" : "not reproduced";
      const each = per.map((p) => `m = ${p.m}: ${p.c.effect.toFixed(4)} ± ${p.c.se.toFixed(4)} (${p.r.verdict})`).join("; ");
      return withSeeds({ verdict, why: `OE − baseline held-out loss per m (full reproduction needs ${full.toFixed(4)} nats/byte, the paper's relative gain): ${each}.` }, floor);
    },
  });
}

export function logLinearClaim(s: OverTokenizedSummary): ClaimResult {
  const f = s.fit;
  const sweep = sweepArms(s.textArms);
  const base = armsOf(s.textArms, "baseline");
  const decades = sweep.length ? Math.log10(sweep[sweep.length - 1].m) - Math.log10(sweep[0].m) : 0;
  // The baseline's seed spread, spread over the decades of m the fit spans (null with one seed).
  const floor = base.length >= 2 && decades > 0 ? seedSpread(base.map((b) => finite(b.valLoss))) / decades : null;
  const rowsHit = s.hashPurity.length ? Math.min(...s.hashPurity.map((h) => finite(h.rowsHitFraction))) : null;
  return judge(OE_LOG_LINEAR, {
    gates: [gate("table sizes in the fit (with a slope SE)", Number.isFinite(finite(f?.valSlopeSE)) ? f?.points : null, ">=", 3), gate("hash purity: smallest fraction of a table's rows hit by the training n-grams, over every swept m", rowsHit, ">=", MIN_ROWS_HIT)],
    ours: f && Number.isFinite(finite(f.valSlope)) ? { value: f.valSlope, se: Number.isFinite(finite(f.valSlopeSE)) ? f.valSlopeSE : null, seeds: [...new Set(sweep.map((a) => a.seed))], unit: "nats/byte per decade of m" } : null,
    floor,
    rule: () => {
      const [slope, se, r2] = [finite(f?.valSlope), finite(f?.valSlopeSE), finite(f?.valR2)];
      const r = directionRule({ effect: slope, se, floor: floor ?? undefined, expect: "lower", what: `held-out loss per decade of m (R² ${r2.toFixed(3)})`, unit: "nats/byte" });
      if (r.verdict === "reproduced" && !(r2 >= MIN_R2)) return withSeeds({ verdict: "partly", why: `${r.why} The fit's R² is below ${MIN_R2}: a falling trend, not a log-linear one.` }, floor);
      return withSeeds(r, floor);
    },
  });
}

/** Table 5 (OLMoE-1.3B): OT's loss gain as a fraction of OE's (2.554 − 2.481 against 2.554 − 2.472). */
export const PAPER_OT_OF_OE = (PAPER.table5.baseline - PAPER.table5.ot) / (PAPER.table5.baseline - PAPER.table5.oe);

export const OT_TEXT = defineClaim({
  id: "ot-text",
  paper: "OT (over-encoding plus one DeepSeek-style MTP head) lowers the loss below the baseline, nearly as much as over-encoding alone.",
  paperValue: `Table 5: OLMoE-1.3B baseline ${PAPER.table5.baseline}, OE-12.8M ${PAPER.table5.oe}, OT-12.8M ${PAPER.table5.ot}`,
  metric: "held-out next-token loss (nats/byte) of the OT arm minus the baseline, paired on the same held-out crops",
  arms: ["text-baseline", "text-ot-m<m> (OE at the largest swept m + MTP-DS head, λ = 0.1)"],
  budget: "same steps, batch, context and transformer; OT adds the OE tables and one MTP block",
  rule: `gated on a trained baseline (>= ${pct(TRAINED_BELOW_UNIGRAM)} below the unigram loss) and an OE arm at the OT arm's m; OT lower beyond max(2 SE, seed spread) and by at least ${pct(PAPER_OT_OF_OE / 2)} of the OE arm's gain at the same m (half the paper's OT/OE ratio ${pct(PAPER_OT_OF_OE)}): reproduced; lower beyond the noise but less: partly; higher beyond it: opposite; otherwise not reproduced`,
});

export function otTextClaim(s: OverTokenizedSummary): ClaimResult {
  const base = armsOf(s.textArms, "baseline");
  const ot = armsOf(s.textArms, "ot");
  const m = ot[0]?.m ?? 0;
  const oe = sweepArms(s.textArms).filter((a) => a.m === m);
  const c = compareArms(base, ot);
  const cOE = compareArms(base, oe);
  const oeGain = cOE ? -cOE.effect : NaN;
  return judge(OT_TEXT, {
    gates: [trainedGate("text", base, s.textBaselines), gate("paired held-out SE of the OT − baseline difference", c?.se, ">=", 0), gate(`OE arm at the OT arm's m (${m}) measured against the baseline`, cOE && Number.isFinite(cOE.effect) ? 1 : null, ">=", 1)],
    ours: c && Number.isFinite(c.effect) ? { value: c.effect, se: Number.isFinite(c.se) ? c.se : null, seeds: c.seeds, unit: "nats/byte" } : null,
    floor: c?.floor ?? null,
    rule: () => {
      const x = c ?? { effect: NaN, se: NaN, floor: null };
      const full = oeGain > 0 ? (PAPER_OT_OF_OE / 2) * oeGain : undefined;
      const r = directionRule({ effect: x.effect, se: x.se, floor: x.floor ?? undefined, expect: "lower", full, what: `OT − baseline held-out loss (OE alone at m = ${m}: ${(-oeGain).toFixed(4)})`, unit: "nats/byte" });
      return withSeeds(r, x.floor);
    },
  });
}

export function throughputClaim(s: OverTokenizedSummary): ClaimResult {
  const t = s.throughput;
  const change = t && t.oe.length ? mean(t.oe.map((x) => finite(x.change))) : NaN;
  const ofMin = t && t.oe.length ? mean(t.oe.map((x) => finite(x.changeOfMin))) : NaN;
  const base = armsOf(s.textArms, "baseline");
  return judge(OE_THROUGHPUT, {
    gates: [
      gate("throughput from one process, baseline and OE steps interleaved (1), not arms trained one after another on a shared machine (0)", t ? (t.method === "interleaved" ? 1 : 0) : null, ">=", 1),
      gate("OE arms with a measured throughput", t?.oe.length, ">=", 1),
    ],
    ours: Number.isFinite(change) ? { value: change, se: null, seeds: base.slice(0, 1).map((b) => b.seed), unit: "fraction of baseline tokens/s, mean over m" } : null,
    rule: () => {
      const cost = -change;
      const fastest = Number.isFinite(ofMin) ? `; fastest step against fastest step ${pct(ofMin)}` : "";
      const what = `OE tokens/s against the baseline: ${t?.oe.map((x) => `m = ${x.m} ${pct(x.change)}`).join(", ")} (mean ${pct(change)}${fastest})`;
      if (cost <= THROUGHPUT_COST) return { verdict: "reproduced", why: `${what}: a slowdown of at most ${pct(THROUGHPUT_COST)}.` };
      if (cost <= THROUGHPUT_LOOSE) return { verdict: "partly", why: `${what}: slower than ${pct(THROUGHPUT_COST)} but within ${pct(THROUGHPUT_LOOSE)}.` };
      return { verdict: "not reproduced", why: `${what}: more than ${pct(THROUGHPUT_LOOSE)} slower.` };
    },
  });
}
