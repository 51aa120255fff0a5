/**
 * The claims of `omni-tokenizer` as code (pure functions of its summary). The paper has no
 * ablation for the tokenizer, so all three are direction tests (spec §3.8). Standard errors: pooled
 * ratios over held-out utterances, paired between T1 and T2 of the same seed (delta method), then
 * combined over the independently trained seeds; floors: the seed spread of the control (T1).
 */
import { defineClaim, directionRule, gate, judge, type ClaimResult, type Gate, type RuleVerdict } from "../../train/claims.js";
import { differenceTest } from "../../train/stats.js";
import { overSeeds, ratioEstimate, type Combined } from "./estimates.js";
import type { TokStudyConfig } from "./tokenizer-study-config.js";
import type { TokStudyRun, TokStudySummary } from "./tokenizer-study-summary.js";

/** Thresholds fixed before any run. */
export const TRAINED_RATIO = 0.9; // trained L1 (or CER) at most 0.9 × the trivial baseline's
export const COST_SHARE = 0.25; // T2's extra mel L1 counts as small up to 1/4 of T1's trained margin
export const SANITY_MIN_NATS = 1; // frozen LM: transcript NLL per word with another utterance's codes minus with the true ones
export const MIN_EVAL_UTTERANCES = 200; // issue 17: at least 200 held-out utterances

export const RVQ_CLAIM = defineClaim({
  id: "rvq-layers-refine",
  paper: "Each further residual layer of the 8-layer RVQ tokenizer refines the reconstruction: decoding with more layers gives a lower mel error.",
  paperValue: "no number (RVQ design, §3.2.2)",
  metric: "held-out mel L1 with the first 1 vs all 8 RVQ layers (pooled over frames; SE paired over utterances, combined over seeds), the smaller fall of T1 and T2",
  arms: ["tokenizer-T1-s*", "tokenizer-T2-s*"],
  budget: "equal tokenizer steps, batch and data per arm; the same codes decoded with k = 1..8 layers",
  rule: "Both tokenizers' L1 must fall from 1 to 8 layers beyond max(2 SE, seed spread): reproduced when no added layer raises L1 beyond 2 SE in any seed, partly when one does; a fall within the noise: not reproduced; a rise beyond it: opposite.",
});

export const SEMANTICS_CLAIM = defineClaim({
  id: "transcript-loss-semantics",
  paper: "Training the tokenizer with a frozen LLM that predicts the transcript (T2) puts more linguistic content into the codes than reconstruction alone (T1), at little cost in reconstruction.",
  paperValue: "no ablation in the paper (§3.2.2 states the design)",
  metric: "probe CER on held-out voices with all RVQ layers, T1 minus T2 (paired over utterances, combined over seeds); T2's extra 8-layer mel L1",
  arms: ["tokenizer-T1-s* + all-layer probes", "tokenizer-T2-s* + all-layer probes"],
  budget: "equal tokenizer steps, batch and data; equal probe size, steps and data",
  rule: "CER(T1) − CER(T2) beyond max(2 SE, seed spread of T1's CER): reproduced when T2's extra mel L1 is at most 1/4 of T1's margin over the mean-frame baseline, partly when larger; within the noise: not reproduced; T2 worse beyond it: opposite.",
});

export const FIRST_LAYERS_CLAIM = defineClaim({
  id: "semantics-in-first-layers",
  paper: "With the transcript loss, the words sit in the first RVQ layers: a recogniser reading only the first 1 or 2 layers of T2 does better than one reading the same layers of T1.",
  paperValue: "no ablation in the paper",
  metric: "probe CER on held-out voices with the first 1 and the first 2 RVQ layers, T1 minus T2 (paired over utterances, combined over seeds)",
  arms: ["tokenizer-T1-s* + 1- and 2-layer probes", "tokenizer-T2-s* + 1- and 2-layer probes"],
  budget: "equal tokenizer steps; equal probe size, steps and data",
  rule: "For each probed layer count below 8, CER(T1) − CER(T2) beyond max(2 SE, seed spread of T1's CER): all → reproduced, some → partly; none beyond the noise → not reproduced; T2 worse beyond it at any count and better at none → opposite.",
});

export const TOK_STUDY_CLAIMS = [RVQ_CLAIM, SEMANTICS_CLAIM, FIRST_LAYERS_CLAIM];

const fmt3 = (x: number) => x.toFixed(3);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const seedNote = (c: Combined) => (c.floor === null ? " One seed was trained, so there is no seed floor." : ` ${c.seeds.length} seeds.`);

