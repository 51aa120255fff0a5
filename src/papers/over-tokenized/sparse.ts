/**
 * The sparse-gradient path for the big over-encoding tables (Over-Tokenized Transformer,
 * arXiv 2501.16975, §3.3/§4.4: the tables are huge but each token touches one row per table).
 *
 * jax-js arrays are immutable, so any device-side update of an [m, w] table writes all m·w
 * entries (and AdamW touches the table, its gradient and both moments). Here the tables and
 * their AdamW moments live on the host as Float32Arrays (the paper's "CPU offload" idea): each
 * step gathers the batch's unique rows, the jitted step differentiates with respect to those rows
 * only ([U, w] with U <= B·T), and the update is applied in place to those rows. The cost is
 * O(U·w) per step, independent of m (see bench/over-tokenized.ts for dense vs sparse).
 *
 * Decision on AdamW for rows that were not hit (the paper does not say; §2.4 of our notes):
 * LAZY. A row's moments and value change only on steps whose batch contains it; its bias
 * corrections use the global step t (as PyTorch SparseAdam and TF LazyAdam do). Dense AdamW
 * would keep moving a row with its decaying first moment after its last hit; lazy AdamW does
 * not. The two agree exactly on the first step and whenever every row is hit (tested). The
 * tables get no weight decay, like the token embedding (`defaultDecayMask` decays only `w`);
 * `weightDecay` > 0 would be applied lazily to hit rows only.
 */
import { np, jit, valueAndGrad, refTree, type Array, type JsTree } from "../../engine/index.js";
import { adamwScalars, adamwUpdate, clipByGlobalNorm, type AdamWConfig, type AdamWState } from "../../optim/adamw.js";
import type { Embedding } from "../../nn/embedding.js";
import type { TrainStep } from "../../train/step.js";
import { decodeSafetensors, encodeSafetensors, tensorF32, asF32, type STTensor } from "../../train/safetensors.js";

/** The batch's unique rows of each table and, per position, the slot of its row among them. */
export type RowPlan = {
  /** unique[t]: distinct rows of table t in first-seen order (length U_t <= capacity[t]). */
  unique: Int32Array[];
  /** inv[t][i]: slot in unique[t] of position i's row (so rows[inv[t]] = table[idx[t]]). */
  inv: Int32Array[];
  /** Fixed gathered-row count per table (padded), so the jitted step never retraces. */
  capacity: number[];
};

export class SparseTableStore {
  readonly values: Float32Array[];
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  private readonly slot: Int32Array[];

  constructor(
    readonly rows: number[],
    readonly width: number,
    values?: Float32Array[],
  ) {
    this.values = values ?? rows.map((r) => new Float32Array(r * width));
    this.values.forEach((a, t) => {
      if (a.length !== rows[t] * width) throw new Error(`SparseTableStore: table ${t} has ${a.length} values, expected ${rows[t]}×${width}`);
    });
    this.m = rows.map((r) => new Float32Array(r * width));
    this.v = rows.map((r) => new Float32Array(r * width));
    this.slot = rows.map((r) => new Int32Array(r).fill(-1));
  }

  /** Copy device tables to the host (consumes them). */
  static async fromDevice(tables: Embedding[]): Promise<SparseTableStore> {
    const rows = tables.map((e) => e.table.shape[0]);
    const width = tables[0]?.table.shape[1] ?? 0;
    const values: Float32Array[] = [];
    for (const e of tables) values.push(Float32Array.from((await e.table.data()) as Float32Array));
    return new SparseTableStore(rows, width, values);
  }

  /** Deduplicate each table's row ids (idx[t], one per position) for a batch of `tokens` positions. */
  plan(idx: Int32Array[]): RowPlan {
    const unique: Int32Array[] = [];
    const inv: Int32Array[] = [];
    const capacity: number[] = [];
    idx.forEach((ids, t) => {
      const slot = this.slot[t];
      const cap = Math.min(ids.length, this.rows[t]);
      const u = new Int32Array(cap);
      const iv = new Int32Array(ids.length);
      let n = 0;
      for (let i = 0; i < ids.length; i++) {
        const r = ids[i];
        if (!(r >= 0 && r < this.rows[t])) throw new Error(`sparse tables: row ${r} of table ${t} is outside [0, ${this.rows[t]})`);
        let s = slot[r];
        if (s < 0) {
          s = n++;
          slot[r] = s;
          u[s] = r;
        }
        iv[i] = s;
      }
      for (let s = 0; s < n; s++) slot[u[s]] = -1;
      unique.push(u.subarray(0, n));
      inv.push(iv);
      capacity.push(cap);
    });
    return { unique, inv, capacity };
  }

