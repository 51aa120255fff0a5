import { describe, expect, it } from "vitest";
import { parseVerdicts, type ClaimResult } from "../../train/claims.js";
import { fp4TrainingPresets, type ArmName, type FP4TrainingConfig } from "./config.js";
import { clampActive, compareArms, minClampedWidth, fp4Claims, FP4_CLAIMS, MIN_MARGIN, seedFloor, trainedMargin } from "./claims.js";
import type { ArmSummary, FidelityRow, FP4TrainingSummary } from "./summary.js";

// Synthetic summaries: fp32 at 2.0 and the bigram at 3.0 give a margin of 1.0, so "close" and "a
// difference that matters" are 0.1 nats/byte and FP4 failing is a gap of 0.5.

/** Four validation batches around `level`, alternating ±`jitter` (the jitter sets the paired SE). */
const batches = (level: number, jitter = 0) => [level + jitter, level - jitter, level + jitter, level - jitter];

function arm(name: ArmName, level: number | "diverged", o: { seed?: number; jitter?: number; injected?: boolean } = {}): ArmSummary {
  const div = level === "diverged";
  const b = div ? [] : batches(level, o.jitter ?? 0);
  return {
    arm: name,
    seed: o.seed ?? 0,
    injected: o.injected ?? false,
    description: name,
    status: div ? "diverged" : "completed",
    steps: div ? 6 : 10,
    divergedAtStep: div ? 7 : null,
    params: 1000,
    finalTrainLoss: div ? NaN : (level as number),
    valLoss: div ? NaN : b.reduce((x, y) => x + y, 0) / b.length,
    valBatchLosses: b,
    msPerStep: 1,
    trainSeconds: 1,
  };
}

const fidRow = (clamp: boolean, compensate: boolean, quantile: number | null, snrDb: number, extra = false): FidelityRow => ({ clamp, compensate, quantile, snrDb, sim: 0.99, mse: 0.01, residualDensity: 0, tensors: 8, granularity: "token", extra });
/** Table 1 analogue rows (no clamp, clamp 0.999, comp 0.999 / 0.99 / 0.97) with the given SNRs, plus the extra clamp-only row. */
const fid = (snr: [number, number, number, number, number]): FidelityRow[] => [
  fidRow(false, false, null, snr[0]),
  fidRow(true, false, 0.999, snr[1]),
  fidRow(true, true, 0.999, snr[2]),
  fidRow(true, true, 0.99, snr[3]),
  fidRow(true, true, 0.97, snr[4]),
  fidRow(true, false, 0.99, snr[0] - 1, true),
];
/** Activations with outliers (OCC at 0.99 gains 10 dB, like the paper's Table 1). */
const OUTLIERS = fid([8, 14, 15, 18, 21]);
/** Activations without outliers (the quick run's numbers: OCC gains under 1 dB). */
const NO_OUTLIERS = fid([18.47, 18.47, 18.47, 19.39, 20.26]);

/** The mechanism test's rows: the quick check (direct cast 8.5 dB, OCC at 0.99 19.4 dB). */
const INJECTED = fid([8.5, 8.5, 8.5, 19.4, 21]);

function summary(arms: ArmSummary[], o: { bigram?: number; fidelity?: FidelityRow[] | null; widths?: number[]; injected?: FidelityRow[] | null } = {}): FP4TrainingSummary {
  const inj = o.injected === undefined ? INJECTED : o.injected;
  return {
    arms,
    bigramValLoss: o.bigram ?? 3.0,
    bigramAlpha: 0.01,
    fidelity: o.fidelity === undefined ? OUTLIERS : o.fidelity,
    fidelityWidths: o.widths ?? [1024, 4096],
    mechanism: inj ? { factor: 16, channel: 0, fidelity: inj } : null,
    trainSecondsAllArms: 0,
  };
}

const CFG: FP4TrainingConfig = fp4TrainingPresets.full; // every arm configured
const claim = (s: FP4TrainingSummary, id: string, cfg: FP4TrainingConfig = CFG): ClaimResult => {
  const c = fp4Claims(s, cfg).find((x) => x.id === id);
  if (!c) throw new Error(`claim ${id} not judged`);
  return c;
};
const fp32 = () => arm("fp32", 2.0);

