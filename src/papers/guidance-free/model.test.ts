import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, jit, valueAndGrad, np, tree, type Array, disposeTree } from "../../engine/index.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import {
  addZeroBetaProjection,
  arraysToBatch,
  batchToArrays,
  cfgLoss,
  ddimTimesteps,
  denoise,
  gftLoss,
  guidanceFreeMix,
  initDenoiser,
  linearVPSchedule,
  makeDiffusionBatch,
  nfePerStep,
  sampleDDIM,
  sinusoidalEmbedding,
  type DenoiserConfig,
  type DenoiserParams,
  type DiffusionBatch,
  diffusionBatchFromHost,
} from "./model.js";
import { ringMixture, sampleMixture } from "./data.js";

beforeAll(async () => {
  await initEngine();
});

const cfg: DenoiserConfig = { dataDim: 3, hidden: 8, depth: 2, numClasses: 3, freqDim: 8 };

/** Params as nested plain JS number arrays (row-major), without consuming them. */
async function toJS(p: unknown): Promise<unknown> {
  if (p && typeof p === "object" && "shape" in (p as object) && !globalThis.Array.isArray(p)) return globalThis.Array.from((await (p as Array).ref.data()) as Float32Array);
  if (globalThis.Array.isArray(p)) return Promise.all(p.map(toJS));
  if (p && typeof p === "object") return Object.fromEntries(await Promise.all(Object.entries(p).map(async ([k, v]) => [k, await toJS(v)])));
  return p;
}
const read = async (a: Array) => globalThis.Array.from((await a.data()) as Float32Array);

type Lin = { w: number[]; b?: number[] };
const matvec = (x: number[], l: Lin, nOut: number) => {
  const nIn = x.length;
  const y = new globalThis.Array(nOut).fill(0).map((_, j) => (l.b ? l.b[j] : 0));
  for (let i = 0; i < nIn; i++) for (let j = 0; j < nOut; j++) y[j] += x[i] * l.w[i * nOut + j];
  return y;
};
const silu = (v: number[]) => v.map((z) => z / (1 + Math.exp(-z)));
const ln = (v: number[], g: number[], b: number[]) => {
  const m = v.reduce((s, z) => s + z, 0) / v.length;
  const va = v.reduce((s, z) => s + (z - m) ** 2, 0) / v.length;
  return v.map((z, i) => ((z - m) / Math.sqrt(va + 1e-5)) * g[i] + b[i]);
};
const sinus = (v: number, dim: number) => {
  const h = dim / 2;
  const f = globalThis.Array.from({ length: h }, (_, i) => Math.exp((-Math.log(10000) * i) / h));
  return [...f.map((fi) => Math.cos(v * fi)), ...f.map((fi) => Math.sin(v * fi))];
};

/** Plain-JS forward of the denoiser for one example (the reference). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function jsDenoise(P: any, c: DenoiserConfig, x: number[], t: number, y: number, beta: number | null): number[] {
  const H = c.hidden;
  let freq = sinus(t, c.freqDim);
  if (P.betaProj && beta !== null) {
    const be = matvec(sinus(beta * 1000, c.freqDim), P.betaProj, c.freqDim);
    freq = freq.map((v, i) => v + be[i]);
  }
  const tEmb = matvec(silu(matvec(freq, P.tMlp1, H)), P.tMlp2, H);
  const cv = silu(tEmb.map((v, i) => v + P.classEmb.table[y * H + i]));
  let h = matvec(x, P.inProj, H);
  for (const b of P.blocks) {
    const mod = matvec(cv, b.mod, 2 * H);
    const z = ln(h, b.norm.g, b.norm.b).map((v, i) => v * (1 + mod[H + i]) + mod[i]);
    const dh = matvec(silu(matvec(z, b.up, 2 * H)), b.down, H);
    h = h.map((v, i) => v + dh[i]);
  }
  return matvec(ln(h, P.outNorm.g, P.outNorm.b), P.out, c.dataDim);
}

/** A fixed batch: 5 examples, two with the condition dropped (label K, β = 1). */
function fixedBatch() {
  const B = 5;
  const d = cfg.dataDim;
  const x0 = globalThis.Array.from({ length: B * d }, (_, i) => Math.sin(1.3 * i) * 0.9);
  const eps = globalThis.Array.from({ length: B * d }, (_, i) => Math.cos(0.7 * i + 0.2));
  const t = [3, 250, 500, 730, 999];
  const sched = linearVPSchedule(1000);
  const sa = t.map((ti) => Math.sqrt(sched.alphaBar[ti]));
  const s1 = t.map((ti) => Math.sqrt(1 - sched.alphaBar[ti]));
  const y = [0, 3, 1, 2, 3];
  const beta = [0.2, 1, 0.55, 0.9, 1];
  const make = (): DiffusionBatch => diffusionBatchFromHost({ x0, eps, t, sqrtAb: sa, sqrt1mAb: s1, y, beta }, B, d);
  return { B, d, x0, eps, t, sa, s1, y, beta, make };
}

