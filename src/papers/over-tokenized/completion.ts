/**
 * Inference for the experiment: next-token logits of host token rows (tables on the device or in
 * the host store), and the cfg3f completion check (a sampled continuation must be a sentence of
 * the grammar).
 */
import { np, jit, refTree, type Array } from "../../engine/index.js";
import { chooseToken } from "../../nn/generate.js";
import type { LMConfig } from "../../nn/transformer.js";
import type { Rng } from "../../util/rng.js";
import { CFG_BOS, CFG_EOS, cfg3fDerives } from "./cfg3f.js";
import { overEncodingIndices, overTokenizedLogits, type OverEncodingGeometry, type OverTokenizedConfig, type OverTokenizedParams } from "./model.js";
import type { SparseTableStore } from "./sparse.js";

export type LogitsFn = {
  /** Float32Array [B·T·V] of next-token logits for int32 rows x [B·T] (params not consumed). */
  logits: (params: OverTokenizedParams, x: Int32Array, B: number, T: number) => Promise<Float32Array>;
  dispose: () => void;
};

/** Next-token logits with the tables on the device (`store` null) or in a host store. Compiles once per shape. */
export function makeLogitsFn(cfg: OverTokenizedConfig, geo: OverEncodingGeometry | null, store: SparseTableStore | null): LogitsFn {
  const f = jit((p: OverTokenizedParams, rows: Array[], x: Array, idx: Array[]) => overTokenizedLogits(p, cfg, rows, x, idx));
  return {
    logits: async (params, x, B, T) => {
      const idxHost = geo ? overEncodingIndices(x, B, T, cfg.lm.vocabSize, geo) : [];
      let rows: Array[] = [];
      let idx = idxHost;
      if (store) {
        const plan = store.plan(idxHost);
        rows = store.rowsArrays(plan);
        idx = plan.inv;
      }
      const i32 = (a: Int32Array) => np.array(a, { dtype: np.int32 }).reshape([B, T]);
      const out = f(refTree(params), rows, i32(x), idx.map(i32));
      return (await out.data()) as Float32Array;
    },
    dispose: () => f.dispose(),
  };
}

/**
 * Grammar check of completions (cfg3f): each held-out sentence loses its last `cut` terminals;
 * the model samples from its raw next-token distribution (sliding window of T tokens, zero-padded
 * n-gram keys before the window as in training) until EOS or `2·cut` tokens; the fraction of
 * completed sentences that `root` (default cfg3f's root) derives is returned (-1 for no sentences).
 */
export async function completionAccuracy(
  logitsFn: LogitsFn,
  params: OverTokenizedParams,
  lm: LMConfig,
  sentences: number[][],
  opts: { cut: number; temperature: number; rng: Rng; root?: number },
): Promise<number> {
  if (!sentences.length) return -1;
  const T = lm.contextLength;
  const V = lm.vocabSize;
  const B = sentences.length;
  const seqs = sentences.map((s) => [CFG_BOS, ...s.slice(0, Math.max(0, s.length - opts.cut))]);
  const done = new Array<boolean>(B).fill(false);
  const ended = new Array<boolean>(B).fill(false);
  for (let step = 0; step < 2 * opts.cut && done.some((d) => !d); step++) {
    const x = new Int32Array(B * T);
    const last: number[] = [];
    seqs.forEach((s, b) => {
      const w = s.slice(-T);
      x.set(w, b * T);
      last.push(w.length - 1);
    });
    const logits = await logitsFn.logits(params, x, B, T);
    seqs.forEach((s, b) => {
      if (done[b]) return;
      const off = (b * T + last[b]) * V;
      const { id } = chooseToken(logits.subarray(off, off + V), { temperature: opts.temperature, topK: 0, topP: 1, rng: opts.rng });
      if (id === CFG_EOS) {
        done[b] = true;
        ended[b] = true;
      } else s.push(id);
    });
  }
  let ok = 0;
  seqs.forEach((s, b) => {
    if (ended[b] && cfg3fDerives(s.slice(1), opts.root)) ok++;
  });
  return ok / B;
}