describe("measurements behind the claims", () => {
  it("margin, floor and the paired comparison read every seed", () => {
    const one = summary([fp32(), arm("w4a4-dge-occ", 2.05, { jitter: 0.01 })]);
    expect(trainedMargin(one)).toBeCloseTo(1.0, 12);
    expect(seedFloor(one)).toBeNull();
    const c = compareArms(one, "fp32", "w4a4-dge-occ")!;
    expect(c.effect).toBeCloseTo(0.05, 12);
    // Paired differences 0.06, 0.04, 0.06, 0.04: sd 0.011547, SE 0.0057735.
    expect(c.se).toBeCloseTo(0.01 / Math.sqrt(3), 9);
    expect(c.seeds).toEqual([0]);

    const two = summary([fp32(), arm("fp32", 2.2, { seed: 1 }), arm("w4a4-dge-occ", 2.05), arm("w4a4-dge-occ", 2.35, { seed: 1 })]);
    expect(trainedMargin(two)).toBeCloseTo(0.9, 12);
    expect(seedFloor(two)).toBeCloseTo(0.2, 12);
    const c2 = compareArms(two, "fp32", "w4a4-dge-occ")!;
    expect(c2.effect).toBeCloseTo(0.1, 12);
    expect(c2.seeds).toEqual([0, 1]);
    expect(trainedMargin(summary([arm("w4a4-dge-occ", 2)]))).toBeNull();
  });

  it("knows when MS-AMP's quantile index rule clamps nothing", () => {
    expect(clampActive(0.999, 512)).toBe(false);
    expect(clampActive(0.999, 999)).toBe(false);
    expect(clampActive(0.999, 1000)).toBe(true); // (1 − 0.999)·1000 = 1.0000000000000009 in float64
    expect(minClampedWidth(0.999)).toBe(1000);
    expect(minClampedWidth(0.99)).toBe(100);
    expect(clampActive(0.99, 128)).toBe(true);
    expect(clampActive(0.99, 32)).toBe(false);
  });
});

describe("claim: FP4 with DGE + OCC close to fp32", () => {
  const id = "fp4-close-to-fp32";
  const v = (method: number | "diverged", o: Parameters<typeof summary>[1] = {}, jitter = 0) => claim(summary([fp32(), arm("w4a4-dge-occ", method, { jitter })], o), id);
  it("reaches every verdict", () => {
    expect(v(2.02).verdict).toBe("reproduced");
    expect(v(1.97).verdict).toBe("reproduced"); // FP4 a little below fp32 is close too
    expect(v(2.15).verdict).toBe("partly");
    expect(v(2.3).verdict).toBe("not reproduced");
    expect(v(2.6).verdict).toBe("opposite");
    expect(v("diverged").verdict).toBe("opposite");
  });
  it("counts the noise against closeness", () => {
    // gap 0.05 within the tolerance 0.1, but with 2 SE of 0.069 the band reaches past it.
    const r = v(2.05, {}, 0.06);
    expect(r.verdict).toBe("partly");
    expect(r.ours!.se).toBeGreaterThan(0.03);
    // A second fp32 seed 0.2 away puts the seed spread into the noise.
    const s = summary([fp32(), arm("fp32", 2.2, { seed: 1 }), arm("w4a4-dge-occ", 2.02), arm("w4a4-dge-occ", 2.22, { seed: 1 })]);
    const two = claim(s, id);
    expect(two.floor).toBeCloseTo(0.2, 12);
    expect(two.ours!.seeds).toEqual([0, 1]);
    expect(two.verdict).toBe("partly");
    expect(two.why).not.toMatch(/one trained seed/);
    expect(v(2.02).why).toMatch(/rests on one trained seed/);
  });
  it("is not testable when the margin cannot show a gap (the quick run's 0.10) or an arm did not train", () => {
    const r = v(2.02, { bigram: 2.1 });
    expect(r.verdict).toBe("not testable");
    expect(r.why).toMatch(/fp32 margin over the bigram \(nats\/byte\): 0\.100 \(needs >= 0\.500\)/);
    expect(r.gates.find((g) => g.name.startsWith("fp32 margin"))!.threshold).toBe(MIN_MARGIN);
    expect(claim(summary([fp32()]), id).verdict).toBe("not testable");
    const oneBatch = summary([{ ...fp32(), valBatchLosses: [2] }, { ...arm("w4a4-dge-occ", 2.02), valBatchLosses: [2.02] }]);
    expect(claim(oneBatch, id).why).toMatch(/validation batches per arm/);
  });
});

