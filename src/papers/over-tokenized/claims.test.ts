import { describe, expect, it } from "vitest";
import { verdictsFileSchema, type ClaimResult } from "../../train/claims.js";
import { compareArms, overTokenizedClaims, MIN_ROWS_HIT, PAPER_OE_FRACTION, PAPER_OT_OF_OE, TRAINED_BELOW_UNIGRAM } from "./claims.js";
import type { ArmResult, ArmRole, OverTokenizedSummary, SweepFit, Throughput } from "./summary.js";

// Synthetic summaries: every claim's rule is driven to each verdict it can give.

const CROPS = 64;
/** An arm whose per-crop held-out losses alternate ±noise around valLoss (their mean is valLoss). */
function arm(p: { arm: string; role: ArmRole; valLoss: number; study?: "cfg" | "text"; m?: number; seed?: number; lmParams?: number; odHead?: ArmResult["odHead"]; noise?: number }): ArmResult {
  const noise = p.noise ?? 0.01;
  return {
    arm: p.arm,
    study: p.study ?? "text",
    seed: p.seed ?? 0,
    role: p.role,
    odHead: p.odHead ?? (p.role === "od" ? "factorised" : null),
    m: p.m ?? 0,
    status: "completed",
    steps: 100,
    lmParams: p.lmParams ?? 1000,
    oeTableParams: 0,
    otherParams: 0,
    finalTrainLoss: p.valLoss,
    valLoss: p.valLoss,
    valCropLosses: Array.from({ length: CROPS }, (_, i) => p.valLoss + (i % 2 ? noise : -noise)),
    tokensPerSec: 1000,
    trainSeconds: 1,
    completionAccuracy: -1,
    completionN: 0,
  };
}
const base = (valLoss: number, seed = 0) => arm({ arm: "baseline", role: "baseline", valLoss, seed, noise: 0 });
const oe = (m: number, valLoss: number, seed = 0) => arm({ arm: `oe-m${m}`, role: "oe", m, valLoss, seed });

const TEXT_TRIVIAL = { uniform: Math.log(256), unigram: 3.0, bigram: 2.5 };
// Gate: (bigram − loss) / (bigram − floor) >= 0.3, so a baseline at 0.9 passes (0.51) and one at 1.07 fails (0.10).
const CFG_TRIVIAL = { uniform: Math.log(3), unigram: 1.25, bigram: 1.11, entropyFloor: { perToken: 0.7, se: 0.003, samples: 2000, meanLength: 40, root: 16 } };
const FIT: SweepFit = { points: 4, valSlope: -0.05, valSlopeSE: 0.005, valIntercept: 2.2, valR2: 0.95, trainSlope: -0.05, trainIntercept: 2.2, trainR2: 0.95 };
const PURE = [1021, 4093, 16381, 65521].map((m) => ({ m, rowsHitFraction: 0.95, ngramsPerHitRow: 3 }));
const INTERLEAVED = (changes: number[]): Throughput => ({ method: "interleaved", baselineTokensPerSec: 1000, oe: changes.map((c, i) => ({ arm: `oe-m${i}`, m: i, tokensPerSec: 1000 * (1 + c), change: c })) });

function summary(p: Partial<OverTokenizedSummary> = {}): OverTokenizedSummary {
  return { cfgArms: [], textArms: [], cfgBaselines: CFG_TRIVIAL, textBaselines: TEXT_TRIVIAL, fit: FIT, hashPurity: PURE, throughput: INTERLEAVED([-0.05]), ...p };
}
const claim = (s: OverTokenizedSummary, id: string): ClaimResult => {
  const c = overTokenizedClaims(s).find((x) => x.id === id);
  if (!c) throw new Error(`no claim ${id}`);
  return c;
};
const text = (arms: ArmResult[], p: Partial<OverTokenizedSummary> = {}) => summary({ textArms: arms, ...p });

