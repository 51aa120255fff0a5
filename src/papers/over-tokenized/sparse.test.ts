import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, tree, type Array, type JsTree } from "../../engine/index.js";
import { defaultLMConfig } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask, type AdamWConfig } from "../../optim/adamw.js";
import { initOverEncodingTables, initOverTokenized, overEncodingGeometry, overEncodingIndices, overTokenizedLoss, type OverTokenizedConfig, type OverTokenizedParams } from "./model.js";
import { makeOverTokenizedStep, SparseTableStore } from "./sparse.js";

beforeAll(async () => {
  await initEngine();
});

const cfg: OverTokenizedConfig = {
  lm: { ...defaultLMConfig, vocabSize: 11, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 8 },
  oe: { n: 3, k: 1, m: 13, requireCoprime: true },
  od: null,
  mtp: null,
};
const geo = overEncodingGeometry(cfg.oe!, 11, 8);
const adamw: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
const B = 2;
const T = 6;
const flat = async (t: unknown) => {
  const out: number[] = [];
  for (const a of tree.leaves(t as JsTree<Array>) as Array[]) out.push(...((await a.ref.data()) as Float32Array));
  return out;
};

/** One batch: x and y (B·T each) from B rows of T+1 tokens, and the table rows. */
function batch(rows: number[][]) {
  const x = Int32Array.from(rows.flatMap((r) => r.slice(0, T)));
  const y = Int32Array.from(rows.flatMap((r) => r.slice(1, T + 1)));
  return { x, y, idx: overEncodingIndices(x, B, T, 11, geo) };
}

async function runSteps(sparse: boolean, batches: ReturnType<typeof batch>[]) {
  const params0 = initOverTokenized(cfg, 7, { tablesOnDevice: !sparse });
  const store = sparse ? await SparseTableStore.fromDevice(initOverEncodingTables(geo, 7)) : null;
  const { trainStep, prepare } = makeOverTokenizedStep<OverTokenizedParams>((p, rows, b) => overTokenizedLoss(p, cfg, rows, b), {
    adamw,
    clip: 0.5, // small enough to be active, so the joint clip is tested too
    decayMask: defaultDecayMask(params0),
    store,
  });
  let params = params0;
  let opt = adamwInit(params);
  const losses: number[] = [];
  for (let i = 0; i < batches.length; i++) {
    const arrays = prepare(batches[i].x, [batches[i].y], batches[i].idx, B, T);
    const out = trainStep.step(params, opt, arrays, 0.05, i + 1);
    losses.push(Number((await out.loss.data())[0]));
    out.gradNorm.dispose();
    out.aux.forEach((a) => a.dispose());
    await trainStep.afterStep?.();
    params = out.params;
    opt = out.opt;
  }
  const tables = sparse ? store!.values.map((v) => Array.from(v)) : await Promise.all(params.oe!.tables!.map(async (e) => Array.from((await e.table.ref.data()) as Float32Array)));
  const rest = await flat({ lm: params.lm, projs: params.oe!.projs });
  trainStep.dispose();
  disposeTree(params);
  disposeTree(opt);
  return { tables, rest, losses };
}

describe("sparse table path", () => {
  const b1 = batch([
    [1, 2, 3, 4, 5, 6, 7],
    [8, 9, 10, 0, 1, 2, 3],
  ]);
  const b2 = batch([
    [1, 2, 3, 1, 2, 3, 1],
    [4, 4, 4, 4, 4, 4, 4],
  ]);

  it("plans unique rows with their inverse and a fixed capacity", () => {
    const store = new SparseTableStore([13, 15], 4);
    const plan = store.plan(b2.idx);
    expect(plan.capacity).toEqual([12, 12]);
    plan.unique.forEach((u, t) => {
      expect(new Set(u).size).toBe(u.length);
      expect(u.length).toBe(new Set(b2.idx[t]).size);
      b2.idx[t].forEach((r, i) => expect(u[plan.inv[t][i]]).toBe(r));
    });
    // The slot scratch is reset: a second plan gives the same answer.
    expect(store.plan(b2.idx).unique.map((u) => Array.from(u))).toEqual(plan.unique.map((u) => Array.from(u)));
  });

  it("matches dense AdamW exactly after one step (all params, all table rows)", async () => {
    const dense = await runSteps(false, [b1]);
    const sparse = await runSteps(true, [b1]);
    expect(sparse.losses[0]).toBeCloseTo(dense.losses[0], 6);
    sparse.rest.forEach((v, i) => expect(Math.abs(v - dense.rest[i])).toBeLessThan(2e-6));
    sparse.tables.forEach((tab, t) => tab.forEach((v, i) => expect(Math.abs(v - dense.tables[t][i])).toBeLessThan(2e-6)));
  });

  it("after two steps differs from dense only on rows hit in step 1 and not in step 2 (lazy moments)", async () => {
    const dense = await runSteps(false, [b1, b2]);
    const sparse = await runSteps(true, [b1, b2]);
    expect(sparse.losses[1]).toBeCloseTo(dense.losses[1], 5);
    sparse.rest.forEach((v, i) => expect(Math.abs(v - dense.rest[i])).toBeLessThan(5e-6));
    const w = geo.width;
    for (let t = 0; t < geo.count; t++) {
      const hit1 = new Set(b1.idx[t]);
      const hit2 = new Set(b2.idx[t]);
      let stale = 0;
      for (let r = 0; r < geo.moduli[t]; r++) {
        let diff = 0;
        for (let c = 0; c < w; c++) diff = Math.max(diff, Math.abs(sparse.tables[t][r * w + c] - dense.tables[t][r * w + c]));
        if (hit1.has(r) && !hit2.has(r)) {
          stale++;
          expect(diff, `table ${t} row ${r}: dense keeps moving it with its first moment`).toBeGreaterThan(1e-4);
        } else expect(diff, `table ${t} row ${r}`).toBeLessThan(5e-6);
      }
      expect(stale).toBeGreaterThan(0);
    }
  });

  it("serialises tables and moments and restores them", () => {
    const a = new SparseTableStore([3, 5], 2, [Float32Array.from([1, 2, 3, 4, 5, 6]), Float32Array.from({ length: 10 }, (_, i) => i / 10)]);
    a.update(1, Int32Array.from([4]), Float32Array.from([0.5, -0.5]), 0.1, 1, adamw);
    const b = new SparseTableStore([3, 5], 2);
    expect(b.restore(a.serialize(17))).toBe(17);
    expect(Array.from(b.values[1])).toEqual(Array.from(a.values[1]));
    expect(Array.from(b.m[1])).toEqual(Array.from(a.m[1]));
    expect(Array.from(b.v[1])).toEqual(Array.from(a.v[1]));
    // Lazy AdamW first step: the hit row moves by lr·sign(g) (plus decay), the others do not.
    expect(a.values[1][8]).toBeCloseTo(0.8 - 0.1 * (1 + 0.1 * 0.8), 5);
    expect(a.values[1][9]).toBeCloseTo(0.9 - 0.1 * (-1 + 0.1 * 0.9), 5);
    expect(Array.from(a.values[1].subarray(0, 8))).toEqual(Array.from(Float32Array.from({ length: 8 }, (_, i) => i / 10)));
    expect(() => new SparseTableStore([3], 2).restore(a.serialize(1))).toThrow(/sparse tables/);
  });
});
