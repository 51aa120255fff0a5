/**
 * The functional test's arithmetic (plain-JS references) and the diffusion probe on two CFG models: a CFG model
 * (β ignored) sits at exactly the fine-tuning start, and the floor is the two models' guided ε difference.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, tree, type Array } from "../../engine/index.js";
import { guided, logSoftmaxRows, meanArrays, meanKL, msd, makeDiffusionProbe } from "./functional.js";
import { denoise, initDenoiser, type DenoiserConfig } from "./model.js";

beforeAll(async () => {
  await initEngine();
});

describe("functional-test arithmetic", () => {
  it("msd, midpoint and CFG's guided combination", () => {
    const a = Float32Array.from([1, 2]);
    const b = Float32Array.from([3, 6]);
    expect(msd(a, b)).toBeCloseTo((4 + 16) / 2);
    expect(Array.from(meanArrays([a, b]))).toEqual([2, 4]);
    // u + w(c − u) with c = a, u = b, w = 3: b + 3(a − b).
    expect(Array.from(guided(a, b, 3))).toEqual([-3, -6]);
  });
  it("log-softmax rows and KL: zero for equal laws, the closed form for two-token laws", () => {
    const p = logSoftmaxRows(Float32Array.from([0, 0, Math.log(3), 0]), 2); // rows (1/2, 1/2) and (3/4, 1/4)
    expect(Math.exp(p[2])).toBeCloseTo(0.75, 6);
    expect(meanKL(p, p, 2)).toBeCloseTo(0, 7);
    const q = logSoftmaxRows(Float32Array.from([0, 0, 0, 0]), 2);
    const kl2 = 0.75 * Math.log(0.75 / 0.5) + 0.25 * Math.log(0.25 / 0.5);
    expect(meanKL(p, q, 2)).toBeCloseTo(kl2 / 2, 6);
  });
  it("the quadratic midpoint rule: a third draw lands at 3/4 of the floor on average", () => {
    let sumGap = 0;
    let sumFloor = 0;
    let seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let t = 0; t < 200; t++) {
      const draw = () => Float32Array.from({ length: 64 }, rnd);
      const [A, B, G] = [draw(), draw(), draw()];
      sumGap += msd(G, meanArrays([A, B]));
      sumFloor += msd(A, B);
    }
    expect(sumGap / sumFloor).toBeGreaterThan(0.7);
    expect(sumGap / sumFloor).toBeLessThan(0.8);
  });
});

describe("the diffusion probe", () => {
  it("floor = ε difference of two CFG models at w; a CFG model at any β sits at the fine-tuning start", async () => {
    const dcfg: DenoiserConfig = { dataDim: 2, hidden: 16, depth: 1, numClasses: 3, freqDim: 8 };
    const A = initDenoiser(dcfg, 0, "none");
    const B = initDenoiser(dcfg, 1, "none");
    const n = 12;
    const inp = { x: Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(i)), t: Float32Array.from({ length: n }, (_, i) => 10 * i), labels: Int32Array.from({ length: n }, (_, i) => i % 3), n };
    const probe = await makeDiffusionProbe(dcfg, inp, [A, B], [2, 4]);
    const eps = async (p: typeof A, y: Int32Array) => {
      const out = denoise(tree.ref(p), dcfg, np.array(inp.x).reshape([n, 2]), np.array(inp.t), np.array(y, { dtype: np.int32 }), null) as Array;
      return Float32Array.from((await out.data()) as Float32Array);
    };
    const nullY = new Int32Array(n).fill(3);
    const [ac, au, bc, bu] = [await eps(A, inp.labels), await eps(A, nullY), await eps(B, inp.labels), await eps(B, nullY)];
    const base = probe.base();
    expect(base[1].floor).toBeCloseTo(msd(guided(ac, au, 4), guided(bc, bu, 4)), 6);
    expect(base[0].start).toBeCloseTo(msd(ac, meanArrays([guided(ac, au, 2), guided(bc, bu, 2)])), 6);
    const gaps = await probe.gaps(A);
    expect(gaps[0]).toBeCloseTo(base[0].start, 6);
    expect(gaps[1]).toBeCloseTo(base[1].start, 6);
    probe.dispose();
    tree.dispose(A);
    tree.dispose(B);
  });
});
