/**
 * A training step with parameter groups: each top-level group of the parameter object gets its
 * own learning rate, and a group without one is frozen (not differentiated, not updated, no
 * optimizer state). This is what Baichuan-Omni-1.5's staged training needs (arXiv 2501.15368,
 * §3.3: e.g. image stage II trains "LLM + projector (1e−5), visual encoder (1e−6)"; audio stage I
 * freezes everything but the audio embedding and head). An optional `post` hook updates
 * non-gradient state inside the same jitted step (the RVQ's EMA codebooks).
 *
 * Returns the foundation's `TrainStep` interface, so `trainLoop` runs it unchanged: the loop's
 * learning rate is the schedule value for the group with the largest LR; every group is scaled by
 * the same schedule.
 */
import { jit, valueAndGrad, np, refTree, tree, type Array, type JsTree } from "../../engine/index.js";
import { adamwInit, adamwScalars, adamwUpdate, clipByGlobalNorm, defaultDecayMask, type AdamWConfig, type AdamWState } from "../../optim/adamw.js";
import type { TrainStep } from "../../train/step.js";

export type Params = Record<string, JsTree<Array>>;
/** Absolute learning rate per top-level group; groups absent (or 0) are frozen. */
export type GroupLR = Record<string, number>;

/** Loss with per-step metrics (scalars logged by the loop) and free-form stats for `post`. */
export type GroupLoss<P extends Params> = (p: P, ...batch: Array[]) => { loss: Array; metrics: Array[]; stats?: JsTree<Array> };

export function trainableGroups(params: Params, lr: GroupLR): string[] {
  for (const k of Object.keys(lr)) {
    if (!(k in params)) throw new Error(`stage learning rates: "${k}" is not a parameter group; groups: ${Object.keys(params).join(", ")}`);
  }
  return Object.keys(params).filter((k) => (lr[k] ?? 0) > 0);
}

export function maxLr(lr: GroupLR): number {
  return Math.max(0, ...Object.values(lr));
}

function pick<P extends Params>(p: P, keys: string[]): Params {
  return Object.fromEntries(keys.map((k) => [k, p[k]]));
}

/** Optimizer state over the trainable groups only (does not consume params). */
export function groupOptInit<P extends Params>(params: P, lr: GroupLR): AdamWState<P> {
  // The state covers the trainable groups only (a frozen group has none).
  return adamwInit(pick(params, trainableGroups(params, lr))) as AdamWState<P>;
}

export function makeGroupStep<P extends Params>(
  lossFn: GroupLoss<P>,
  opts: {
    groupLr: GroupLR;
    adamw: AdamWConfig;
    clip: number;
    /** Called after the optimizer update with the loss's stats and the 1-based step t (all consumed). */
    post?: (params: P, stats: JsTree<Array>, t: Array) => P;
  },
): TrainStep<P> & { groups: string[] } {
  const top = maxLr(opts.groupLr);
  if (!(top > 0)) throw new Error("stage learning rates: at least one group needs a positive learning rate");
  let groups: string[] | null = null;
  const full = jit((params: P, opt: AdamWState<Params>, batch: Array[], lr: Array, bc1: Array, bc2: Array, t: Array) => {
    const keys = Object.keys(params);
    const train = keys.filter((k) => (opts.groupLr[k] ?? 0) > 0);
    const frozen = keys.filter((k) => !train.includes(k));
    const trainP = pick(params, train);
    const frozenP = pick(params, frozen);
    const f = (tp: Params): [Array, { metrics: Array[]; stats: JsTree<Array> }] => {
      const all = { ...refTree(frozenP), ...tp } as P;
      const out = lossFn(all, ...batch);
      return [out.loss, { metrics: out.metrics, stats: out.stats ?? [] }];
    };
    const [[loss, aux], grads] = valueAndGrad(f, { hasAux: true })(refTree(trainP));
    const [clipped, gradNorm] = clipByGlobalNorm(grads as JsTree<Array>, opts.clip);
    const newP: Params = { ...frozenP };
    const newM: Params = {};
    const newV: Params = {};
    for (const k of train) {
      const g = (clipped as Params)[k];
      const sched = { lr: lr.ref.mul(opts.groupLr[k] / top), bc1: bc1.ref, bc2: bc2.ref };
      const upd = adamwUpdate(trainP[k], g, { m: opt.m[k], v: opt.v[k] }, sched, opts.adamw, defaultDecayMask(trainP[k]));
      newP[k] = upd.params;
      newM[k] = upd.state.m;
      newV[k] = upd.state.v;
    }
    lr.dispose();
    bc1.dispose();
    bc2.dispose();
    let outP = Object.fromEntries(keys.map((k) => [k, newP[k]])) as P;
    if (opts.post) outP = opts.post(outP, aux.stats, t);
    else {
      t.dispose();
      tree.dispose(aux.stats);
    }
    return { params: outP, opt: { m: newM, v: newV }, loss, gradNorm, aux: aux.metrics };
  });
  return {
    get groups() {
      return groups ?? [];
    },
    step: (params, opt, batch, lr, t) => {
      groups ??= trainableGroups(params, opts.groupLr);
      const { bc1, bc2 } = adamwScalars(t, opts.adamw);
      return full(params as never, opt as never, batch as never, np.array(lr), np.array(bc1), np.array(bc2), np.array(t)) as never;
    },
    dispose: () => full.dispose(),
  };
}