describe("schedule and embeddings", () => {
  it("linear VP schedule has DDPM's endpoints and DDIM times run from N-1 down to 0", () => {
    const s = linearVPSchedule(1000);
    expect(s.alphaBar[0]).toBeCloseTo(1 - 1e-4, 10);
    expect(s.alphaBar[999]).toBeGreaterThan(0);
    expect(s.alphaBar[999]).toBeLessThan(1e-4);
    for (let i = 1; i < 1000; i++) expect(s.alphaBar[i]).toBeLessThan(s.alphaBar[i - 1]);
    expect(ddimTimesteps(s, 5)).toEqual([999, 749, 500, 250, 0]);
    expect(() => ddimTimesteps(s, 0)).toThrow(/ddimSteps/);
  });

  it("sinusoidal embedding matches the plain-JS formula", async () => {
    const v = [0, 1, 37.5, 999];
    const got = await read(sinusoidalEmbedding(np.array(v), 8));
    const want = v.flatMap((x) => sinus(x, 8));
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 4)); // float32 arguments up to 999
  });
});

describe("denoiser and losses", () => {
  it("the denoiser matches a plain-JS forward (with and without β)", async () => {
    const p = initDenoiser(cfg, 3, "scratch");
    const P = await toJS(p);
    const { B, d, y, beta, t } = fixedBatch();
    const x = globalThis.Array.from({ length: B * d }, (_, i) => 0.3 * i - 1);
    const got = await read(denoise(tree.ref(p), cfg, np.array(x).reshape([B, d]), np.array(t), np.array(y, { dtype: np.int32 }), np.array(beta)));
    for (let i = 0; i < B; i++) {
      const want = jsDenoise(P, cfg, x.slice(i * d, (i + 1) * d), t[i], y[i], beta[i]);
      for (let k = 0; k < d; k++) expect(got[i * d + k]).toBeCloseTo(want[k], 4);
    }
    tree.dispose(p);
  });

  it("the GFT loss equals mean‖ε − (β·ε_s + (1−β)·ε_u)‖² computed in plain JS on a fixed batch", async () => {
    const p = initDenoiser(cfg, 1, "scratch");
    const P = await toJS(p);
    const fb = fixedBatch();
    let ref = 0;
    let refCfg = 0;
    for (let i = 0; i < fb.B; i++) {
      const xt = globalThis.Array.from({ length: fb.d }, (_, k) => fb.sa[i] * fb.x0[i * fb.d + k] + fb.s1[i] * fb.eps[i * fb.d + k]);
      const es = jsDenoise(P, cfg, xt, fb.t[i], fb.y[i], fb.beta[i]);
      const eu = jsDenoise(P, cfg, xt, fb.t[i], cfg.numClasses, 1);
      for (let k = 0; k < fb.d; k++) {
        const ec = fb.beta[i] * es[k] + (1 - fb.beta[i]) * eu[k];
        ref += (fb.eps[i * fb.d + k] - ec) ** 2;
      }
    }
    ref /= fb.B * fb.d;
    const got = (await read(gftLoss(tree.ref(p), cfg, fb.make())))[0];
    expect(got).toBeCloseTo(ref, 5);
    // The CFG loss is the plain conditional ε-MSE (a model without β).
    const pc = initDenoiser(cfg, 1, "none");
    const Pc = await toJS(pc);
    for (let i = 0; i < fb.B; i++) {
      const xt = globalThis.Array.from({ length: fb.d }, (_, k) => fb.sa[i] * fb.x0[i * fb.d + k] + fb.s1[i] * fb.eps[i * fb.d + k]);
      const e = jsDenoise(Pc, cfg, xt, fb.t[i], fb.y[i], null);
      for (let k = 0; k < fb.d; k++) refCfg += (fb.eps[i * fb.d + k] - e[k]) ** 2;
    }
    refCfg /= fb.B * fb.d;
    expect((await read(cfgLoss(tree.ref(pc), cfg, fb.make())))[0]).toBeCloseTo(refCfg, 5);
    // β = 1 for every example reduces GFT to the conditional loss of the sampling model.
    tree.dispose(p);
    tree.dispose(pc);
  });

  it("no gradient flows through the unconditional pass", async () => {
    const p = initDenoiser(cfg, 2, "scratch");
    const fb = fixedBatch();
    const lossGrad = (stop: boolean) => jit((pp: DenoiserParams, ...b: Array[]) => valueAndGrad((q: DenoiserParams) => gftLoss(q, cfg, arraysToBatch(b), { stopGradient: stop }))(pp));
    // Reference: the same loss with ε_u computed beforehand and fed in as a constant.
    const fixedU = jit((pp: DenoiserParams, ...b: Array[]) => {
      const { x0, eps, t, sqrtAb, sqrt1mAb, beta } = arraysToBatch(b);
      const B = x0.shape[0];
      const xt = x0.mul(sqrtAb.reshape([B, 1])).add(eps.mul(sqrt1mAb.reshape([B, 1])));
      return denoise(pp, cfg, xt, t, np.full([B], cfg.numClasses, { dtype: np.int32 }), np.ones([B])).add(beta.mul(0).reshape([B, 1]));
    });
    const epsU = fixedU(tree.ref(p), ...batchToArrays(fb.make())) as Array;
    const refGrad = jit((pp: DenoiserParams, u: Array, ...b: Array[]) =>
      valueAndGrad((q: DenoiserParams) => {
        const bb = arraysToBatch(b);
        const B = bb.x0.shape[0];
        const xt = bb.x0.mul(bb.sqrtAb.reshape([B, 1])).add(bb.eps.ref.mul(bb.sqrt1mAb.reshape([B, 1])));
        const es = denoise(q, cfg, xt, bb.t, bb.y, bb.beta.ref);
        return np.square(bb.eps.sub(guidanceFreeMix(es, u, bb.beta))).mean();
      })(pp),
    );
    const [v1, g1] = lossGrad(true)(tree.ref(p), ...batchToArrays(fb.make())) as [Array, DenoiserParams];
    const [v2, g2] = refGrad(tree.ref(p), epsU, ...batchToArrays(fb.make())) as [Array, DenoiserParams];
    const [v3, g3] = lossGrad(false)(tree.ref(p), ...batchToArrays(fb.make())) as [Array, DenoiserParams];
    const refValue = (await read(v2))[0];
    expect((await read(v1))[0]).toBeCloseTo(refValue, 6);
    expect((await read(v3))[0]).toBeCloseTo(refValue, 6);
    const l1 = tree.leaves(g1) as Array[];
    const l2 = tree.leaves(g2) as Array[];
    const l3 = tree.leaves(g3) as Array[];
    let maxDiffStop = 0;
    let maxDiffFlow = 0;
    for (let i = 0; i < l1.length; i++) {
      const a = await read(l1[i]);
      const b = await read(l2[i]);
      const c = await read(l3[i]);
      a.forEach((v, j) => (maxDiffStop = Math.max(maxDiffStop, Math.abs(v - b[j]))));
      c.forEach((v, j) => (maxDiffFlow = Math.max(maxDiffFlow, Math.abs(v - b[j]))));
    }
    expect(maxDiffStop).toBeLessThan(1e-6);
    // The ablation (gradient through ε_u) does change the gradient, so the check above can fail.
    expect(maxDiffFlow).toBeGreaterThan(1e-4);
    tree.dispose(p);
  });

  it("the null-class embedding gets no gradient from the unconditional pass when no label is dropped", async () => {
    const p = initDenoiser(cfg, 4, "scratch");
    const fb = fixedBatch();
    const mk = () => {
      const b = fb.make();
      b.y.dispose();
      b.beta.dispose();
      return { ...b, y: np.array([0, 1, 2, 0, 1], { dtype: np.int32 }), beta: np.array([0.2, 0.4, 0.6, 0.8, 0.3]) };
    };
    const nullRowGrad = async (stop: boolean) => {
      const f = jit((pp: DenoiserParams, ...b: Array[]) => valueAndGrad((q: DenoiserParams) => gftLoss(q, cfg, arraysToBatch(b), { stopGradient: stop }))(pp));
      const [v, g] = f(tree.ref(p), ...batchToArrays(mk())) as [Array, DenoiserParams];
      v.dispose();
      const table = await read(g.classEmb.table.ref);
      tree.dispose(g);
      return table.slice(cfg.numClasses * cfg.hidden).reduce((s, x) => s + Math.abs(x), 0);
    };
    expect(await nullRowGrad(true)).toBe(0);
    expect(await nullRowGrad(false)).toBeGreaterThan(1e-6);
    tree.dispose(p);
  });

  it("fine-tuning starts from the CFG model's outputs: a zero β projection changes nothing", async () => {
    const pc = initDenoiser(cfg, 5, "none");
    const pf = addZeroBetaProjection(initDenoiser(cfg, 5, "none"), cfg);
    const { B, d, t, y } = fixedBatch();
    const x = globalThis.Array.from({ length: B * d }, (_, i) => Math.cos(i));
    const a = await read(denoise(pc, cfg, np.array(x).reshape([B, d]), np.array(t), np.array(y, { dtype: np.int32 }), null));
    const b = await read(denoise(pf, cfg, np.array(x).reshape([B, d]), np.array(t), np.array(y, { dtype: np.int32 }), np.array([0.1, 0.3, 0.5, 0.7, 1])));
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 6));
  });
});