/** Pooled L1 of arm `a` with `ka` layers minus arm `b` with `kb` layers (paired over utterances). */
function l1Diff(s: TokStudySummary, r: TokStudyRun, a: "T1" | "T2", ka: number, kb: number, b: "T1" | "T2" = a) {
  const fr = s.tokenizerBaseline.evalFrames;
  const A = r[a].tokenizer.reconL1PerUtterance[ka - 1];
  const B = r[b].tokenizer.reconL1PerUtterance[kb - 1];
  if (!A || !B) return { value: NaN, se: NaN };
  return ratioEstimate(fr.map((f, i) => f * (A[i] - B[i])), fr);
}

/** Probe CER of T1 minus T2 with `k` layers (positive: T2 better), paired over utterances. */
function cerDiff(r: TokStudyRun, k: number) {
  const p1 = r.T1.probes[`k${k}`];
  const p2 = r.T2.probes[`k${k}`];
  if (!p1?.edits || !p2?.edits) return null;
  return ratioEstimate(p1.edits.map((e, i) => e - p2.edits[i]), p1.refChars);
}

/** CER difference with `k` layers combined over seeds (null when a probe is missing). */
function cerOverSeeds(s: TokStudySummary, k: number): Combined | null {
  const per = s.runs.flatMap((r) => {
    const d = cerDiff(r, k);
    return d ? [{ seed: r.seed, ...d }] : [];
  });
  return per.length === s.runs.length && per.length > 0 ? overSeeds(per, s.runs.map((r) => r.T1.probes[`k${k}`].cer)) : null;
}

/** The frozen-LM sanity check of the T2 arms: shuffled minus true transcript NLL per word, mean over seeds. */
export function sanityGap(s: TokStudySummary): number {
  const gaps = s.runs.map((r) => r.T2.tokenizer.transcriptSanity).map((x) => (x ? x.shuffledNll - x.trueNll : NaN));
  return gaps.length ? mean(gaps) : NaN;
}

function gates(s: TokStudySummary, k: number | null): Gate[] {
  const arms = ["T1", "T2"] as const;
  const worst = Math.max(...s.runs.flatMap((r) => arms.map((a) => r[a].tokenizer.reconL1ByLayers.at(-1)! / s.tokenizerBaseline.meanFrameL1)));
  const scored = Math.min(...s.runs.flatMap((r) => arms.flatMap((a) => [r[a].tokenizer.reconL1PerUtterance[0]?.length ?? 0, ...(k === null ? [] : [r[a].probes[`k${k}`]?.edits?.length ?? 0])])));
  const out = [gate("held-out utterances scored per arm", s.runs.length ? scored : NaN, ">=", k === null ? 2 : MIN_EVAL_UTTERANCES), gate("tokenizers trained: worst 8-layer mel L1 ÷ mean-frame baseline", worst, "<=", TRAINED_RATIO)];
  if (k === null) return out;
  out.push(gate("frozen-LM sanity (T2, mean over seeds): transcript NLL per word, shuffled minus true codes", sanityGap(s), ">=", SANITY_MIN_NATS));
  const kAll = Math.max(...s.probeLayers);
  const best = Math.min(...s.runs.flatMap((r) => arms.map((a) => r[a].probes[`k${kAll}`]?.cer ?? NaN)));
  out.push(gate(`probes read words: best ${kAll}-layer probe CER ÷ constant-transcript CER`, best / s.probeBaseline.constantCer, "<=", TRAINED_RATIO));
  return out;
}

function rvqClaim(s: TokStudySummary): ClaimResult {
  const nL = s.runs[0]?.T1.tokenizer.reconL1ByLayers.length ?? 0;
  const falls = (["T1", "T2"] as const).map((a) => {
    const per = s.runs.map((r) => ({ seed: r.seed, ...l1Diff(s, r, a, 1, nL) }));
    const c = overSeeds(per, per.map((p) => p.value));
    const rises = s.runs.flatMap((r) => Array.from({ length: nL - 1 }, (_, k) => ({ seed: r.seed, k: k + 2, ...l1Diff(s, r, a, k + 2, k + 1) }))).filter((d) => Number.isFinite(d.value) && differenceTest(d.value, d.se).direction > 0);
    return { a, c, rises };
  });
  const smaller = falls[0].c.value <= falls[1].c.value ? falls[0] : falls[1];
  return judge(RVQ_CLAIM, {
    gates: gates(s, null),
    ours: s.runs.length && falls.every((f) => Number.isFinite(f.c.value)) ? { value: smaller.c.value, se: smaller.c.se, seeds: smaller.c.seeds, unit: `mel L1 fall 1 → ${nL} layers (${smaller.a})` } : null,
    floor: smaller.c.floor,
    rule: () => {
      const r = falls.map((f) => ({ ...f, d: directionRule({ effect: f.c.value, se: f.c.se, floor: f.c.floor ?? undefined, expect: "higher", what: `${f.a} mel L1 fall from 1 to ${nL} layers` }) }));
      let verdict: RuleVerdict = "reproduced";
      if (r.some((x) => x.d.verdict === "opposite")) verdict = "opposite";
      else if (r.some((x) => x.d.verdict === "not reproduced")) verdict = "not reproduced";
      else if (r.some((x) => x.rises.length > 0)) verdict = "partly";
      const rises = r.flatMap((x) => x.rises.map((d) => `${x.a} seed ${d.seed} rises ${fmt3(d.value)} at layer ${d.k}`));
      const why = r.map((x) => x.d.why).join(" ") + seedNote(falls[0].c);
      return { verdict, why: rises.length ? `${why} Not monotone beyond 2 SE: ${rises.join(", ")}.` : why };
    },
  });
}