describe("over-tokenized claims", () => {
  it("are six, schema-valid in a verdicts file, and an empty summary makes every one not testable", () => {
    const claims = overTokenizedClaims(summary({ fit: null, hashPurity: [], throughput: null, cfgBaselines: null, textBaselines: null }));
    expect(claims.map((c) => c.id)).toEqual(["oe-text", "oe-log-linear-m", "oe-throughput", "ot-text", "oe-cfg3f", "od-cfg3f-small", "od-cfg3f-large"]);
    for (const c of claims) expect(c.verdict, c.id).toBe("not testable");
    expect(() => verdictsFileSchema.parse({ experiment: "over-tokenized", preset: "quick", smokeTest: false, createdAt: "x", gitCommit: null, claims })).not.toThrow();
  });

  it("compareArms: per-crop paired SE with one seed, per-seed SE and the baseline's seed spread with two", () => {
    const one = compareArms([base(2.0)], [oe(1021, 1.9)]);
    expect(one?.effect).toBeCloseTo(-0.1, 12);
    expect(one?.floor).toBeNull();
    expect(one?.se).toBeCloseTo(0.01 * Math.sqrt(CROPS / (CROPS - 1)) / Math.sqrt(CROPS), 12);
    const two = compareArms([base(2.0, 0), base(2.2, 1)], [oe(1021, 1.9, 0), oe(1021, 2.0, 1)]);
    expect(two?.effect).toBeCloseTo(-0.15, 12);
    expect(two?.floor).toBeCloseTo(0.2, 12);
    expect(two?.se).toBeCloseTo(0.05, 12);
    expect(two?.seeds).toEqual([0, 1]);
    expect(compareArms([base(2.0, 1)], [oe(1021, 1.9, 0)])).toBeNull();
  });

  describe("oe-text (Table 1)", () => {
    const id = "oe-text";
    it("reproduced when every m is lower beyond the noise and by the paper's relative gain", () => {
      const c = claim(text([base(2.0), oe(1021, 1.9), oe(4093, 1.85)]), id);
      expect(c.verdict).toBe("reproduced");
      expect(c.ours?.value).toBeCloseTo(-0.125, 12);
      expect(c.why).toMatch(/One trained seed/);
      expect(c.floor).toBeNull();
    });
    it("partly when some m is lower, or lower beyond the noise but below the paper's relative gain", () => {
      expect(claim(text([base(2.0), oe(1021, 2.0), oe(4093, 1.85)]), id).verdict).toBe("partly");
      const small = 0.5 * PAPER_OE_FRACTION * (Math.log(256) - 2.0); // beyond 2 SE (~0.0025), below the full gain
      expect(claim(text([base(2.0), oe(1021, 2.0 - small)]), id).verdict).toBe("partly");
    });
    it("opposite when no m is lower and some m is higher beyond the noise", () => {
      expect(claim(text([base(2.0), oe(1021, 2.1), oe(4093, 2.0)]), id).verdict).toBe("opposite");
    });
    it("not reproduced when every m is within the noise, and a two-seed floor can hold an effect back", () => {
      expect(claim(text([base(2.0), oe(1021, 1.999), oe(4093, 2.001)]), id).verdict).toBe("not reproduced");
      const c = claim(text([base(2.0, 0), base(2.3, 1), oe(1021, 1.9, 0), oe(1021, 2.2, 1)]), id);
      expect(c.floor).toBeCloseTo(0.3, 12);
      expect(c.verdict).toBe("not reproduced");
    });
    it("not testable when the baseline is not trained (too close to the unigram loss) or no m was swept", () => {
      const c = claim(text([base(3.0 * (1 - TRAINED_BELOW_UNIGRAM / 2)), oe(1021, 1.5)]), id);
      expect(c.verdict).toBe("not testable");
      expect(c.gates[0].passed).toBe(false);
      expect(claim(text([base(2.0)]), id).verdict).toBe("not testable");
    });
  });

  describe("oe-log-linear-m (Fig. 5)", () => {
    const id = "oe-log-linear-m";
    const arms = [base(2.3), oe(1021, 2.2), oe(65521, 2.1)];
    it("reproduced: a negative slope beyond its SE with a high R²", () => {
      expect(claim(text(arms), id).verdict).toBe("reproduced");
    });
    it("partly: a falling trend whose fit is not log-linear (low R²)", () => {
      const c = claim(text(arms, { fit: { ...FIT, valR2: 0.4 } }), id);
      expect(c.verdict).toBe("partly");
      expect(c.why).toMatch(/not a log-linear one/);
    });
    it("opposite: loss rising with m beyond the noise", () => {
      expect(claim(text(arms, { fit: { ...FIT, valSlope: 0.05 } }), id).verdict).toBe("opposite");
    });
    it("not reproduced: a slope within 2 SE, or within the baseline's seed spread per decade", () => {
      expect(claim(text(arms, { fit: { ...FIT, valSlope: -0.008 } }), id).verdict).toBe("not reproduced");
      const twoSeeds = [base(2.3, 0), base(2.6, 1), oe(1021, 2.2), oe(65521, 2.1)];
      const c = claim(text(twoSeeds), id);
      expect(c.floor).toBeCloseTo(0.3 / Math.log10(65521 / 1021), 12);
      expect(c.verdict).toBe("not reproduced");
    });
    it("not testable: hash purity below the gate, or fewer than 3 table sizes (no slope SE)", () => {
      const impure = PURE.map((h, i) => (i === 2 ? { ...h, rowsHitFraction: MIN_ROWS_HIT - 0.5 } : h));
      expect(claim(text(arms, { hashPurity: impure }), id).verdict).toBe("not testable");
      expect(claim(text(arms, { fit: { ...FIT, points: 2, valSlopeSE: NaN } }), id).verdict).toBe("not testable");
      expect(claim(text(arms, { fit: null }), id).verdict).toBe("not testable");
    });
  });

  describe("oe-throughput (Table 6)", () => {
    const id = "oe-throughput";
    it("reproduced / partly / not reproduced from an interleaved same-process measurement", () => {
      expect(claim(summary({ throughput: INTERLEAVED([-0.04, -0.06]) }), id).verdict).toBe("reproduced");
      expect(claim(summary({ throughput: INTERLEAVED([-0.15, -0.2]) }), id).verdict).toBe("partly");
      expect(claim(summary({ throughput: INTERLEAVED([-0.4, -0.5]) }), id).verdict).toBe("not reproduced");
    });
    it("not testable from wall-clock rates of arms trained one after another, whatever they say", () => {
      const c = claim(summary({ throughput: { ...INTERLEAVED([-0.04]), method: "sequential arms" } }), id);
      expect(c.verdict).toBe("not testable");
      expect(c.ours?.value).toBeCloseTo(-0.04, 12);
    });
  });

  describe("ot-text (Table 5)", () => {
    const id = "ot-text";
    const ot = (valLoss: number, seed = 0) => arm({ arm: "ot-m509", role: "ot", m: 509, valLoss, seed });
    it("reproduced when OT is lower beyond the noise by at least half the paper's OT/OE share of the OE gain", () => {
      const c = claim(text([base(2.0), oe(509, 1.9), ot(1.92)]), id);
      expect(c.verdict).toBe("reproduced");
      expect(c.ours?.value).toBeCloseTo(-0.08, 12);
    });
    it("partly when OT is lower beyond the noise but by less than that", () => {
      const small = 0.25 * PAPER_OT_OF_OE * 0.1; // a quarter of the paper's share of OE's 0.1 gain, beyond 2 SE (~0.0025)
      expect(claim(text([base(2.0), oe(509, 1.9), ot(2.0 - small)]), id).verdict).toBe("partly");
    });
    it("opposite when OT is higher beyond the noise; not reproduced within it", () => {
      expect(claim(text([base(2.0), oe(509, 1.9), ot(2.1)]), id).verdict).toBe("opposite");
      expect(claim(text([base(2.0), oe(509, 1.9), ot(1.9995)]), id).verdict).toBe("not reproduced");
    });
    it("not testable without an OT arm, without an OE arm at its m, or with an untrained baseline", () => {
      expect(claim(text([base(2.0), oe(509, 1.9)]), id).verdict).toBe("not testable");
      expect(claim(text([base(2.0), oe(251, 1.9), ot(1.9)]), id).verdict).toBe("not testable");
      expect(claim(text([base(2.95), oe(509, 1.9), ot(1.9)]), id).verdict).toBe("not testable");
    });
  });

  describe("oe-cfg3f (Fig. 2, input)", () => {
    const id = "oe-cfg3f";
    const cfg = (b: number, o: number) => summary({ cfgArms: [arm({ arm: "baseline", role: "baseline", valLoss: b, study: "cfg", noise: 0 }), arm({ arm: "oe-3gram", role: "oe", valLoss: o, study: "cfg", m: 127 })] });
    it("reproduced / opposite / not reproduced on a trained baseline", () => {
      expect(claim(cfg(0.9, 0.8), id).verdict).toBe("reproduced");
      expect(claim(cfg(0.9, 1.0), id).verdict).toBe("opposite");
      expect(claim(cfg(0.9, 0.9005), id).verdict).toBe("not reproduced");
    });
    it("not testable when the baseline sits near the bigram loss (barely trained), or without the entropy floor", () => {
      const c = claim(cfg(1.07, 0.8), id);
      expect(c.verdict).toBe("not testable");
      expect(c.why).toMatch(/bigram loss to the grammar's entropy floor/);
      expect(c.ours?.value).toBeCloseTo(-0.27, 12);
      const noFloor = { ...cfg(0.9, 0.8), cfgBaselines: { ...CFG_TRIVIAL, entropyFloor: undefined } };
      expect(claim(noFloor, id).verdict).toBe("not testable");
    });
    // Two model sizes (Fig. 2: the 3-gram input helps both): each size judged alone.
    const sized = (small: { b: number; o: number }, large: { b: number; o: number }) =>
      summary({
        cfgArms: [
          arm({ arm: "baseline", role: "baseline", valLoss: large.b, study: "cfg", noise: 0, lmParams: 20000 }),
          arm({ arm: "oe-3gram", role: "oe", valLoss: large.o, study: "cfg", m: 127, lmParams: 20000 }),
          arm({ arm: "small-baseline", role: "baseline", valLoss: small.b, study: "cfg", noise: 0, lmParams: 1000 }),
          arm({ arm: "small-oe-3gram", role: "oe", valLoss: small.o, study: "cfg", m: 127, lmParams: 1000 }),
        ],
      });
    it("two sizes: reproduced when OE is lower at both, partly at one, opposite when higher and lower at neither, not reproduced within the noise at both", () => {
      const both = claim(sized({ b: 0.95, o: 0.9 }, { b: 0.9, o: 0.8 }), id);
      expect(both.verdict).toBe("reproduced");
      expect(both.ours?.value).toBeCloseTo(-0.05, 12); // the smallest model's effect
      expect(both.why).toMatch(/LM 1,000 params: -0\.0500.*LM 20,000 params: -0\.1000/);
      expect(claim(sized({ b: 0.95, o: 0.9502 }, { b: 0.9, o: 0.8 }), id).verdict).toBe("partly");
      expect(claim(sized({ b: 0.95, o: 1.0 }, { b: 0.9, o: 0.8 }), id).verdict).toBe("partly");
      expect(claim(sized({ b: 0.95, o: 1.0 }, { b: 0.9, o: 0.9003 }), id).verdict).toBe("opposite");
      expect(claim(sized({ b: 0.95, o: 0.9502 }, { b: 0.9, o: 0.9003 }), id).verdict).toBe("not reproduced");
    });
    it("two sizes: not testable when either size's baseline is barely trained, naming that size", () => {
      const c = claim(sized({ b: 1.07, o: 0.9 }, { b: 0.9, o: 0.8 }), id);
      expect(c.verdict).toBe("not testable");
      expect(c.why).toMatch(/entropy floor it closes \(LM 1,000 params\)/);
      expect(claim(sized({ b: 0.95, o: 0.9 }, { b: 1.07, o: 0.8 }), id).verdict).toBe("not testable");
    });
  });

  describe("od-cfg3f-small and od-cfg3f-large (Fig. 2, output)", () => {
    const cfgArms = (od: number, head: ArmResult["odHead"], lmParams = 1000, suffix = "") => [
      arm({ arm: `baseline${suffix}`, role: "baseline", valLoss: 0.9, study: "cfg", noise: 0, lmParams }),
      arm({ arm: `od-2gram${suffix}`, role: "od", valLoss: od, study: "cfg", lmParams, odHead: head }),
    ];
    it("not testable with a factorised (MTP) head in the OD role, whatever the losses say", () => {
      for (const od of [1.0, 0.8]) {
        const c = claim(summary({ cfgArms: cfgArms(od, "factorised") }), "od-cfg3f-small");
        expect(c.verdict).toBe("not testable");
        expect(c.why).toMatch(/joint n-gram output head/);
      }
    });
    it("a labelled MTP-approximation arm beside the joint head does not decide the claim", () => {
      const mtp = arm({ arm: "mtp-2gram", role: "mtp-approx", valLoss: 0.5, study: "cfg", odHead: "factorised" });
      expect(claim(summary({ cfgArms: [...cfgArms(1.0, "joint"), mtp] }), "od-cfg3f-small").verdict).toBe("reproduced");
    });
    it("small: reproduced (hurts) / opposite (helps) / not reproduced with a joint head", () => {
      expect(claim(summary({ cfgArms: cfgArms(1.0, "joint") }), "od-cfg3f-small").verdict).toBe("reproduced");
      expect(claim(summary({ cfgArms: cfgArms(0.8, "joint") }), "od-cfg3f-small").verdict).toBe("opposite");
      expect(claim(summary({ cfgArms: cfgArms(0.9005, "joint") }), "od-cfg3f-small").verdict).toBe("not reproduced");
    });
    it("large: not testable with one model size; reproduced (helps) / opposite / not reproduced with a 20x larger model", () => {
      expect(claim(summary({ cfgArms: cfgArms(0.8, "joint") }), "od-cfg3f-large").verdict).toBe("not testable");
      const sized = (large: number) => summary({ cfgArms: [...cfgArms(1.0, "joint"), ...cfgArms(large, "joint", 20000, "-large")] });
      expect(claim(sized(0.8), "od-cfg3f-large").verdict).toBe("reproduced");
      expect(claim(sized(1.0), "od-cfg3f-large").verdict).toBe("opposite");
      expect(claim(sized(0.9005), "od-cfg3f-large").verdict).toBe("not reproduced");
      // The small model of the same summary is judged on its own arms.
      expect(claim(sized(0.8), "od-cfg3f-small").verdict).toBe("reproduced");
    });
  });
});
