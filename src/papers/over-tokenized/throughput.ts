/**
 * OE's training-throughput cost measured in one process (Table 6's claim): the baseline LM and the
 * over-encoded LM (same transformer, tables on the sparse path or dense) are stepped in
 * interleaved rounds on the same kind of batches, so load from other processes falls on both
 * alike. Each step includes building the batch's n-gram rows, the jitted step, reading the loss,
 * the host table update and waiting for the update kernels. Used by the experiment (the
 * `oe-throughput` claim) and by `bench/over-tokenized.ts`.
 */
import { blockUntilReady, tree, type Array, type JsTree } from "../../engine/index.js";
import type { LMConfig } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask, type AdamWConfig, type AdamWState } from "../../optim/adamw.js";
import type { TrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import { cropBatch } from "./data.js";
import {
  initOverEncodingTables,
  initOverTokenized,
  overEncodingGeometry,
  overEncodingIndices,
  overTokenizedLoss,
  type OverEncodingConfig,
  type OverTokenizedConfig,
  type OverTokenizedParams,
} from "./model.js";
import { makeOverTokenizedStep, SparseTableStore } from "./sparse.js";

const adamw: AdamWConfig = { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };

/** Owns a runner's params and optimizer state: `run(batch)` does one step and waits for every kernel. */
export function stepOwner<P extends JsTree<Array>>(trainStep: TrainStep<P>, params: P, opt: AdamWState<P>) {
  let s = 0;
  return {
    run: async (batch: Array[]): Promise<void> => {
      const out = trainStep.step(params, opt, batch, 1e-3, ++s);
      await out.loss.data();
      out.gradNorm.dispose();
      out.aux.forEach((a) => a.dispose());
      await trainStep.afterStep?.();
      params = out.params;
      opt = out.opt;
      await blockUntilReady({ params, opt }); // the update kernels run asynchronously: wait for them
    },
    dispose: () => {
      trainStep.dispose();
      tree.dispose(params);
      tree.dispose(opt);
    },
  };
}

/** A step runner of one model on random crops of `tokens`; `step()` returns the wall ms of one step. */
export async function modelRunner(lm: LMConfig, oe: OverEncodingConfig | null, tableUpdate: "sparse" | "dense", tokens: Int32Array, B: number, seed: number) {
  const cfg: OverTokenizedConfig = { lm, oe, od: null, mtp: null };
  const T = lm.contextLength;
  const geo = oe ? overEncodingGeometry(oe, lm.vocabSize, lm.dModel) : null;
  const sparse = tableUpdate === "sparse" && geo !== null;
  const params = initOverTokenized(cfg, seed, { tablesOnDevice: !sparse });
  const store = sparse ? await SparseTableStore.fromDevice(initOverEncodingTables(geo!, seed)) : null;
  const { trainStep, prepare } = makeOverTokenizedStep<OverTokenizedParams>((p, rows, b) => overTokenizedLoss(p, cfg, rows, b), {
    adamw,
    clip: 1,
    decayMask: defaultDecayMask(params),
    store,
  });
  const owner = stepOwner(trainStep, params, adamwInit(params));
  const rng = Rng.stream(seed, "throughput");
  return {
    step: async (): Promise<number> => {
      const { x, ys } = cropBatch(tokens, B, T, 1, rng);
      const t0 = performance.now();
      const idx = geo ? overEncodingIndices(x, B, T, lm.vocabSize, geo) : [];
      await owner.run(prepare(x, ys, idx, B, T));
      return performance.now() - t0;
    },
    dispose: owner.dispose,
  };
}

/** Median and fastest ms per step of each runner, stepped in interleaved rounds after `warmup` steps each. */
export async function interleaved(runners: { step: () => Promise<number> }[], rounds: number, perRound: number, warmup: number): Promise<{ med: number; min: number }[]> {
  for (const r of runners) for (let i = 0; i < warmup; i++) await r.step();
  const times = runners.map(() => [] as number[]);
  for (let k = 0; k < rounds; k++) {
    for (let j = 0; j < runners.length; j++) for (let i = 0; i < perRound; i++) times[j].push(await runners[j].step());
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return times.map((t) => ({ med: median(t), min: Math.min(...t) }));
}

/** Tokens/s of the baseline and of each OE config, one process, steps interleaved. */
export async function measureThroughput(opts: {
  lm: LMConfig;
  oes: OverEncodingConfig[];
  tableUpdate: "sparse" | "dense";
  tokens: Int32Array;
  batchSize: number;
  rounds: number;
  perRound: number;
  warmup: number;
  seed: number;
}): Promise<{ baseline: { tokensPerSec: number; minMs: number }; oe: { m: number; tokensPerSec: number; minMs: number }[] }> {
  const { lm, tokens, batchSize: B, seed } = opts;
  const runners = [await modelRunner(lm, null, opts.tableUpdate, tokens, B, seed)];
  for (const oe of opts.oes) runners.push(await modelRunner(lm, oe, opts.tableUpdate, tokens, B, seed));
  try {
    const r = await interleaved(runners, opts.rounds, opts.perRound, opts.warmup);
    const tok = B * lm.contextLength;
    const rate = (x: { med: number }) => (tok * 1000) / x.med;
    return { baseline: { tokensPerSec: rate(r[0]), minMs: r[0].min }, oe: opts.oes.map((oe, i) => ({ m: oe.m, tokensPerSec: rate(r[i + 1]), minMs: r[i + 1].min })) };
  } finally {
    runners.forEach((x) => x.dispose());
  }
}
