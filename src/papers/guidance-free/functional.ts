/**
 * The noise-free functional test of GFT (issue 21): on fixed inputs, does the GFT model at β = 1/w output what
 * CFG outputs at w? No sampling, so no sampling noise; the floor is the same distance between two independently
 * trained CFG models (other init and data seeds).
 *
 * - Diffusion: inputs (x_t, t, c) with x_t = q(x_0, ε, t) for real x_0 and t on the sampler's DDIM steps; the
 *   distance is the mean squared difference of ε predictions (per coordinate).
 * - Autoregressive: held-out token sequences, teacher-forced; the distance is the per-token KL divergence
 *   KL(CFG guided next-token law ‖ model's law), averaged over positions and sequences.
 *
 * GFT is compared with the midpoint of the two CFG models (mean ε, mean normalised logits); the floor is the
 * distance between the two CFG models. Both metrics are locally quadratic, so a model drawn like a third CFG
 * seed lands at about 3/4 of the floor, and one with a systematic error δ² passes while δ² < half the seed
 * variance.
 */
import { np, jit, tree, type Array } from "../../engine/index.js";
import { Rng } from "../../util/rng.js";
import { ddimTimesteps, denoise, type DenoiserConfig, type DenoiserParams, type VPSchedule } from "./model.js";
import { arLogits, type ARConfig, type ARParams } from "./ar.js";
import type { FunctionalAtW } from "./summary.js";

