import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, jit, np, refTree, valueAndGrad, type Array } from "../../engine/index.js";
import { defaultLMConfig, type LMConfig } from "../../nn/transformer.js";
import {
  auxNames,
  horizon,
  initOverTokenized,
  mulMod,
  overEncode,
  overEncodingGeometry,
  overEncodingIndices,
  overTokenizedLoss,
  type OverTokenizedConfig,
  type OverTokenizedParams,
} from "./model.js";

beforeAll(async () => {
  await initEngine();
});

/** Exact n-gram key of position i (BigInt), current token at V^0, zero padding before the start. */
function refKey(ids: number[], i: number, n: number, V: number): bigint {
  let k = 0n;
  for (let j = 0; j < n; j++) k += BigInt(i - j >= 0 ? ids[i - j] : 0) * BigInt(V) ** BigInt(j);
  return k;
}

const i32 = (a: ArrayLike<number>, shape: number[]) => np.array(Int32Array.from(a), { dtype: np.int32 }).reshape(shape);
const host = async (a: Array) => Array.from((await a.data()) as Float32Array);

describe("n-gram keys and table rows", () => {
  it("match the hand-computed vector (V=5, m=7, n=3, k=1, ids [1,2,3,4])", () => {
    const geo = overEncodingGeometry({ n: 3, k: 1, m: 7, requireCoprime: true }, 5, 4);
    expect(geo.moduli).toEqual([7, 9]);
    expect(geo.gram).toEqual([2, 3]);
    expect(geo.width).toBe(2);
    const [two, three] = overEncodingIndices(Int32Array.from([1, 2, 3, 4]), 1, 4, 5, geo);
    // 2-gram keys [1, 7, 13, 19] mod 7; 3-gram keys [1, 7, 38, 69] mod 9.
    expect(Array.from(two)).toEqual([1, 0, 6, 5]);
    expect(Array.from(three)).toEqual([1, 7, 2, 6]);
  });

  it("pad with token 0 before the start of every row, not across rows", () => {
    const geo = overEncodingGeometry({ n: 3, k: 1, m: 1000, requireCoprime: false }, 10, 4);
    // Two rows; the second row must not see the first row's tokens.
    const [two, three] = overEncodingIndices(Int32Array.from([7, 8, 9, 1, 2, 3]), 2, 3, 10, geo);
    expect(Array.from(two)).toEqual([7, 78, 89, 1, 12, 23]); // x_i + 10·x_{i-1}
    expect(Array.from(three)).toEqual([7, 78, 789, 1, 12, 123].map((k) => k % 1002)); // + 100·x_{i-2}
  });

  it("orders k slices as t = (i-2)k + j with moduli m + 2t", () => {
    const geo = overEncodingGeometry({ n: 3, k: 2, m: 11, requireCoprime: true }, 5, 8);
    expect(geo.moduli).toEqual([11, 13, 15, 17]);
    expect(geo.gram).toEqual([2, 2, 3, 3]);
    expect(geo.width).toBe(2);
    const ids = [4, 0, 3, 2, 1];
    const rows = overEncodingIndices(Int32Array.from(ids), 1, 5, 5, geo);
    rows.forEach((r, t) => {
      for (let i = 0; i < ids.length; i++) expect(r[i]).toBe(Number(refKey(ids, i, geo.gram[t], 5) % BigInt(geo.moduli[t])));
    });
  });

  it("stay exact when the keys pass 2^53 (V = 50280, n = 5, m near 2^31)", () => {
    const V = 50280;
    const geo = overEncodingGeometry({ n: 5, k: 1, m: 2147483629, requireCoprime: false }, V, 8);
    const ids = [50279, 50278, 12345, 50277, 1, 50279, 40000, 33333];
    expect(refKey(ids, 7, 5, V)).toBeGreaterThan(2n ** 53n); // the plain-number key would be wrong
    const rows = overEncodingIndices(Int32Array.from(ids), 1, ids.length, V, geo);
    rows.forEach((r, t) => {
      for (let i = 0; i < ids.length; i++) expect(r[i]).toBe(Number(refKey(ids, i, geo.gram[t], V) % BigInt(geo.moduli[t])));
    });
    expect(mulMod(2 ** 31 - 2, 2 ** 31 - 3, 2 ** 31 - 1)).toBe(Number(((2n ** 31n - 2n) * (2n ** 31n - 3n)) % (2n ** 31n - 1n)));
  });

  it("reject bad configs with the field named", () => {
    expect(() => overEncodingGeometry({ n: 3, k: 1, m: 1024, requireCoprime: true }, 256, 64)).toThrow(/oe\.m: must be coprime with the vocabulary size 256/);
    expect(() => overEncodingGeometry({ n: 3, k: 3, m: 1021, requireCoprime: true }, 256, 64)).toThrow(/oe\.k: k·\(n-1\) = 6 must divide model\.dModel = 64/);
    expect(() => overEncodingGeometry({ n: 1, k: 1, m: 7, requireCoprime: true }, 5, 4)).toThrow(/oe\.n/);
    const geo = overEncodingGeometry({ n: 2, k: 1, m: 7, requireCoprime: true }, 5, 4);
    expect(() => overEncodingIndices(Int32Array.from([1, 5]), 1, 2, 5, geo)).toThrow(/token 5 at position 1 is outside \[0, 5\)/);
  });
});