describe("claims: orderings of two arms", () => {
  // [claim id, the arm the paper says is better, the arm it says is worse, needs activation outliers]
  const cases: [string, ArmName, ArmName, boolean][] = [
    ["direct-cast-worse", "w4a4-dge-occ", "w4a4-direct", true],
    ["dge-helps", "w4a4-dge", "w4a4-direct", false],
    ["occ-helps", "w4a4-occ", "w4a4-direct", true],
    ["tensor-scaling-worse", "w4a4-dge-occ", "w4a4-dge-occ-tensor", false],
    ["coarse-activations-worse", "w4a4-dge-occ-wtensor", "w4a4-dge-occ-atensor", false],
  ];
  for (const [id, better, worse, outliers] of cases) {
    it(`${id}: reaches every verdict`, () => {
      const v = (b: number | "diverged", w: number | "diverged", o: Parameters<typeof summary>[1] = {}) => claim(summary([fp32(), arm(better, b, { jitter: 0.005 }), arm(worse, w)], o), id);
      expect(v(2.02, 2.2).verdict).toBe("reproduced"); // +0.18 >= 0.1 x margin
      expect(v(2.02, 2.06).verdict).toBe("partly"); // +0.04: beyond 2 SE (0.0058), below 0.1
      expect(v(2.02, 2.022).verdict).toBe("not reproduced"); // within the noise
      expect(v(2.02, 1.95).verdict).toBe("opposite");
      expect(v(2.02, "diverged").verdict).toBe("reproduced");
      expect(v("diverged", 2.02).verdict).toBe("opposite");
      expect(v("diverged", "diverged").verdict).toBe("not reproduced");
      expect(v(2.02, 2.2, { bigram: 2.1 }).verdict).toBe("not testable");
      expect(claim(summary([fp32(), arm(better, 2.02)]), id).why).toMatch(/arms trained/);
      const noOutliers = v(2.02, 2.2, { fidelity: NO_OUTLIERS });
      expect(noOutliers.verdict).toBe(outliers ? "not testable" : "reproduced");
      if (outliers) expect(noOutliers.why).toMatch(/activation outliers: SNR gain of OCC at α 0\.99 over no clamp \(dB\): 0\.920 \(needs >= 3\)/);
    });
  }
  it("a seed floor larger than the effect makes it noise", () => {
    const s = summary([fp32(), arm("fp32", 2.3, { seed: 1 }), arm("w4a4-dge-occ", 2.02), arm("w4a4-dge-occ", 2.32, { seed: 1 }), arm("w4a4-direct", 2.2), arm("w4a4-direct", 2.5, { seed: 1 })]);
    const r = claim(s, "direct-cast-worse");
    expect(r.floor).toBeCloseTo(0.3, 12);
    expect(r.verdict).toBe("not reproduced");
  });
});

describe("claim: DGE k = 5 in W4A8", () => {
  const id = "dge-k5-w4a8";
  const v = (ste: number, k3: number, k5: number, k10: number, o: Parameters<typeof summary>[1] = {}) =>
    claim(summary([fp32(), arm("w4a8-ste", ste), arm("w4a8-dge-k3", k3), arm("w4a8-dge-k5", k5, { jitter: 0.005 }), arm("w4a8-dge-k10", k10)], o), id);
  it("reaches every verdict", () => {
    expect(v(2.2, 2.08, 2.05, 2.07).verdict).toBe("reproduced");
    expect(v(2.2, 2.0, 2.05, 2.07).verdict).toBe("partly"); // k = 3 beats k = 5
    expect(v(2.09, 2.08, 2.05, 2.07).verdict).toBe("partly"); // +0.04 over STE, below 0.1
    expect(v(2.05, 2.08, 2.05, 2.07).verdict).toBe("not reproduced");
    expect(v(1.95, 2.08, 2.05, 2.07).verdict).toBe("opposite");
    expect(v(2.2, 2.08, 2.05, 2.07, { bigram: 2.3 }).verdict).toBe("not testable");
  });
});