describe("samplers", () => {
  const sched = linearVPSchedule(200);
  const labels = Int32Array.from([0, 1, 2, 0, 1, 2]);
  /** A fresh model barely depends on c and β (small init); scaling every weight makes the differences visible. */
  const boosted = (p: DenoiserParams): DenoiserParams => tree.map((a: Array) => a.mul(4), p as never) as DenoiserParams;

  /** Plain-JS DDIM loop around an eager ε function: the reference conditional sampler. */
  async function referenceDDIM(p: DenoiserParams, c: DenoiserConfig, steps: number, seed: number, withBeta: boolean) {
    const n = labels.length;
    const d = c.dataDim;
    const rng = new Rng(seed);
    const x = globalThis.Array.from({ length: n * d }, () => rng.normal());
    const ts = ddimTimesteps(sched, steps);
    for (let k = 0; k < ts.length; k++) {
      const ab = sched.alphaBar[ts[k]];
      const abPrev = k + 1 < ts.length ? sched.alphaBar[ts[k + 1]] : 1;
      const e = await read(denoise(tree.ref(p), c, np.array(x).reshape([n, d]), np.full([n], ts[k]), np.array(labels, { dtype: np.int32 }), withBeta ? np.ones([n]) : null));
      for (let i = 0; i < x.length; i++) {
        const x0 = (x[i] - Math.sqrt(1 - ab) * e[i]) / Math.sqrt(ab);
        x[i] = Math.sqrt(abPrev) * x0 + Math.sqrt(1 - abPrev) * e[i];
      }
    }
    return x;
  }

  it("the GFT sampler at β = 1 equals the conditional sampler", async () => {
    const p = boosted(initDenoiser(cfg, 6, "scratch"));
    const ref = await referenceDDIM(p, cfg, 4, 11, true);
    const gft = await sampleDDIM(p, cfg, sched, { labels, ddimSteps: 4, guidance: { kind: "gft", beta: 1 }, rng: new Rng(11) });
    const cond = await sampleDDIM(p, cfg, sched, { labels, ddimSteps: 4, guidance: { kind: "cond" }, rng: new Rng(11) });
    ref.forEach((v, i) => {
      expect(gft.x[i]).toBeCloseTo(v, 3);
      expect(cond.x[i]).toBeCloseTo(v, 3);
    });
    expect(gft.nfe).toBe(4);
    // A different β changes the samples (the check above can fail).
    const other = await sampleDDIM(p, cfg, sched, { labels, ddimSteps: 4, guidance: { kind: "gft", beta: 0.3 }, rng: new Rng(11) });
    expect(Math.max(...globalThis.Array.from(other.x, (v, i) => Math.abs(v - ref[i])))).toBeGreaterThan(1e-3);
    tree.dispose(p);
  });

  it("CFG at w = 1 equals the conditional sampler, at twice the network evaluations", async () => {
    const p = boosted(initDenoiser(cfg, 7, "none"));
    const ref = await referenceDDIM(p, cfg, 4, 12, false);
    const w1 = await sampleDDIM(p, cfg, sched, { labels, ddimSteps: 4, guidance: { kind: "cfg", w: 1 }, rng: new Rng(12) });
    ref.forEach((v, i) => expect(w1.x[i]).toBeCloseTo(v, 3));
    expect(w1.nfe).toBe(8);
    expect(nfePerStep({ kind: "cfg", w: 3 })).toBe(2);
    expect(nfePerStep({ kind: "gft", beta: 0.3 })).toBe(1);
    const w3 = await sampleDDIM(p, cfg, sched, { labels, ddimSteps: 4, guidance: { kind: "cfg", w: 3 }, rng: new Rng(12) });
    expect(Math.max(...globalThis.Array.from(w3.x, (v, i) => Math.abs(v - ref[i])))).toBeGreaterThan(1e-3);
    tree.dispose(p);
  });
});

