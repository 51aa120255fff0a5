/**
 * Pilot (issue 25, route 1): the optimizer part of the reference step in variants, compared in one
 * process in interleaved rounds (A/B/A/B), with kernel counts and the losses of each variant.
 *   base:  clipByGlobalNorm + adamwUpdate (today's step)
 *   fold:  the clip scale folded into the moment updates (no materialised scaled gradient)
 *   flat:  fold, plus the global norm over one concatenated buffer (one reduction)
 *   flatall: one flat buffer of p, g, m, v, one update, split back into leaves
 * Run: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-adamw.mts
 */
import { initEngine, np, tree, crossEntropy, jitTyped, valueAndGradTyped, refTree, kernelProfile, type Array, type JsTree } from "../../src/engine/index.js";
import { defaultLMConfig, initLM, lmForward, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, adamwScalars, defaultAdamW, defaultDecayMask, type AdamWState } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { Rng } from "../../src/util/rng.js";

const info = await initEngine();
const cfg = { ...defaultLMConfig };
const B = 16;
const T = cfg.contextLength;
const A = defaultAdamW;
const lossFn = (p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y);
const mask = defaultDecayMask(initLM(cfg, 0));
const maskLeaves = (() => {
  const out: boolean[] = [];
  const walk = (t: unknown) => {
    if (typeof t === "boolean") out.push(t);
    else if (Array.isArray(t)) t.forEach(walk);
    else if (t && typeof t === "object") Object.values(t).forEach(walk);
  };
  walk(mask);
  return out;
})();

type Upd = (params: LMParams, grads: LMParams, opt: AdamWState<LMParams>, lr: Array, bc1: Array, bc2: Array) => { params: LMParams; opt: AdamWState<LMParams>; gradNorm: Array };

function foldUpd(flatNorm: boolean): Upd {
  return (params, grads, opt, lr, bc1, bc2) => {
    const [pl, def] = tree.flatten(params as JsTree<Array>) as [Array[], unknown];
    const gl = tree.leaves(grads as JsTree<Array>) as Array[];
    const ml = tree.leaves(opt.m as JsTree<Array>) as Array[];
    const vl = tree.leaves(opt.v as JsTree<Array>) as Array[];
    let gn: Array;
    if (flatNorm) {
      const cat = np.concatenate(gl.map((g) => g.ref.reshape([-1])));
      gn = np.sqrt(np.square(cat).sum());
    } else {
      let s: Array | null = null;
      for (const g of gl) {
        const sq = np.square(g.ref).sum();
        s = s ? s.add(sq) : sq;
      }
      gn = np.sqrt(s!);
    }
    const scale = np.minimum(np.reciprocal(gn.ref.add(1e-6)).mul(1), 1);
    const np2: Array[] = [];
    const nm: Array[] = [];
    const nv: Array[] = [];
    for (let i = 0; i < pl.length; i++) {
      const g = gl[i];
      const m = ml[i].mul(A.beta1).add(g.ref.mul(scale.ref).mul(1 - A.beta1));
      const v = vl[i].mul(A.beta2).add(np.square(g.mul(scale.ref)).mul(1 - A.beta2));
      let upd = m.ref.div(bc1.ref).div(np.sqrt(v.ref.div(bc2.ref)).add(A.eps));
      let p = pl[i];
      if (maskLeaves[i] && A.weightDecay > 0) upd = upd.add(p.ref.mul(A.weightDecay));
      p = p.sub(upd.mul(lr.ref));
      np2.push(p);
      nm.push(m);
      nv.push(v);
    }
    scale.dispose();
    lr.dispose();
    bc1.dispose();
    bc2.dispose();
    const un = (xs: Array[]) => tree.unflatten(def as Parameters<typeof tree.unflatten>[0], xs) as LMParams;
    return { params: un(np2), opt: { m: un(nm), v: un(nv) }, gradNorm: gn };
  };
}