const lm = (over: Partial<LMConfig> = {}): LMConfig => ({ ...defaultLMConfig, vocabSize: 11, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 8, ...over });

describe("over-encoding forward", () => {
  it("equals a plain-JS reference of Algorithm 1", async () => {
    const cfg: OverTokenizedConfig = { lm: lm(), oe: { n: 3, k: 2, m: 7, requireCoprime: true }, od: null, mtp: null };
    const V = 11;
    const D = 8;
    const geo = overEncodingGeometry(cfg.oe!, V, D);
    const p = initOverTokenized(cfg, 3);
    // Non-zero biases so the bias scaling is checked too.
    p.oe!.projs.forEach((pr, t) => {
      pr.b!.dispose();
      pr.b = np.arange(D).mul(0.01 * (t + 1));
    });
    const ids = [3, 10, 0, 7, 7, 2, 9, 1, 4, 5]; // B = 2, T = 5
    const B = 2;
    const T = 5;
    const wte = await host(p.lm.wte.table.ref);
    const tabs = await Promise.all(p.oe!.tables!.map((e) => host(e.table.ref)));
    const ws = await Promise.all(p.oe!.projs.map((pr) => host(pr.w.ref)));
    const bs = await Promise.all(p.oe!.projs.map((pr) => host(pr.b!.ref)));
    const idx = overEncodingIndices(Int32Array.from(ids), B, T, V, geo);
    const out = overEncode(
      p.lm.wte.table.ref,
      i32(ids, [B, T]),
      p.oe!.tables!.map((e) => e.table.ref),
      p.oe!.projs.map((pr) => ({ w: pr.w.ref, b: pr.b!.ref })),
      idx.map((a) => i32(a, [B, T])),
    );
    expect(out.shape).toEqual([B, T, D]);
    const got = await host(out);
    const w = geo.width;
    for (let b = 0; b < B; b++) {
      const row = ids.slice(b * T, b * T + T);
      for (let i = 0; i < T; i++) {
        const acc = Array.from({ length: D }, (_, d) => wte[row[i] * D + d]);
        for (let t = 0; t < geo.count; t++) {
          const r = Number(refKey(row, i, geo.gram[t], V) % BigInt(geo.moduli[t])); // independent of overEncodingIndices
          for (let d = 0; d < D; d++) {
            let s = bs[t][d];
            for (let c = 0; c < w; c++) s += tabs[t][r * w + c] * ws[t][c * D + d];
            acc[d] += s;
          }
        }
        for (let d = 0; d < D; d++) expect(got[(b * T + i) * D + d]).toBeCloseTo(acc[d] / (1 + geo.count), 6);
      }
    }
    disposeTree(p);
  });
});

/** Batch arrays for `overTokenizedLoss` from a token stream (B rows of T + H tokens). */
function batchFor(cfg: OverTokenizedConfig, rows: number[][], T: number): { arrays: Array[]; idx: Int32Array[] } {
  const B = rows.length;
  const H = horizon(cfg);
  const x = rows.flatMap((r) => r.slice(0, T));
  const ys = Array.from({ length: H }, (_, j) => rows.flatMap((r) => r.slice(j + 1, j + 1 + T)));
  const geo = cfg.oe ? overEncodingGeometry(cfg.oe, cfg.lm.vocabSize, cfg.lm.dModel) : null;
  const idx = geo ? overEncodingIndices(Int32Array.from(x), B, T, cfg.lm.vocabSize, geo) : [];
  return { arrays: [i32(x, [B, T]), ...ys.map((y) => i32(y, [B, T])), ...idx.map((a) => i32(a, [B, T]))], idx };
}

