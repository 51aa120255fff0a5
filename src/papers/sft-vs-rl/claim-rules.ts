/**
 * The verdict rules of the SFT-vs-RL claims ("SFT Memorizes, RL Generalizes", arXiv 2501.17161), pure functions of
 * the summary: a branch's change of a rate against the SFT init, pooled over the trained seeds (mean of the per-seed
 * differences, standard error from the binomial SEs of the evaluations, seed spread of the control arm as the floor
 * once two or more seeds were trained), and the rules "raises", "lowers" and "keeps or raises". Values are in
 * percentage points, as the paper states them.
 */
import { directionRule, gate, judge, type ClaimResult, type ClaimSpec, type Gate, type RuleVerdict } from "../../train/claims.js";
import { differenceTest, seedSpread } from "../../train/stats.js";
import { finalRow, type EvalRow, type TaskSummary } from "./summary.js";

/** Gate thresholds (issue 24), fixed before any run. */
export const GATE = {
  /** The SFT init solves at least this share of (rule or visual) OOD episodes, so a drop or a gain can show. */
  initOod: 0.1,
  /** The SFT init parses at least this share of its first ID answers (it has learned the answer format). */
  idParsed: 0.95,
  /** Navigation: the SFT init's first OOD answers lie in the prompt's (relative) action space at least this often. */
  navRelative: 0.5,
  /** Card recognition the SFT init must have on visual OOD before "SFT lowers it" can be tested. */
  initRecognition: 0.1,
  /** Stage 0 (the "pretrained model") evaluates two-operand expressions at least this often (greedy probes). */
  stage0Arithmetic: 0.9,
  /** Stage 0 writes the numbers of 3 cards under a stated rule (random face values) at least this often. */
  stage0Rule: 0.9,
  /** Stage 0 solves plain-format make-24 at least this often under the ID rule and under the OOD rule. */
  stage0Make24: 0.5,
} as const;

/**
 * The stage-0 gates of GeneralPoints (issue 24): the pretrained model has the skills the OOD claims presuppose (it
 * reads a stated rule and solves make-24 under the OOD rule in plain text). A run from before 3-card hands lacks the
 * make-24 probes, a navigation-only run all of them: those gates are then unmeasured.
 */
export function stage0Gates(s0: { arithmeticAccuracy?: number; ruleReadingAccuracy?: number; make24IdSolved?: number; make24OodSolved?: number }): Gate[] {
  return [
    gate("stage 0: two-operand expressions evaluated", s0.arithmeticAccuracy ?? null, ">=", GATE.stage0Arithmetic),
    gate("stage 0: card numbers under a stated rule", s0.ruleReadingAccuracy ?? null, ">=", GATE.stage0Rule),
    gate("stage 0: plain make-24 solved, ID rule", s0.make24IdSolved ?? null, ">=", GATE.stage0Make24),
    gate("stage 0: plain make-24 solved, OOD rule", s0.make24OodSolved ?? null, ">=", GATE.stage0Make24),
  ];
}

/** "SFT lowers": a drop counts fully once it is at least this share of the init's own rate (smaller: partly). */
export const DROP_SHARE = 0.25;

export type Pooled = {
  /** Mean over seeds, in points (100 × fraction). */
  value: number;
  /** Its standard error in points. */
  se: number;
  seeds: number[];
  /** Seed spread of the control arm in points; null with one trained seed. */
  floor: number | null;
};

/** A row's value of `key` (NaN when absent). */
const at = (row: EvalRow, key: string): number => (typeof row[key] === "number" ? row[key] : NaN);

/** Mean over runs of a row value (fraction; NaN when any run lacks it). */
export function meanOf<T>(runs: readonly T[], f: (r: T) => number): number {
  if (runs.length === 0) return NaN;
  return runs.reduce((s, r) => s + f(r), 0) / runs.length;
}

/** Mean and SE (points) of a rate over runs, with the seed spread of the same rate as floor. */
export function pooledRate<T extends { seed: number }>(runs: readonly T[], row: (r: T) => EvalRow, key: string, seKey: string): Pooled {
  const n = runs.length;
  const vs = runs.map((r) => at(row(r), key));
  const se2 = runs.reduce((s, r) => s + at(row(r), seKey) ** 2, 0);
  return { value: (100 * vs.reduce((a, b) => a + b, 0)) / n, se: (100 * Math.sqrt(se2)) / n, seeds: runs.map((r) => r.seed), floor: n >= 2 ? 100 * seedSpread(vs) : null };
}

/**
 * Change `to − from` of a rate (points) pooled over seeds: mean of the per-seed differences, SE of that mean from the
 * binomial SEs of both evaluations, floor = seed spread of the `control` arm's rate (null with one seed).
 */
export function pooledChange(runs: readonly TaskSummary[], key: string, seKey: string, from: (t: TaskSummary) => EvalRow, to: (t: TaskSummary) => EvalRow, control: (t: TaskSummary) => EvalRow): Pooled {
  const n = runs.length;
  if (n === 0) return { value: NaN, se: NaN, seeds: [], floor: null };
  const d = runs.map((t) => at(to(t), key) - at(from(t), key));
  const se2 = runs.reduce((s, t) => s + at(to(t), seKey) ** 2 + at(from(t), seKey) ** 2, 0);
  const ctrl = runs.map((t) => at(control(t), key));
  return { value: (100 * d.reduce((a, b) => a + b, 0)) / n, se: (100 * Math.sqrt(se2)) / n, seeds: runs.map((t) => t.seed), floor: n >= 2 ? 100 * seedSpread(ctrl) : null };
}