/** "T2 at weight w: all-layer CER x" for the further weights (context for the semantics claim). */
function weightNote(s: TokStudySummary): string {
  const kAll = Math.max(...s.probeLayers);
  const parts = s.weights.map((w) => `weight ${w.weight}: ${w.runs.map((r) => `${(100 * (r.probes[`k${kAll}`]?.cer ?? NaN)).toFixed(1)} %`).join(", ")} (${w.runs.length} seed${w.runs.length === 1 ? "" : "s"})`);
  return parts.length ? ` T2's ${kAll}-layer CER at other transcript weights: ${parts.join("; ")}.` : "";
}

function semanticsClaim(s: TokStudySummary): ClaimResult {
  const kAll = Math.max(...s.probeLayers);
  const nL = s.runs[0]?.T1.tokenizer.reconL1ByLayers.length ?? 0;
  const c = cerOverSeeds(s, kAll);
  const cost = mean(s.runs.map((r) => l1Diff(s, r, "T2", nL, nL, "T1").value));
  const margin = s.tokenizerBaseline.meanFrameL1 - mean(s.runs.map((r) => r.T1.tokenizer.reconL1ByLayers[nL - 1]));
  return judge(SEMANTICS_CLAIM, {
    gates: gates(s, kAll),
    ours: c ? { value: c.value, se: c.se, seeds: c.seeds, unit: `CER T1 − T2 (${kAll} layers)` } : null,
    floor: c?.floor ?? null,
    rule: () => {
      const d = directionRule({ effect: c!.value, se: c!.se, floor: c!.floor ?? undefined, expect: "higher", what: `probe CER T1 − T2 with ${kAll} layers` });
      const costText = ` T2's extra ${nL}-layer mel L1 is ${fmt3(cost)} against T1's margin ${fmt3(margin)} over the mean-frame baseline (small up to ${COST_SHARE} of it).`;
      const verdict: RuleVerdict = d.verdict === "reproduced" && cost > COST_SHARE * margin ? "partly" : d.verdict;
      return { verdict, why: d.why + costText + seedNote(c!) + weightNote(s) };
    },
  });
}

function firstLayersClaim(s: TokStudySummary): ClaimResult {
  const nL = s.runs[0]?.T1.tokenizer.reconL1ByLayers.length ?? 8;
  const ks = s.probeLayers.filter((k) => k < nL).sort((a, b) => a - b);
  const cs = ks.map((k) => ({ k, c: cerOverSeeds(s, k) }));
  const first = cs[0]?.c ?? null;
  return judge(FIRST_LAYERS_CLAIM, {
    gates: [gate("probed layer counts below all layers", ks.length, ">=", 1), ...gates(s, ks[0] ?? Math.max(...s.probeLayers))],
    ours: first && cs.every((x) => x.c) ? { value: first.value, se: first.se, seeds: first.seeds, unit: `CER T1 − T2 (${cs[0].k} layer${cs[0].k > 1 ? "s" : ""})` } : null,
    floor: first?.floor ?? null,
    rule: () => {
      const r = cs.map(({ k, c }) => directionRule({ effect: c!.value, se: c!.se, floor: c!.floor ?? undefined, expect: "higher", what: `probe CER T1 − T2 with ${k} layer${k > 1 ? "s" : ""}` }));
      const better = r.filter((x) => x.verdict === "reproduced").length;
      const worse = r.filter((x) => x.verdict === "opposite").length;
      const verdict: RuleVerdict = better === r.length ? "reproduced" : better > 0 ? "partly" : worse > 0 ? "opposite" : "not reproduced";
      return { verdict, why: r.map((x) => x.why).join(" ") + seedNote(first!) };
    },
  });
}

export function tokStudyClaims(s: TokStudySummary, _cfg?: TokStudyConfig): ClaimResult[] {
  return [rvqClaim(s), semanticsClaim(s), firstLayersClaim(s)];
}