describe("claim: W8A4 direct cast diverges", () => {
  const id = "w8a4-direct-diverges";
  const v = (direct: number | "diverged", occ: number | "diverged", o: Parameters<typeof summary>[1] = {}) => claim(summary([fp32(), arm("w8a4-direct", direct), arm("w8a4-occ-0.99", occ, { jitter: 0.005 })], o), id);
  it("reaches every verdict", () => {
    expect(v("diverged", 2.05).verdict).toBe("reproduced");
    expect(v("diverged", "diverged").verdict).toBe("partly");
    expect(v(2.25, 2.05).verdict).toBe("partly"); // trains, but clearly worse
    expect(v(2.08, 2.05).verdict).toBe("not reproduced"); // trains, a little worse
    expect(v(2.05, 2.05).verdict).toBe("not reproduced");
    expect(v(1.95, 2.05).verdict).toBe("opposite");
    expect(v(2.05, "diverged").verdict).toBe("opposite");
    expect(v("diverged", 2.05, { fidelity: NO_OUTLIERS }).verdict).toBe("not testable");
    expect(v("diverged", 2.05, { fidelity: null }).why).toMatch(/activation outliers.*not measured/);
  });
});

describe("claim: smaller OCC α trains better in W8A4", () => {
  const id = "occ-alpha-order";
  const v = (a999: number, a99: number, a97: number, o: Parameters<typeof summary>[1] = {}) => claim(summary([fp32(), arm("w8a4-occ-0.999", a999), arm("w8a4-occ-0.99", a99, { jitter: 0.005 }), arm("w8a4-occ-0.97", a97)], o), id);
  it("reaches every verdict", () => {
    expect(v(2.3, 2.2, 2.1).verdict).toBe("reproduced");
    expect(v(2.3, 2.2, 2.2).verdict).toBe("partly");
    expect(v(2.12, 2.1, 2.08).verdict).toBe("partly"); // both steps down, 0.04 in all: below 0.1 x margin
    expect(v(2.1, 2.2, 2.3).verdict).toBe("opposite");
    expect(v(2.1, 2.2, 2.1).verdict).toBe("not reproduced");
    expect(v(2.2, 2.2, 2.2).verdict).toBe("not reproduced");
  });
  it("is not testable where α = 0.999 clamps nothing (rows narrower than 1,000)", () => {
    const r = v(2.3, 2.2, 2.1, { widths: [128, 512] });
    expect(r.verdict).toBe("not testable");
    expect(r.why).toMatch(/widest activation row/);
  });
});

describe("claim: Table 1 fidelity ordering", () => {
  const id = "table1-fidelity-order";
  const v = (f: FidelityRow[] | null, widths = [1024, 4096]) => claim(summary([fp32()], { fidelity: f, widths }), id);
  it("reaches every verdict", () => {
    expect(v(OUTLIERS).verdict).toBe("reproduced");
    expect(v(OUTLIERS).ours!.value).toBeCloseTo(10, 12);
    expect(v(fid([8, 14, 13, 18, 21])).verdict).toBe("not reproduced");
    expect(v(fid([18, 14, 15, 16, 17])).verdict).toBe("opposite");
    expect(v(null).verdict).toBe("not testable");
  });
  it("skips rows whose clamp is a no-op at the captured widths (partly), and needs two steps left", () => {
    const r = v(fid([10, 10, 10, 12, 13]), [128, 512]);
    expect(r.verdict).toBe("partly");
    expect(r.why).toMatch(/skipped \(clamp a no-op at widths 128 \/ 512\): clamp 0\.999, clamp \+ comp 0\.999/);
    expect(v(fid([10, 10, 10, 10, 13]), [64]).verdict).toBe("not testable"); // only α = 0.97 clamps rows of 64
  });
});

