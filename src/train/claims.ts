/**
 * Claims as code (the protocol in the project's EXPERIMENTS notes, §1-§5): each paper claim is a
 * pre-written `ClaimSpec` (the paper's sentence and number, the metric, the arms compared, the
 * budget held equal); a verdict rule turns measured numbers into one verdict from a closed set;
 * gates state what the claim presupposes, and a failed gate gives `not testable` with its value.
 * The runner writes every judged claim to `verdicts.json` (schema below); the README tables, the
 * reports and the suite site read that file and nothing else.
 */
import { z } from "zod";
import { differenceTest } from "./stats.js";

/** The closed set of verdicts. */
export const VERDICTS = ["reproduced", "partly", "not reproduced", "opposite", "not testable"] as const;
export type Verdict = (typeof VERDICTS)[number];
/** What a rule may return once every gate has passed. */
export type RuleVerdict = Exclude<Verdict, "not testable">;

const gateSchema = z.object({
  name: z.string().min(1),
  value: z.number().nullable(),
  op: z.enum([">=", "<=", ">", "<"]),
  threshold: z.number(),
  passed: z.boolean(),
});
export type Gate = z.infer<typeof gateSchema>;

const estimateSchema = z.object({
  /** Our value (a rate, a loss, a difference: `unit` says). */
  value: z.number(),
  /** Its standard error (null where there is none, e.g. an exact count). */
  se: z.number().nonnegative().nullable(),
  /** The seeds the value is measured over (independently trained models). */
  seeds: z.array(z.number().int()),
  unit: z.string(),
});
export type Estimate = z.infer<typeof estimateSchema>;

const claimSpecSchema = z.object({
  /** Stable id, e.g. "ood-rl". */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  /** "claim" tests the paper's own setting; "mechanism" recreates the cause on purpose (§6). */
  kind: z.enum(["claim", "mechanism"]),
  /** The paper's sentence, in our words. */
  paper: z.string().min(1),
  /** The paper's number as the paper states it ("+3.5 points", "Table 1: 8.31 -> 18.38 dB"). */
  paperValue: z.string(),
  /** What we measure. */
  metric: z.string().min(1),
  /** The arms compared. */
  arms: z.array(z.string()),
  /** The budget held equal between them (steps, tokens, FLOPs, parameters). */
  budget: z.string(),
  /** The verdict rule in one sentence, written before any run. */
  rule: z.string().min(1),
});
export type ClaimSpec = z.infer<typeof claimSpecSchema>;

const claimResultSchema = claimSpecSchema.extend({
  gates: z.array(gateSchema),
  ours: estimateSchema.nullable(),
  /** The control's spread between independently trained seeds (null where one seed was trained). */
  floor: z.number().nonnegative().nullable(),
  verdict: z.enum(VERDICTS),
  /** One sentence a user understands. */
  why: z.string().min(1),
});
export type ClaimResult = z.infer<typeof claimResultSchema>;

export const verdictsFileSchema = z.object({
  experiment: z.string(),
  preset: z.string(),
  /** A `tiny` run: the typed verdicts are kept, but people are shown "smoke test". */
  smokeTest: z.boolean(),
  createdAt: z.string(),
  gitCommit: z.string().nullable(),
  claims: z.array(claimResultSchema),
});
export type VerdictsFile = z.infer<typeof verdictsFileSchema>;

/** A claim spec, checked when the paper module loads (so a malformed spec fails its tests). */
export function defineClaim(spec: Omit<ClaimSpec, "kind"> & { kind?: ClaimSpec["kind"] }): ClaimSpec {
  return claimSpecSchema.parse({ kind: "claim", ...spec });
}

const OPS: Record<Gate["op"], (v: number, t: number) => boolean> = {
  ">=": (v, t) => v >= t,
  "<=": (v, t) => v <= t,
  ">": (v, t) => v > t,
  "<": (v, t) => v < t,
};

/** A gate: passed when `value op threshold`. A value that was not measured (null/NaN) fails. */
export function gate(name: string, value: number | null | undefined, op: Gate["op"], threshold: number): Gate {
  const v = value === undefined || value === null || !Number.isFinite(value) ? null : value;
  return { name, value: v, op, threshold, passed: v !== null && OPS[op](v, threshold) };
}

/** How claims print a number: integers as they are, otherwise 3-4 significant figures. */
export const claimNumber = (x: number): string => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(3) : x.toPrecision(3));