/** Mean squared difference per coordinate. */
export function msd(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`msd: lengths ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / Math.max(a.length, 1);
}

/** Element-wise mean of equal-length arrays. */
export function meanArrays(xs: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(xs[0].length);
  for (const x of xs) for (let i = 0; i < out.length; i++) out[i] += x[i] / xs.length;
  return out;
}

/** CFG's guided output u + w(c − u) from host arrays (ε or logits). */
export function guided(cond: Float32Array, uncond: Float32Array, w: number): Float32Array {
  const out = new Float32Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i] + w * (cond[i] - uncond[i]);
  return out;
}

/** Normalise rows of V logits to log-probabilities. */
export function logSoftmaxRows(logits: Float32Array, V: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length; r += V) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[r + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[r + v] - m);
    const lz = m + Math.log(z);
    for (let v = 0; v < V; v++) out[r + v] = logits[r + v] - lz;
  }
  return out;
}

/** Mean over rows of KL(p ‖ q) for log-probability rows of width V. */
export function meanKL(logP: Float32Array, logQ: Float32Array, V: number): number {
  let s = 0;
  const rows = logP.length / V;
  for (let r = 0; r < logP.length; r += V) for (let v = 0; v < V; v++) s += Math.exp(logP[r + v]) * (logP[r + v] - logQ[r + v]);
  return s / Math.max(rows, 1);
}

/**
 * A probe: the CFG pair's targets at each w on fixed inputs, and the distance of any model's output to them.
 * `gaps(params)` gives, per w, the distance of the model at β = 1/w to the CFG midpoint at w.
 */
export type Probe<P> = {
  ws: number[];
  inputs: number;
  metric: string;
  gaps: (params: P) => Promise<number[]>;
  /** The per-w table without GFT models: floor, movement (midpoint@1 to midpoint@w), start (the first CFG model unguided). */
  base: () => FunctionalAtW[];
  dispose: () => void;
};

type Pair = { cond: Float32Array; uncond: Float32Array };

function buildBase(ws: number[], pairs: Pair[], dist: (ref: Float32Array, model: Float32Array) => number, sym: (a: Float32Array, b: Float32Array) => number, norm: (x: Float32Array) => Float32Array) {
  const at = (p: Pair, w: number) => norm(w === 1 ? p.cond : guided(p.cond, p.uncond, w));
  const mids = new Map<number, Float32Array>();
  const mid = (w: number) => {
    if (!mids.has(w)) mids.set(w, norm(meanArrays(pairs.map((p) => at(p, w)))));
    return mids.get(w)!;
  };
  const rows: FunctionalAtW[] = ws.map((w) => ({
    w,
    floor: pairs.length >= 2 ? sym(at(pairs[0], w), at(pairs[1], w)) : NaN,
    movement: dist(mid(w), mid(1)),
    start: dist(mid(w), at(pairs[0], 1)),
    gaps: {},
  }));
  return { mid, rows };
}

/** Diffusion probe inputs: x_t of real x_0 at t on the sampler's DDIM steps, with their labels. */
export function diffusionProbeInputs(drawX0: (rng: Rng, B: number) => { x0: Float32Array; labels: Int32Array }, d: number, schedule: VPSchedule, ddimSteps: number, n: number, seed: number) {
  const rng = Rng.stream(seed, "functional-probe");
  const { x0, labels } = drawX0(rng, n);
  const ts = ddimTimesteps(schedule, ddimSteps);
  const x = new Float32Array(n * d);
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = ts[rng.int(ts.length)];
    const ab = schedule.alphaBar[t[i]];
    for (let k = 0; k < d; k++) x[i * d + k] = Math.sqrt(ab) * x0[i * d + k] + Math.sqrt(1 - ab) * rng.normal();
  }
  return { x, t, labels, n };
}

/** The ε-space probe of a diffusion family: `cfgModels` are the independently trained CFG models (params not consumed). */
export async function makeDiffusionProbe(dcfg: DenoiserConfig, inp: { x: Float32Array; t: Float32Array; labels: Int32Array; n: number }, cfgModels: DenoiserParams[], ws: number[]): Promise<Probe<DenoiserParams>> {
  const n = inp.n;
  const d = dcfg.dataDim;
  const fn = jit((p: DenoiserParams, x: Array, t: Array, y: Array, beta: Array) => denoise(p, dcfg, x, t, y, beta));
  const run = async (p: DenoiserParams, y: Int32Array, beta: number): Promise<Float32Array> => {
    const out = fn(tree.ref(p), np.array(inp.x).reshape([n, d]), np.array(inp.t), np.array(y, { dtype: np.int32 }), np.full([n], beta)) as Array;
    const h = (await out.data()) as Float32Array;
    return Float32Array.from(h);
  };
  const nullY = new Int32Array(n).fill(dcfg.numClasses);
  const pairs: Pair[] = [];
  for (const p of cfgModels) pairs.push({ cond: await run(p, inp.labels, 1), uncond: await run(p, nullY, 1) });
  const id = (x: Float32Array) => x;
  const { mid, rows } = buildBase(ws, pairs, msd, msd, id);
  return {
    ws,
    inputs: n,
    metric: "mean squared difference of ε per coordinate",
    gaps: async (p) => {
      const out: number[] = [];
      for (const w of ws) out.push(msd(mid(w), await run(p, inp.labels, 1 / w)));
      return out;
    },
    base: () => rows.map((r) => ({ ...r, gaps: {} })),
    dispose: () => fn.dispose(),
  };
}

/** The token-KL probe of the autoregressive family: held-out sequences `tokens` [n·T] with labels. */
export async function makeARProbe(arCfg: ARConfig, tokens: Int32Array, labels: Int32Array, cfgModels: ARParams[], ws: number[]): Promise<Probe<ARParams>> {
  const n = labels.length;
  const T = arCfg.lm.contextLength;
  const V = arCfg.lm.vocabSize;
  const inTok = new Int32Array(n * (T - 1));
  for (let b = 0; b < n; b++) inTok.set(tokens.subarray(b * T, b * T + T - 1), b * (T - 1));
  const fn = jit((p: ARParams, x: Array, y: Array, beta: Array) => arLogits(p, arCfg, x, y, beta));
  const run = async (p: ARParams, y: Int32Array, beta: number): Promise<Float32Array> => {
    const out = fn(tree.ref(p), np.array(inTok, { dtype: np.int32 }).reshape([n, T - 1]), np.array(y, { dtype: np.int32 }), np.full([n], beta)) as Array;
    return logSoftmaxRows(Float32Array.from((await out.data()) as Float32Array), V);
  };
  const nullY = new Int32Array(n).fill(arCfg.numClasses);
  const pairs: Pair[] = [];
  for (const p of cfgModels) pairs.push({ cond: await run(p, labels, 1), uncond: await run(p, nullY, 1) });
  const kl = (ref: Float32Array, model: Float32Array) => meanKL(ref, model, V);
  const symKL = (a: Float32Array, b: Float32Array) => (meanKL(a, b, V) + meanKL(b, a, V)) / 2;
  const { mid, rows } = buildBase(ws, pairs, kl, symKL, (x) => logSoftmaxRows(x, V));
  return {
    ws,
    inputs: n,
    metric: "per-token KL(CFG midpoint at w ‖ model), nats",
    gaps: async (p) => {
      const out: number[] = [];
      for (const w of ws) out.push(kl(mid(w), await run(p, labels, 1 / w)));
      return out;
    },
    base: () => rows.map((r) => ({ ...r, gaps: {} })),
    dispose: () => fn.dispose(),
  };
}