describe("mechanism test: SNR with an injected outlier channel", () => {
  const id = "mechanism-outlier-snr";
  // The natural activations: no clamp at 18.47 dB (NO_OUTLIERS), so the injection's drop is 18.47 − direct.
  const v = (direct: number, occ: number) => claim(summary([fp32()], { fidelity: NO_OUTLIERS, injected: fid([direct, direct, direct, occ, occ + 1]) }), id);
  it("reaches every verdict", () => {
    const r = v(8.5, 19.4);
    expect(r.kind).toBe("mechanism");
    expect(r.verdict).toBe("reproduced");
    expect(r.ours!.value).toBeCloseTo(10.9, 12);
    expect(r.why).toMatch(/8\.50 dB cast directly, 19\.40 dB with clamp \+ compensation at α 0\.99/);
    expect(v(8.5, 12).verdict).toBe("partly"); // +3.5 dB: below half the paper's 10.07
    expect(v(8.5, 9).verdict).toBe("not reproduced"); // +0.5 dB
    expect(v(8.5, 6).verdict).toBe("opposite");
  });
  it("is not testable when the injection made no outlier, or nothing was measured", () => {
    const r = v(17, 19.4);
    expect(r.verdict).toBe("not testable");
    expect(r.why).toMatch(/the injection creates an outlier: direct-cast SNR, natural minus injected activations \(dB\): 1\.47/);
    expect(claim(summary([fp32()], { injected: null }), id).verdict).toBe("not testable");
  });
});

describe("mechanism test: training with the outlier channel", () => {
  const id = "mechanism-outlier-training";
  const mech = (name: ArmName, level: number | "diverged", jitter = 0) => arm(name, level, { injected: true, jitter });
  const v = (direct: number | "diverged", occ: number | "diverged", o: Parameters<typeof summary>[1] = {}) => claim(summary([fp32(), mech("w8a4-direct", direct), mech("w8a4-occ-0.99", occ, 0.005)], o), id);
  it("reaches every verdict", () => {
    expect(v(2.3, 2.05).verdict).toBe("reproduced"); // +0.25 >= 0.1 x margin
    expect(v(2.3, 2.05).kind).toBe("mechanism");
    expect(v(2.09, 2.05).verdict).toBe("partly");
    expect(v(2.052, 2.05).verdict).toBe("not reproduced");
    expect(v(1.95, 2.05).verdict).toBe("opposite");
    expect(v("diverged", 2.05).verdict).toBe("reproduced");
    expect(v(2.05, "diverged").verdict).toBe("opposite");
  });
  it("is not testable without outliers, margin or arms; paper-setting arms do not count", () => {
    expect(v(2.3, 2.05, { injected: NO_OUTLIERS }).why).toMatch(/outlier-channel activations: SNR gain/);
    expect(v(2.3, 2.05, { bigram: 2.2 }).verdict).toBe("not testable");
    const plain = claim(summary([fp32(), arm("w8a4-direct", 2.3), arm("w8a4-occ-0.99", 2.05)]), id);
    expect(plain.verdict).toBe("not testable");
    expect(plain.why).toMatch(/outlier-channel arms trained/);
  });
  it("the injected arms do not feed the paper-setting W8A4 claim", () => {
    const s = summary([fp32(), mech("w8a4-direct", "diverged"), mech("w8a4-occ-0.99", 2.05)]);
    expect(claim(s, "w8a4-direct-diverges").verdict).toBe("not testable");
  });
});

describe("the claim list", () => {
  it("judges the claims whose arms the run has, each with a schema-valid result", () => {
    const main = fp4TrainingPresets.quick;
    const s = summary([fp32(), arm("w4a4-direct", 2.2), arm("w4a4-dge-occ", 2.02), arm("w4a4-dge-occ-tensor", 2.05)]);
    expect(fp4Claims(s, main).map((c) => c.id)).toEqual(["fp4-close-to-fp32", "direct-cast-worse", "table1-fidelity-order", "mechanism-outlier-snr", "mechanism-outlier-training"]);
    expect(fp4Claims(s, CFG).map((c) => c.id)).toEqual(Object.values(FP4_CLAIMS).map((c) => c.id));
    const file = parseVerdicts({ experiment: "fp4-training", preset: "full", smokeTest: false, createdAt: "2026-01-01T00:00:00Z", gitCommit: null, claims: fp4Claims(s, CFG) });
    expect(file.claims.length).toBe(12);
  });
  it("reads the README's quick run (margin 0.10) as not testable for every loss claim", () => {
    const quick = summary([arm("fp32", 2.3446), arm("w4a4-direct", 2.3482), arm("w4a4-dge", 2.3737), arm("w4a4-dge-occ", 2.3726)], { bigram: 2.4464, fidelity: NO_OUTLIERS, widths: [128, 512] });
    const v = fp4Claims(quick, fp4TrainingPresets.quick);
    expect(v.map((c) => c.verdict)).toEqual(["not testable", "not testable", "partly", "reproduced", "not testable"]);
  });
});