/** "gate name: 0.031 (needs >= 0.1)". */
export function describeGate(g: Gate): string {
  return `${g.name}: ${g.value === null ? "not measured" : claimNumber(g.value)} (needs ${g.op} ${claimNumber(g.threshold)})`;
}

/**
 * Judge one claim: every gate first (a failed or unmeasured gate gives `not testable` naming it),
 * then the rule. The rule runs only when every gate passed.
 */
export function judge(
  spec: ClaimSpec,
  o: { gates?: Gate[]; ours: Estimate | null; floor?: number | null; rule: () => { verdict: RuleVerdict; why: string } },
): ClaimResult {
  const gates = o.gates ?? [];
  const failed = gates.filter((g) => !g.passed);
  const base = { ...spec, gates, ours: o.ours, floor: o.floor ?? null };
  if (failed.length) {
    return { ...base, verdict: "not testable", why: `The model did not reach what the claim presupposes: ${failed.map(describeGate).join("; ")}.` };
  }
  const r = o.rule();
  return { ...base, verdict: r.verdict, why: r.why };
}

/**
 * The common rule for "B is higher (or lower) than A": the effect must clear max(2 SE, seed
 * spread) in the paper's direction (`reproduced`) or against it (`opposite`); otherwise `not
 * reproduced`. With `full` given, an effect in the paper's direction that clears the noise but not
 * `full` (e.g. a fraction of the paper's size, or of the trained margin) is `partly`.
 */
export function directionRule(o: { effect: number; se: number; floor?: number | null; expect: "higher" | "lower"; full?: number; what: string; unit?: string }): { verdict: RuleVerdict; why: string } {
  const signed = o.expect === "higher" ? o.effect : -o.effect;
  const t = differenceTest(signed, o.se, o.floor ?? 0);
  const u = o.unit ? ` ${o.unit}` : "";
  const eff = `${o.effect >= 0 ? "+" : ""}${claimNumber(o.effect)}${u}`;
  const noise = o.floor === undefined || o.floor === null ? `the noise (2 SE ${claimNumber(2 * o.se)}; no seed floor)` : `the noise (max of 2 SE ${claimNumber(2 * o.se)} and seed spread ${claimNumber(o.floor)})`;
  if (!t.significant) return { verdict: "not reproduced", why: `${o.what}: ${eff} is within ${noise}.` };
  if (t.direction < 0) return { verdict: "opposite", why: `${o.what}: ${eff} goes against the paper beyond ${noise}.` };
  if (o.full !== undefined && signed < o.full) return { verdict: "partly", why: `${o.what}: ${eff} clears ${noise} but is below the ${claimNumber(o.full)}${u} the rule asks for a full reproduction.` };
  return { verdict: "reproduced", why: `${o.what}: ${eff} in the paper's direction, beyond ${noise}.` };
}

/**
 * The rule for "B matches A" (e.g. FP4 close to fp32, GFT matches CFG): `reproduced` when the gap
 * is within `tolerance` (a fraction of the trained margin, or the seed floor), `partly` within
 * twice that, `not reproduced` beyond.
 */
export function closeRule(o: { gap: number; tolerance: number; what: string; unit?: string }): { verdict: RuleVerdict; why: string } {
  const u = o.unit ? ` ${o.unit}` : "";
  const g = Math.abs(o.gap);
  if (g <= o.tolerance) return { verdict: "reproduced", why: `${o.what}: gap ${claimNumber(o.gap)}${u} is within the tolerance ${claimNumber(o.tolerance)}${u}.` };
  if (g <= 2 * o.tolerance) return { verdict: "partly", why: `${o.what}: gap ${claimNumber(o.gap)}${u} is between 1x and 2x the tolerance ${claimNumber(o.tolerance)}${u}.` };
  return { verdict: "not reproduced", why: `${o.what}: gap ${claimNumber(o.gap)}${u} is beyond twice the tolerance ${claimNumber(o.tolerance)}${u}.` };
}

/** Validate a verdicts file read from disk (or about to be written). */
export function parseVerdicts(input: unknown, where = "verdicts.json"): VerdictsFile {
  const r = verdictsFileSchema.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`${where}: ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  return r.data;
}

/** What people see for a verdict: a tiny run's verdicts are a smoke test, not a result. */
export function shownVerdict(v: Verdict, smokeTest: boolean): string {
  return smokeTest ? "smoke test" : v;
}

/** Counts of each verdict (for boards and tables). */
export function verdictCounts(claims: readonly { verdict: Verdict }[]): Record<Verdict, number> {
  const c = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const x of claims) c[x.verdict]++;
  return c;
}
