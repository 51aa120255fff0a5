/**
 * The training step every experiment reuses: loss, gradients, global-norm clipping and AdamW in
 * one function under `jit` (one compiled program per step; no intermediates leak).
 */
import { jitTyped, valueAndGradTyped, np, refTree, type Array, type JsTree } from "../engine/index.js";
import { adamwScalars, adamwUpdate, clipByGlobalNorm, type AdamWConfig, type AdamWState } from "../optim/adamw.js";

export type StepOutput<P> = { params: P; opt: AdamWState<P>; loss: Array; gradNorm: Array; aux: Array[] };

export type TrainStep<P> = {
  /** Consumes params, opt and batch; returns the new ones with the loss and pre-clip grad norm. */
  step: (params: P, opt: AdamWState<P>, batch: Array[], lr: number, t: number) => StepOutput<P>;
  /** Optional host work the loop awaits after each step's loss is read, before the next step (e.g. a sparse update of host-side tables). */
  afterStep?: () => Promise<void>;
  dispose: () => void;
};

/**
 * Build a jitted step from `lossFn(params, ...batch) -> loss`, or `-> [loss, aux[]]` with
 * `hasAux` (aux: extra scalars such as per-modality losses, returned undifferentiated).
 * `lr` and the 1-based step `t` are plain numbers passed as scalar arrays, so a schedule never
 * retraces.
 */
export function makeTrainStep<P extends JsTree<Array>>(
  lossFn: (params: P, ...batch: Array[]) => Array | [Array, Array[]],
  opts: { adamw: AdamWConfig; clip: number; decayMask: unknown; hasAux?: boolean },
): TrainStep<P> {
  const hasAux = opts.hasAux ?? false;
  const full = jitTyped((params: P, opt: AdamWState<P>, batch: Array[], lr: Array, bc1: Array, bc2: Array): StepOutput<P> => {
    const f = (p: P) => lossFn(p, ...batch);
    const [value, grads] = valueAndGradTyped(f, { hasAux })(refTree(params));
    const [loss, aux] = hasAux ? (value as [Array, Array[]]) : [value as Array, [] as Array[]];
    const [clipped, gradNorm] = clipByGlobalNorm(grads, opts.clip);
    const upd = adamwUpdate(params, clipped, opt, { lr, bc1, bc2 }, opts.adamw, opts.decayMask);
    return { params: upd.params, opt: upd.state, loss, gradNorm, aux };
  });
  return {
    step: (params, opt, batch, lr, t) => {
      const { bc1, bc2 } = adamwScalars(t, opts.adamw);
      return full(params, opt, batch, np.array(lr), np.array(bc1), np.array(bc2));
    },
    dispose: () => full.dispose(),
  };
}

/** Build a jitted evaluation function `lossFn(params, ...batch) -> scalar` (params not consumed). */
export function makeEvalStep<P extends JsTree<Array>>(lossFn: (params: P, ...batch: Array[]) => Array): {
  evaluate: (params: P, batch: Array[]) => Array;
  dispose: () => void;
} {
  const f = jitTyped((params: P, batch: Array[]) => lossFn(params, ...batch));
  return {
    evaluate: (params, batch) => f(refTree(params), batch),
    dispose: () => f.dispose(),
  };
}
