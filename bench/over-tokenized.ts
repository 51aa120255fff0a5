/**
 * Over-Tokenized Transformer benchmark (issue 5, arXiv 2501.16975), all figures measured in one
 * process run:
 *   1. cost of one training step of a single hashed table (lookup of B·T = 1024 positions,
 *      projection to D = 64, AdamW) with the table updated densely on the device vs through the
 *      sparse path (host rows, lazy AdamW), for m = 4,093 / 65,521 / 262,139 rows of width 32;
 *   2. training tokens/s of the over-encoded model (n = 2, k = 1, m = 509 with the mixing hash,
 *      the quick sweep's largest table; sparse and dense tables) relative to the baseline LM, the
 *      `quick` text-arm size (d = 64, 2 layers, context 64, batch 16, V = 256), through the same
 *      interleaved measurement the experiment runs (`throughput.ts`). The paper reports −4.63% /
 *      −8.3% (Table 6).
 * Median milliseconds per step after warm-up steps (compilation excluded); each step includes
 * reading the loss back, the host update (sparse path) and waiting until the new parameters and
 * moments are computed (jax-js runs the update kernels asynchronously). The three models of (2) are
 * stepped in interleaved rounds, so load from other processes falls on all of them alike; the
 * fastest step of each (`minMs`, `ratioOfMin`) is reported too, the least load-sensitive figure.
 * Run alone: `npx tsx bench/over-tokenized.ts`.
 */
import { pathToFileURL } from "node:url";
import { np, initEngine, type Array } from "../src/engine/index.js";
import { defaultLMConfig } from "../src/nn/transformer.js";
import { KeyGen, normalInit } from "../src/nn/init.js";
import { adamwInit, defaultDecayMask, type AdamWConfig } from "../src/optim/adamw.js";
import type { OverEncodingConfig } from "../src/papers/over-tokenized/model.js";
import { makeOverTokenizedStep, SparseTableStore } from "../src/papers/over-tokenized/sparse.js";
import { interleaved, modelRunner, stepOwner } from "../src/papers/over-tokenized/throughput.js";
import { Rng } from "../src/util/rng.js";
import type { BenchFigure, BenchFn } from "./types.js";

const adamw: AdamWConfig = { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1 };

type TableParams = { table?: { table: Array }; proj: { w: Array } };

/** A single-table step runner (dense or sparse); `step()` returns wall ms of one step. */
async function tableRunner(M: number, sparse: boolean) {
  const N = 1024;
  const w = 32;
  const D = 64;
  const kg = new KeyGen(0, "bench-ot");
  const table = { table: normalInit(kg, "table", [M, w], 0.02) };
  const store = sparse ? await SparseTableStore.fromDevice([table]) : null;
  const params: TableParams = sparse ? { proj: { w: normalInit(kg, "w", [w, D], 0.02) } } : { table, proj: { w: normalInit(kg, "w", [w, D], 0.02) } };
  const lossFn = (p: TableParams, rows: Array[], batch: Array[]): [Array, Array[]] => {
    const tab = p.table ? p.table.table : rows[0];
    const e = np.take(tab, batch[0], 0).mul(0.5); // [1, N, w]
    return [np.square(np.matmul(e, p.proj.w).add(1)).mean(), []];
  };
  const { trainStep, prepare } = makeOverTokenizedStep<TableParams>(lossFn, { adamw, clip: 1, decayMask: defaultDecayMask(params), store });
  const owner = stepOwner(trainStep, params, adamwInit(params));
  const rng = new Rng(1, "bench-ot-rows");
  return {
    step: async (): Promise<number> => {
      const idx = Int32Array.from({ length: N }, () => rng.int(M));
      const t0 = performance.now();
      const [x, ...rowIds] = prepare(new Int32Array(N), [], [idx], 1, N); // only the row ids are used
      x.dispose();
      await owner.run(rowIds);
      return performance.now() - t0;
    },
    dispose: owner.dispose,
  };
}

export const bench: BenchFn = async () => {
  const info = await initEngine();
  const figs: BenchFigure[] = [];
  const common = { threads: info.threads };
  for (const M of [4093, 65521, 262139]) {
    const runners = [await tableRunner(M, false), await tableRunner(M, true)];
    const [d, sp] = await interleaved(runners, 5, 3, 2);
    const dense = d.med;
    const sparse = sp.med;
    runners.forEach((r) => r.dispose());
    const shape = `m=${M} w=32 N=1024 positions, D=64`;
    figs.push({ bench: "over-tokenized", metric: "table step, dense device update", value: dense, unit: "ms", minMs: d.min, shape, ...common });
    figs.push({ bench: "over-tokenized", metric: "table step, sparse host update (lazy AdamW)", value: sparse, unit: "ms", minMs: sp.min, shape, baseline: "dense device update, same run", ratio: dense / sparse, ratioOfMin: d.min / sp.min, ...common });
  }
  // The quick text arms' model and the sweep's largest table (n = 2, mixing hash), on English-like bytes.
  const lm = { ...defaultLMConfig, vocabSize: 256, dModel: 64, nLayers: 2, nHeads: 4, contextLength: 64 };
  const oe: OverEncodingConfig = { n: 2, k: 1, m: 509, requireCoprime: true, hash: "mix" };
  const text = Int32Array.from(new TextEncoder().encode("Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. ".repeat(40)));
  const runners = [await modelRunner(lm, null, "sparse", text, 16, 0), await modelRunner(lm, oe, "sparse", text, 16, 0), await modelRunner(lm, oe, "dense", text, 16, 0)];
  const [b, os, od] = await interleaved(runners, 6, 4, 3);
  const base = b.med;
  runners.forEach((r) => r.dispose());
  const tok = 16 * 64;
  const shape = "d=64, 2 layers, T=64, B=16, V=256; OE n=2 k=1 m=509 (mixing hash)";
  figs.push({ bench: "over-tokenized", metric: "training tokens/s, baseline LM", value: (tok * 1000) / base, unit: "tokens/s", shape, msPerStep: base, minMsPerStep: b.min, ...common });
  for (const [name, r] of [
    ["over-encoded, sparse tables", os],
    ["over-encoded, dense tables", od],
  ] as const) {
    const ms = r.med;
    figs.push({
      bench: "over-tokenized",
      metric: `training tokens/s, ${name}`,
      value: (tok * 1000) / ms,
      unit: "tokens/s",
      shape,
      msPerStep: ms,
      baseline: "baseline LM, same run",
      ratio: base / ms,
      overheadPercent: 100 * (base / ms - 1),
      minMsPerStep: r.min,
      ratioOfMin: b.min / r.min,
      paperOverheadPercent: -4.63,
      ...common,
    });
  }
  return figs;
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figs = await bench();
  for (const f of figs) console.log(JSON.stringify(f));
  process.exit(0);
}