/** A pooled value is usable by a rule. */
export const measured = (p: Pooled): boolean => Number.isFinite(p.value) && Number.isFinite(p.se);

const fmt = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
const spreadOf = (p: Pooled) => (p.floor !== null && Number.isFinite(p.floor) ? p.floor : undefined);

/** "Raises": a gain beyond max(2 SE, seed spread) reproduces, a drop beyond it is opposite, else not reproduced. */
export function raisesRule(d: Pooled, what: string): { verdict: RuleVerdict; why: string } {
  return directionRule({ effect: d.value, se: d.se, floor: spreadOf(d), expect: "higher", what, unit: "points" });
}

/**
 * "Lowers": a drop beyond max(2 SE, seed spread) that is at least `DROP_SHARE` of the init's own rate (points)
 * reproduces; a smaller drop beyond the noise is partly; a rise beyond it is opposite; else not reproduced.
 */
export function lowersRule(d: Pooled, initRate: number, what: string): { verdict: RuleVerdict; why: string } {
  return directionRule({ effect: d.value, se: d.se, floor: spreadOf(d), expect: "lower", full: DROP_SHARE * initRate, what, unit: "points" });
}

/**
 * "Keeps or raises" (the paper reports a gain): a gain beyond the noise reproduces and a drop beyond it is opposite.
 * A change within the noise is partly only when the same branch raised its training-split (ID) rate beyond that
 * rate's noise (it learned, yet kept OOD); otherwise not reproduced, because an unchanged rate then only shows that
 * the branch changed little.
 */
export function keepsOrRaisesRule(d: Pooled, learnedId: Pooled, what: string, learnedWhat = "ID"): { verdict: RuleVerdict; why: string } {
  const t = differenceTest(d.value, d.se, spreadOf(d));
  if (t.significant) return raisesRule(d, what);
  const noise = `max(2 SE ${(2 * d.se).toFixed(1)}, seed spread ${(spreadOf(d) ?? 0).toFixed(1)})`;
  const l = differenceTest(learnedId.value, learnedId.se, spreadOf(learnedId));
  if (l.direction > 0) return { verdict: "partly", why: `${what}: ${fmt(d.value)} points is within ${noise}, so OOD was kept, not raised, while the branch raised ${learnedWhat} by ${fmt(learnedId.value)} points beyond its noise.` };
  return { verdict: "not reproduced", why: `${what}: ${fmt(d.value)} points is within ${noise}, and the branch did not raise ${learnedWhat} beyond its noise either (${fmt(learnedId.value)} points), so "kept" only shows that the branch changed little.` };
}

/**
 * Row key of the ID rate sampled at the PPO rollout temperature (`idRollTempSuccess`, `idRollTempStdErr`, ...): the
 * quantity PPO optimises, measured on the same ID episodes as the evaluation-temperature rate.
 */
export const rollTempKey = (key: string): string => `idRollTemp${key}`;

/**
 * Whether the PPO branch learned (issue 24's rule change): the change of the ID rate sampled at the rollout temperature
 * from the SFT init to the branch's last checkpoint, when every run measured it at both; otherwise (older summaries)
 * the change of the evaluation-temperature ID rate. At 3 cards the init solves about 100 % of ID hands at the
 * evaluation temperature (0.2), so only a hotter rate can show what PPO learned in distribution.
 */
export function learnedChange(runs: readonly TaskSummary[], key: string, seKey: string): { change: Pooled; what: string } {
  const hot = pooledChange(runs, rollTempKey(key), rollTempKey(seKey), ROWS.init, ROWS.ppo, ROWS.init);
  if (measured(hot)) return { change: hot, what: "ID at the rollout temperature" };
  return { change: pooledChange(runs, `id${key}`, `id${seKey}`, ROWS.init, ROWS.ppo, ROWS.init), what: "ID" };
}

/** Gates every claim of a task presupposes: the SFT init plays the answer format. */
export function parseGate(runs: readonly TaskSummary[]): Gate {
  return gate("SFT init: ID answers parsed", meanOf(runs, (t) => t.init.row.idParsed), ">=", GATE.idParsed);
}

/** What a claim reports as ours from a pooled change (null when it was not measured). */
export function estimate(p: Pooled): { value: number; se: number; seeds: number[]; unit: string } | null {
  return measured(p) ? { value: p.value, se: p.se, seeds: p.seeds, unit: "points" } : null;
}
/** The seed floor a claim reports (null with one trained seed). */
export const floorOf = (p: Pooled): number | null => (p.floor !== null && Number.isFinite(p.floor) ? p.floor : null);
/** A gate that fails when a change was not measured (added only then). */
export const measuredGate = (p: Pooled, name: string): Gate[] => (measured(p) ? [] : [gate(`${name} measured`, null, ">=", 0)]);

/** The rows a task's claims compare: the SFT init's, and each branch's last checkpoint (equal FLOPs). */
export const ROWS = {
  init: (t: TaskSummary): EvalRow => t.init.row,
  ppo: (t: TaskSummary): EvalRow => finalRow(t.ppo.points),
  sft: (t: TaskSummary): EvalRow => finalRow(t.sft.points),
};

/** Judge a claim about a pooled change: its gates, plus a failing "measured" gate when the change is missing. */
export function judgeChange(spec: ClaimSpec, p: Pooled, gates: Gate[], rule: () => { verdict: RuleVerdict; why: string }): ClaimResult {
  return judge(spec, { gates: [...gates, ...measuredGate(p, spec.metric)], ours: estimate(p), floor: floorOf(p), rule });
}
