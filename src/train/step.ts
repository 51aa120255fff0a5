/**
 * The training step every experiment reuses: loss, gradients, global-norm clipping and AdamW in
 * one function under `jit` (one compiled program per step; no intermediates leak).
 */
import { jit, valueAndGrad, np, tree, type Array, type JsTree } from "../engine/index.js";
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
  const full = jit((params: P, opt: AdamWState<P>, batch: Array[], lr: Array, bc1: Array, bc2: Array) => {
    const f = (p: P) => lossFn(p, ...batch) as Array;
    const [value, grads] = valueAndGrad(f, hasAux ? { hasAux: true } : undefined)(tree.ref(params as JsTree<Array>) as never) as unknown as [
      Array | [Array, Array[]],
      P,
    ];
    const [loss, aux] = hasAux ? (value as [Array, Array[]]) : [value as Array, [] as Array[]];
    const [clipped, gradNorm] = clipByGlobalNorm(grads, opts.clip);
    const upd = adamwUpdate(params, clipped, opt, { lr, bc1, bc2 }, opts.adamw, opts.decayMask);
    return { params: upd.params, opt: upd.state, loss, gradNorm, aux } as unknown as JsTree<Array>;
  });
  return {
    step: (params, opt, batch, lr, t) => {
      const { bc1, bc2 } = adamwScalars(t, opts.adamw);
      return full(params as never, opt as never, batch as never, np.array(lr), np.array(bc1), np.array(bc2)) as unknown as StepOutput<P>;
    },
    dispose: () => full.dispose(),
  };
}

/** Build a jitted evaluation function `lossFn(params, ...batch) -> scalar` (params not consumed). */
export function makeEvalStep<P extends JsTree<Array>>(lossFn: (params: P, ...batch: Array[]) => Array): {
  evaluate: (params: P, batch: Array[]) => Array;
  dispose: () => void;
} {
  const f = jit((params: P, batch: Array[]) => lossFn(params, ...batch));
  return {
    evaluate: (params, batch) => f(tree.ref(params as JsTree<Array>) as never, batch as never) as Array,
    dispose: () => f.dispose(),
  };
}