describe("gradients", () => {
  const cfg: OverTokenizedConfig = { lm: lm(), oe: { n: 3, k: 1, m: 13, requireCoprime: true }, od: null, mtp: null };
  const rows = [
    [1, 2, 3, 1, 2, 3, 4],
    [5, 5, 5, 0, 9, 9, 1],
  ];

  it("reach every table row that was hit and no other", async () => {
    const p = initOverTokenized(cfg, 1);
    const { arrays, idx } = batchFor(cfg, rows, 6);
    const f = jit((q: OverTokenizedParams, batch: Array[]) => {
      const [, g] = valueAndGrad((pp: OverTokenizedParams) => overTokenizedLoss(pp, cfg, [], batch)[0])(refTree(q));
      return g.oe!.tables!.map((e) => e.table);
    });
    const grads = f(p, arrays);
    for (let t = 0; t < grads.length; t++) {
      const [M, w] = grads[t].shape;
      const g = await host(grads[t]);
      const hit = new Set(idx[t]);
      expect(hit.size).toBeGreaterThan(3);
      for (let r = 0; r < M; r++) {
        let s = 0;
        for (let c = 0; c < w; c++) s += Math.abs(g[r * w + c]);
        if (hit.has(r)) expect(s, `table ${t} row ${r} was hit`).toBeGreaterThan(0);
        else expect(s, `table ${t} row ${r} was not hit`).toBe(0);
      }
    }
    f.dispose();
  });

  it("match finite differences for a table entry and a projection weight", async () => {
    const p = initOverTokenized(cfg, 2);
    const { arrays, idx } = batchFor(cfg, rows, 6);
    const lossOf = jit((q: OverTokenizedParams, batch: Array[]) => overTokenizedLoss(q, cfg, [], batch)[0]);
    const gradOf = jit((q: OverTokenizedParams, batch: Array[]) => {
      const [, g] = valueAndGrad((pp: OverTokenizedParams) => overTokenizedLoss(pp, cfg, [], batch)[0])(q);
      return [g.oe!.tables![1].table, g.oe!.projs[0].w];
    });
    const keep = (a: Array[]) => a.map((x) => x.ref);
    const [gTab, gW] = gradOf(refTree(p), keep(arrays));
    const gt = await host(gTab);
    const gw = await host(gW);
    const w = 4; // D / (k(n-1)) = 8 / 2
    const row = idx[1][4];
    const tab = await host(p.oe!.tables![1].table.ref);
    const W0 = await host(p.oe!.projs[0].w.ref);
    const eps = 1e-2;
    const lossWith = async (set: (q: OverTokenizedParams) => void) => {
      const q = refTree(p);
      set(q);
      return Number((await lossOf(q, keep(arrays)).data())[0]);
    };
    const checks: [string, number, number][] = [];
    for (const c of [0, 3]) {
      const at = row * w + c;
      const plus = await lossWith((q) => {
        const v = tab.slice();
        v[at] += eps;
        q.oe!.tables![1].table.dispose();
        q.oe!.tables![1] = { table: np.array(Float32Array.from(v)).reshape(p.oe!.tables![1].table.shape) };
      });
      const minus = await lossWith((q) => {
        const v = tab.slice();
        v[at] -= eps;
        q.oe!.tables![1].table.dispose();
        q.oe!.tables![1] = { table: np.array(Float32Array.from(v)).reshape(p.oe!.tables![1].table.shape) };
      });
      checks.push([`table 1 [${row}, ${c}]`, gt[at], (plus - minus) / (2 * eps)]);
    }
    for (const at of [0, 13]) {
      const mk = (delta: number) => (q: OverTokenizedParams) => {
        const v = W0.slice();
        v[at] += delta;
        q.oe!.projs[0].w.dispose();
        q.oe!.projs[0].w = np.array(Float32Array.from(v)).reshape(p.oe!.projs[0].w.shape);
      };
      const plus = await lossWith(mk(eps));
      const minus = await lossWith(mk(-eps));
      checks.push([`proj 0 w[${at}]`, gw[at], (plus - minus) / (2 * eps)]);
    }
    for (const [name, analytic, numeric] of checks) {
      expect(Math.abs(analytic), name).toBeGreaterThan(1e-5);
      expect(Math.abs(analytic - numeric), `${name}: analytic ${analytic} vs numeric ${numeric}`).toBeLessThan(1e-3 + 2e-2 * Math.abs(numeric));
    }
    lossOf.dispose();
    gradOf.dispose();
    disposeTree(p);
    arrays.forEach((a) => a.dispose());
  });
});