  /** Gathered rows of table t, zero-padded to `capacity`: Float32Array [capacity·w]. */
  gather(t: number, unique: Int32Array, capacity: number): Float32Array {
    const w = this.width;
    const out = new Float32Array(capacity * w);
    const src = this.values[t];
    for (let s = 0; s < unique.length; s++) out.set(src.subarray(unique[s] * w, unique[s] * w + w), s * w);
    return out;
  }

  /** Device arrays [capacity_t, w] of every table's gathered rows. */
  rowsArrays(plan: RowPlan): Array[] {
    return plan.unique.map((u, t) => np.array(this.gather(t, u, plan.capacity[t])).reshape([plan.capacity[t], this.width]));
  }

  /**
   * Lazy AdamW on the rows of table t that the batch hit. grad: [capacity·w] (rows past
   * unique.length are padding and ignored); lr, step t (1-based) as in the dense update.
   */
  update(t: number, unique: Int32Array, grad: Float32Array, lr: number, step: number, cfg: AdamWConfig): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = cfg;
    const w = this.width;
    const { bc1, bc2 } = adamwScalars(step, cfg);
    const P = this.values[t];
    const M = this.m[t];
    const Vv = this.v[t];
    for (let s = 0; s < unique.length; s++) {
      const base = unique[s] * w;
      for (let c = 0; c < w; c++) {
        const g = grad[s * w + c];
        const i = base + c;
        const m = (M[i] = Math.fround(b1 * M[i] + (1 - b1) * g));
        const v = (Vv[i] = Math.fround(b2 * Vv[i] + (1 - b2) * g * g));
        let u = m / bc1 / (Math.sqrt(v / bc2) + eps);
        if (wd > 0) u += wd * P[i];
        P[i] = P[i] - lr * u;
      }
    }
  }

  /** Tables as device embeddings (for evaluation code that wants them whole, or tests). */
  toDevice(): Embedding[] {
    return this.values.map((a, t) => ({ table: np.array(a).reshape([this.rows[t], this.width]) }));
  }

  /** Serialise tables and moments (safetensors bytes) with the step they belong to. */
  serialize(step: number): Uint8Array {
    const tensors: Record<string, STTensor> = {};
    this.values.forEach((a, t) => {
      const shape = [this.rows[t], this.width];
      tensors[`tables.${t}`] = tensorF32(shape, a);
      tensors[`m.${t}`] = tensorF32(shape, this.m[t]);
      tensors[`v.${t}`] = tensorF32(shape, this.v[t]);
    });
    return encodeSafetensors(tensors, { format: "tinyfoundry-sparse-tables-v1", step: String(step) });
  }

  /** Restore from `serialize` output; returns its step. Shapes must match. */
  restore(bytes: Uint8Array): number {
    const { tensors, metadata } = decodeSafetensors(bytes);
    if (metadata.format !== "tinyfoundry-sparse-tables-v1") throw new Error("sparse tables: not a tinyfoundry sparse-tables file");
    const n = Object.keys(tensors).length / 3;
    if (n !== this.values.length) throw new Error(`sparse tables: the file holds ${n} tables, the model has ${this.values.length}`);
    this.values.forEach((a, t) => {
      for (const [name, dst] of [[`tables.${t}`, a], [`m.${t}`, this.m[t]], [`v.${t}`, this.v[t]]] as const) {
        const src = tensors[name];
        if (!src) throw new Error(`sparse tables: missing ${name}`);
        const f = asF32(src);
        if (f.length !== dst.length) throw new Error(`sparse tables: ${name} has ${f.length} values, expected ${dst.length}`);
        dst.set(f);
      }
    });
    return Number(metadata.step);
  }
}