const flatAllUpd: Upd = (params, grads, opt, lr, bc1, bc2) => {
  const [pl, def] = tree.flatten(params as JsTree<Array>) as [Array[], unknown];
  const shapes = pl.map((p) => p.shape);
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const cuts: number[] = [];
  sizes.reduce((a, s) => (cuts.push(a + s), a + s), 0);
  cuts.pop();
  const cat = (xs: Array[]) => np.concatenate(xs.map((x) => x.reshape([-1])));
  const p = cat(pl);
  const g = cat(tree.leaves(grads as JsTree<Array>) as Array[]);
  const m0 = cat(tree.leaves(opt.m as JsTree<Array>) as Array[]);
  const v0 = cat(tree.leaves(opt.v as JsTree<Array>) as Array[]);
  const wd = np.array(Float32Array.from(pl.flatMap((_, i) => Array.from({ length: sizes[i] }, () => (maskLeaves[i] ? A.weightDecay : 0)))));
  const gn = np.sqrt(np.square(g.ref).sum());
  const scale = np.minimum(np.reciprocal(gn.ref.add(1e-6)).mul(1), 1);
  const gs = g.mul(scale);
  const m = m0.mul(A.beta1).add(gs.ref.mul(1 - A.beta1));
  const v = v0.mul(A.beta2).add(np.square(gs).mul(1 - A.beta2));
  const upd = m.ref.div(bc1).div(np.sqrt(v.ref.div(bc2)).add(A.eps)).add(p.ref.mul(wd));
  const pn = p.sub(upd.mul(lr));
  const split = (x: Array) => np.split(x, cuts).map((y, i) => y.reshape(shapes[i]));
  const un = (xs: Array[]) => tree.unflatten(def as Parameters<typeof tree.unflatten>[0], xs) as LMParams;
  return { params: un(split(pn)), opt: { m: un(split(m)), v: un(split(v)) }, gradNorm: gn };
};

function build(upd: Upd) {
  const full = jitTyped((params: LMParams, opt: AdamWState<LMParams>, batch: Array[], lr: Array, bc1: Array, bc2: Array) => {
    const [loss, grads] = valueAndGradTyped((p: LMParams) => lossFn(p, batch[0], batch[1]))(refTree(params));
    const o = upd(params, grads, opt, lr, bc1, bc2);
    return { ...o, loss };
  });
  return (params: LMParams, opt: AdamWState<LMParams>, batch: Array[], lr: number, t: number) => {
    const { bc1, bc2 } = adamwScalars(t, A);
    return full(params, opt, batch, np.array(lr), np.array(bc1), np.array(bc2));
  };
}

const which = (process.env.VARIANTS ?? "base,fold,flat,flatall").split(",");
const makers: Record<string, () => ReturnType<typeof build>> = {
  base: () => {
    const { step } = makeTrainStep(lossFn, { adamw: A, clip: 1, decayMask: mask });
    return step as ReturnType<typeof build>;
  },
  fold: () => build(foldUpd(false)),
  flat: () => build(foldUpd(true)),
  flatall: () => build(flatAllUpd),
};
type State = { params: LMParams; opt: AdamWState<LMParams>; rng: Rng; t: number; losses: number[]; step: ReturnType<typeof build>; ms: number[]; cpu: number[] };
const states: Record<string, State> = {};
for (const w of which) {
  const params = initLM(cfg, 0);
  states[w] = { params, opt: adamwInit(params), rng: new Rng(0, "bench"), t: 0, losses: [], step: makers[w](), ms: [], cpu: [] };
}
const runStep = async (s: State) => {
  const x = Int32Array.from({ length: B * T }, () => s.rng.int(256));
  const y = Int32Array.from({ length: B * T }, () => s.rng.int(256));
  s.t++;
  const o = s.step(s.params, s.opt, [np.array(x, { dtype: np.int32 }).reshape([B, T]), np.array(y, { dtype: np.int32 }).reshape([B, T])], 1e-3, s.t);
  s.params = o.params;
  s.opt = o.opt;
  s.losses.push(Number((await o.loss.data())[0]));
  o.gradNorm.dispose();
};
for (const w of which) for (let i = 0; i < 3; i++) await runStep(states[w]);
const rounds = Number(process.env.ROUNDS ?? 6);
const per = Number(process.env.PER ?? 4);
for (let r = 0; r < rounds; r++) {
  for (const w of which) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < per; i++) await runStep(states[w]);
    states[w].ms.push((performance.now() - t0) / per);
    const c = process.cpuUsage(c0);
    states[w].cpu.push((c.user + c.system) / 1000 / per);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(states[which[0]].ms);
for (const w of which) {
  const s = states[w];
  const prof = await kernelProfile(() => runStep(s));
  console.log(
    JSON.stringify({
      variant: w,
      threads: info.threads,
      kernels: prof.kernels,
      msMedian: +median(s.ms).toFixed(1),
      ratioVsFirst: +(base / median(s.ms)).toFixed(3),
      cpuMsMedian: +median(s.cpu).toFixed(1),
      ms: s.ms.map((x) => +x.toFixed(1)),
      losses: s.losses.slice(0, 8).map((l) => l.toFixed(6)),
      lastLoss: s.losses[s.losses.length - 1].toFixed(6),
    }),
  );
}
process.exit(0);