describe("over-decoding and MTP", () => {
  it("OD adds λ·CE of the x_{t+2} head to the next-token CE", async () => {
    const cfg: OverTokenizedConfig = { lm: lm(), oe: null, od: { n: 2, lambda: 0.1 }, mtp: null };
    const p = initOverTokenized(cfg, 4);
    const rows = [
      [1, 2, 3, 4, 5, 6, 7],
      [7, 6, 5, 4, 3, 2, 1],
    ];
    const { arrays } = batchFor(cfg, rows, 5);
    expect(auxNames(cfg)).toEqual(["nextTokenLoss", "odLoss2"]);
    const f = jit((q: OverTokenizedParams, b: Array[]) => {
      const [loss, aux] = overTokenizedLoss(q, cfg, [], b);
      return [loss, ...aux];
    });
    const [loss, ce1, ce2] = (await Promise.all(f(refTree(p), arrays).map(host))).map((x) => x[0]);
    expect(loss).toBeCloseTo(ce1 + 0.1 * ce2, 5);
    // A fresh head predicts x_{t+2} near uniformly: CE ≈ log V.
    expect(Math.abs(ce2 - Math.log(11))).toBeLessThan(0.05);
    f.dispose();
    disposeTree(p);
  });

  it("MTP-DS alone (no OE) adds λ·CE of the sequential x_{t+2} head", async () => {
    const cfg: OverTokenizedConfig = { lm: lm(), oe: null, od: null, mtp: { lambda: 0.1 } };
    const p = initOverTokenized(cfg, 6);
    const { arrays } = batchFor(cfg, [[1, 2, 3, 4, 5, 6, 7, 8]], 6);
    const f = jit((q: OverTokenizedParams, b: Array[]) => {
      const [[loss, aux], g] = valueAndGrad((pp: OverTokenizedParams) => overTokenizedLoss(pp, cfg, [], b), { hasAux: true })(q);
      return [loss, aux[0], aux[1], np.abs(g.mtp!.proj.w).sum()];
    });
    const [loss, ce1, mtp, gProj] = (await Promise.all(f(p, arrays).map(host))).map((x) => x[0]);
    expect(auxNames(cfg)).toEqual(["nextTokenLoss", "mtpLoss"]);
    expect(loss).toBeCloseTo(ce1 + 0.1 * mtp, 5);
    expect(gProj).toBeGreaterThan(0);
    f.dispose();
  });

  it("OT (OE + MTP-DS) gives a finite loss whose gradient reaches the MTP block and the OE tables", async () => {
    const cfg: OverTokenizedConfig = { lm: lm(), oe: { n: 2, k: 1, m: 13, requireCoprime: true }, od: null, mtp: { lambda: 0.1 } };
    const p = initOverTokenized(cfg, 5);
    const { arrays } = batchFor(cfg, [[1, 2, 3, 4, 5, 6, 7, 8]], 6);
    const f = jit((q: OverTokenizedParams, b: Array[]) => {
      const [[loss, aux], g] = valueAndGrad((pp: OverTokenizedParams) => overTokenizedLoss(pp, cfg, [], b), { hasAux: true })(q);
      return [loss, aux[0], aux[1], np.abs(g.mtp!.attn.qkv.w).sum(), np.abs(g.oe!.tables![0].table).sum()];
    });
    const [loss, ce1, mtp, gMtp, gTab] = (await Promise.all(f(p, arrays).map(host))).map((x) => x[0]);
    expect(loss).toBeCloseTo(ce1 + 0.1 * mtp, 5);
    expect(gMtp).toBeGreaterThan(0);
    expect(gTab).toBeGreaterThan(0);
    f.dispose();
  });
});