/**
 * A training step for the over-tokenized model that works with the foundation `trainLoop`. One
 * jitted program computes the loss, gradients for the device params and (sparse path) for the
 * batch's gathered table rows, clips them together by global norm (so the clip is the same as
 * with dense tables) and applies AdamW to the device params; the host then applies lazy AdamW
 * to the hit rows. With `store` null, the tables are ordinary params (dense path).
 *
 * `prepare(hostBatch)` must be called for each batch before `step` (the loop's `nextBatch` does):
 * it turns the per-position table rows into device index arrays and remembers the row plan.
 * The host update reads the row gradients asynchronously in `afterStep`, which `trainLoop`
 * awaits after every step (a synchronous read is refused while jax-js has async work in flight).
 */
export function makeOverTokenizedStep<P extends JsTree<Array>>(
  lossFn: (params: P, rows: Array[], batch: Array[]) => [Array, Array[]],
  opts: {
    adamw: AdamWConfig;
    clip: number;
    decayMask: unknown;
    store: SparseTableStore | null;
    /** Weight-decay the host tables (lazily, hit rows only). Default false, like the dense path's `defaultDecayMask` (tables are embeddings). */
    decayTables?: boolean;
  },
): {
  trainStep: TrainStep<P>;
  /** x, targets (int32 [B·T] each) and the per-table row ids -> the step's device batch. */
  prepare: (x: Int32Array, ys: Int32Array[], idx: Int32Array[], B: number, T: number) => Array[];
} {
  const { store } = opts;
  const tableAdamW: AdamWConfig = { ...opts.adamw, weightDecay: opts.decayTables ? opts.adamw.weightDecay : 0 };
  let pending: RowPlan | null = null;
  let pendingGrads: { grads: Array[]; plan: RowPlan; lr: number; t: number } | null = null;
  type Diff = { p: P; r: Array[] };
  const full = jit((params: P, opt: AdamWState<P>, rows: Array[], batch: Array[], lr: Array, bc1: Array, bc2: Array) => {
    const f = (q: Diff): [Array, Array[]] => lossFn(q.p, q.r, batch);
    // P is generic here, so jax-js's mapped parameter types do not reduce to it: the argument is cast once.
    const [[loss, aux], grads] = valueAndGrad(f, { hasAux: true })({ p: refTree(params), r: rows } as never) as [[Array, Array[]], Diff];
    const [clipped, gradNorm] = clipByGlobalNorm(grads, opts.clip);
    const upd = adamwUpdate(params, clipped.p, opt, { lr, bc1, bc2 }, opts.adamw, opts.decayMask);
    return { params: upd.params, opt: upd.state, loss, gradNorm, aux, rowGrads: clipped.r };
  });
  const i32 = (a: Int32Array, B: number, T: number) => np.array(a, { dtype: np.int32 }).reshape([B, T]);
  return {
    prepare: (x, ys, idx, B, T) => {
      const head = [i32(x, B, T), ...ys.map((y) => i32(y, B, T))];
      if (!store) return [...head, ...idx.map((a) => i32(a, B, T))];
      pending = store.plan(idx);
      return [...head, ...pending.inv.map((a) => i32(a, B, T))];
    },
    trainStep: {
      step: (params, opt, batch, lr, t) => {
        let rows: Array[] = [];
        const plan = pending;
        if (store) {
          if (!plan) throw new Error("over-tokenized step: call prepare(batch) before step (no row plan)");
          if (pendingGrads) throw new Error("over-tokenized step: the previous step's sparse update was not applied (await trainStep.afterStep())");
          rows = store.rowsArrays(plan);
          pending = null;
        }
        const { bc1, bc2 } = adamwScalars(t, opts.adamw);
        const out = full(params as never, opt as never, rows, batch, np.array(lr), np.array(bc1), np.array(bc2));
        if (store && plan) pendingGrads = { grads: out.rowGrads, plan, lr, t };
        else out.rowGrads.forEach((g) => g.dispose());
        return { params: out.params, opt: out.opt, loss: out.loss, gradNorm: out.gradNorm, aux: out.aux };
      },
      afterStep: async () => {
        if (!pendingGrads || !store) return;
        const { grads, plan, lr, t } = pendingGrads;
        pendingGrads = null;
        for (let k = 0; k < grads.length; k++) store.update(k, plan.unique[k], (await grads[k].data()) as Float32Array, lr, t, tableAdamW);
      },
      dispose: () => full.dispose(),
    },
  };
}
