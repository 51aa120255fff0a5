/**
 * What every over-tokenized loss claim shares: an arm against the baseline of the same seed on the
 * same held-out crops, the baseline's seed floor, and the gate that the baseline was trained at all.
 * With several trained seeds the standard error comes from the per-seed differences and the floor
 * is the baseline's spread between seeds; with one seed the SE is the per-crop one and there is no
 * floor (the why says so).
 */
import { gate, type Estimate, type Gate, type RuleVerdict } from "../../train/claims.js";
import { meanSE, seedSpread } from "../../train/stats.js";
import { pairedDiff, type ArmResult, type ArmRole, type TrivialBaselines } from "./summary.js";

/** A baseline counts as trained when its held-out loss sits at least this fraction below the unigram loss. */
export const TRAINED_BELOW_UNIGRAM = 0.1;

/** A number read from a summary (NaN was written to JSON as null): NaN unless finite. */
export const finite = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : NaN);

export type Comparison = { effect: number; se: number; floor: number | null; seeds: number[] };

/**
 * `arm` minus `base` in held-out loss, paired by seed. Several seeds: mean and SE of the per-seed
 * differences; one seed: the per-crop paired SE. The floor is the baseline's spread between
 * independently trained seeds (null with one seed).
 */
export function compareArms(base: readonly ArmResult[], arm: readonly ArmResult[]): Comparison | null {
  const pairs = arm.flatMap((a) => base.filter((b) => b.seed === a.seed).map((b) => [b, a] as const));
  if (!pairs.length) return null;
  const floor = base.length >= 2 ? seedSpread(base.map((b) => finite(b.valLoss))) : null;
  const seeds = pairs.map(([, a]) => a.seed);
  if (pairs.length >= 2) {
    const d = meanSE(pairs.map(([b, a]) => finite(a.valLoss) - finite(b.valLoss)));
    return { effect: d.mean, se: d.se, floor, seeds };
  }
  const d = pairedDiff(pairs[0][0], pairs[0][1]);
  return { effect: d.diff, se: d.se, floor, seeds };
}

/** The arms of one role: every seed of the first arm name with that role. */
export function armsOf(arms: readonly ArmResult[], role: ArmRole): ArmResult[] {
  const first = arms.find((a) => a.role === role);
  return first ? arms.filter((a) => a.arm === first.arm) : [];
}

export const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** A comparison as the claim's `ours` (null when nothing was measured). */
export function estimate(c: Comparison | null, unit: string): Estimate | null {
  return c && Number.isFinite(c.effect) ? { value: c.effect, se: Number.isFinite(c.se) ? c.se : null, seeds: c.seeds, unit } : null;
}

/** The comparison exists and has a standard error (a missing arm or crop losses fail it). */
export function seGate(what: string, c: Comparison | null): Gate {
  return gate(`paired held-out SE of the ${what} − baseline difference`, c?.se, ">=", 0);
}

/** A rule's verdict, its why saying when it rests on one trained seed. */
export function withSeeds(r: { verdict: RuleVerdict; why: string }, floor: number | null): { verdict: RuleVerdict; why: string } {
  return floor === null ? { verdict: r.verdict, why: `${r.why} One trained seed: no seed floor, the noise is 2 SE of the evaluation only.` } : r;
}

/**
 * cfg3f's baseline counts as trained when it closes at least this fraction of the gap between the
 * bigram loss and the grammar's entropy floor (the unigram gate is too loose on cfg3f: a model at
 * the bigram loss passes it).
 */
export const CFG_TRAINED_FRACTION = 0.3;

/** cfg3f's baseline is trained: it closes CFG_TRAINED_FRACTION of the bigram-to-floor gap. */
export function cfgTrainedGate(base: readonly ArmResult[], triv: TrivialBaselines | null): Gate {
  const loss = mean(base.map((b) => finite(b.valLoss)));
  const floor = triv?.entropyFloor?.perToken;
  const gap = triv && floor !== undefined ? triv.bigram - floor : NaN;
  return gate("cfg3f baseline: fraction of the gap from the bigram loss to the grammar's entropy floor it closes", gap > 0 ? (triv!.bigram - loss) / gap : null, ">=", CFG_TRAINED_FRACTION);
}

/** The baseline is trained: its held-out loss sits well below the unigram loss of the same split. */
export function trainedGate(study: string, base: readonly ArmResult[], triv: TrivialBaselines | null): Gate {
  const loss = mean(base.map((b) => finite(b.valLoss)));
  return gate(`${study} baseline below the unigram loss, as a fraction of it`, triv ? (triv.unigram - loss) / triv.unigram : null, ">=", TRAINED_BELOW_UNIGRAM);
}