describe("training", () => {
  it("a short GFT run on the 2-D mixture lowers the loss", async () => {
    const c: DenoiserConfig = { dataDim: 2, hidden: 32, depth: 1, numClasses: 4, freqDim: 16 };
    const mix = ringMixture({ classes: 4, componentsPerClass: 2, radius: 2, spread: 0.3, std: 0.2 });
    const sched = linearVPSchedule(100);
    let params = initDenoiser(c, 0, "scratch");
    let opt = adamwInit(params);
    const ts = makeTrainStep<DenoiserParams>((p, ...b) => gftLoss(p, c, arraysToBatch(b)), { adamw: { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 }, clip: 1, decayMask: defaultDecayMask(params) });
    const rng = new Rng(3);
    const losses: number[] = [];
    for (let s = 0; s < 80; s++) {
      const lab = Int32Array.from({ length: 128 }, () => rng.int(4));
      const b = makeDiffusionBatch(sampleMixture(mix, lab, rng), lab, 2, sched, { classDropout: 0.1, minBeta: 0, maxBeta: 1 }, 4, rng);
      const o = ts.step(params, opt, batchToArrays(b), 3e-3, s + 1);
      losses.push((await read(o.loss))[0]);
      o.gradNorm.dispose();
      params = o.params;
      opt = o.opt;
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-15))).toBeLessThan(0.8 * mean(losses.slice(0, 15)));
    ts.dispose();
    tree.dispose(params);
    disposeTree(opt);
  });

  it("dropped conditions get the null label and β = 1; β is U(minBeta, maxBeta) otherwise", async () => {
    const sched = linearVPSchedule(100);
    const n = 2000;
    const b = makeDiffusionBatch(new Float32Array(n), new Int32Array(n), 1, sched, { classDropout: 0.1, minBeta: 0.2, maxBeta: 0.6 }, 5, new Rng(9));
    const y = globalThis.Array.from((await b.y.data()) as Int32Array);
    const beta = await read(b.beta);
    tree.dispose([b.x0, b.eps, b.t, b.sqrtAb, b.sqrt1mAb]);
    const dropped = y.filter((v) => v === 5).length / n;
    expect(dropped).toBeGreaterThan(0.07);
    expect(dropped).toBeLessThan(0.13);
    y.forEach((v, i) => {
      if (v === 5) expect(beta[i]).toBe(1);
      else {
        expect(beta[i]).toBeGreaterThanOrEqual(0.2);
        expect(beta[i]).toBeLessThan(0.6);
      }
    });
  });
});
