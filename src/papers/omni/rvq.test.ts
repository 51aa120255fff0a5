import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, type Array } from "../../engine/index.js";
import { codebookUsage, rvqBitrate, rvqDecode, rvqEmaUpdate, rvqQuantize } from "./rvq.js";

const arr = (rows: number[][]) => np.array(Float32Array.from(rows.flat())).reshape([rows.length, rows[0].length]);
const rows = async (a: Array, d: number) => {
  const v = Array.from(await a.data());
  return Array.from({ length: v.length / d }, (_, i) => v.slice(i * d, (i + 1) * d));
};

beforeAll(async () => {
  await initEngine();
});

describe("residual vector quantiser", () => {
  it("encodes sums of codebook vectors exactly and decodes them back (round trip)", async () => {
    const e0 = [
      [4, 0],
      [0, 4],
      [-4, 0],
    ];
    const e1 = [
      [1, 0],
      [0, 1],
    ];
    const x = [
      [5, 0], // e0[0] + e1[0]
      [0, 5], // e0[1] + e1[1]
      [-4, 1], // e0[2] + e1[1]
    ];
    const q = rvqQuantize([arr(e0), arr(e1)], arr(x), np.ones([3]));
    expect(Array.from(await q.codes[0].ref.data())).toEqual([0, 1, 2]);
    expect(Array.from(await q.codes[1].ref.data())).toEqual([0, 1, 1]);
    expect(await rows(q.quantized, 2)).toEqual(x);
    // layer 0 leaves a residual of norm² 1 on each row (mean over D=2: 0.5); layer 1 leaves none
    expect(Number((await q.commitLoss.data())[0])).toBeCloseTo(0.5, 6);
    const back = rvqDecode([arr(e0), arr(e1)], q.codes);
    expect(await rows(back, 2)).toEqual(x);
    [...q.counts, ...q.sums, ...q.residuals].forEach((a) => a.dispose());
  });

  it("uses fewer layers when asked and the residual shrinks layer by layer", async () => {
    const e0 = [
      [4, 0],
      [0, 4],
    ];
    const e1 = [
      [1, 0],
      [0, 1],
    ];
    const codes = [np.array(Int32Array.from([0, 1]), { dtype: np.int32 }), np.array(Int32Array.from([1, 1]), { dtype: np.int32 })];
    expect(await rows(rvqDecode([arr(e0), arr(e1)], codes, 1), 2)).toEqual([
      [4, 0],
      [0, 4],
    ]);
  });

  it("computes the commitment loss and statistics by hand, ignoring masked rows", async () => {
    // one layer, codebook {(0,0), (2,0)}; rows (0.5,0)->0, (1.5,1)->1, padding row (9,9)
    const q = rvqQuantize([arr([[0, 0], [2, 0]])], arr([[0.5, 0], [1.5, 1], [9, 9]]), np.array(Float32Array.from([1, 1, 0])));
    // commit = mean over 2 valid rows of ||r - q||² / D = ((0.25) + (0.25 + 1)) / 2 / 2
    expect(Number((await q.commitLoss.data())[0])).toBeCloseTo(0.375, 6);
    expect(Array.from(await q.counts[0].data())).toEqual([1, 1]);
    expect(await rows(q.sums[0], 2)).toEqual([
      [0.5, 0],
      [1.5, 1],
    ]);
    q.quantized.dispose();
    q.codes[0].dispose();
    q.residuals[0].dispose();
  });

  it("EMA update matches hand-computed values (decay 0.5, Laplace smoothing)", async () => {
    const embed = [
      [1, 0],
      [0, 1],
    ];
    const x = [
      [1, 0],
      [0, 1],
      [0.9, 1.2],
    ];
    const q = rvqQuantize([arr(embed)], arr(x), np.ones([3]));
    expect(Array.from(await q.codes[0].data())).toEqual([0, 1, 1]);
    const state = { embed: [arr(embed)], clusterSize: [np.array(Float32Array.from([1, 1]))], embedAvg: [arr(embed)] };
    const eps = 1e-5;
    const next = rvqEmaUpdate(state, q.counts, q.sums, { decay: 0.5, eps });
    q.quantized.dispose();
    q.commitLoss.dispose();
    q.residuals[0].dispose();
    // N = 0.5·[1,1] + 0.5·[1,2] = [1, 1.5];  m = 0.5·I + 0.5·[[1,0],[0.9,2.2]] = [[1,0],[0.45,1.6]]
    const cs = Array.from(await next.clusterSize[0].data());
    expect(cs[0]).toBeCloseTo(1, 6);
    expect(cs[1]).toBeCloseTo(1.5, 6);
    const ea = await rows(next.embedAvg[0], 2);
    expect(ea[1][0]).toBeCloseTo(0.45, 6);
    expect(ea[1][1]).toBeCloseTo(1.6, 6);
    const n = 2.5;
    const sm = [(1 + eps) / (n + 2 * eps) * n, (1.5 + eps) / (n + 2 * eps) * n];
    const e = await rows(next.embed[0], 2);
    expect(e[0][0]).toBeCloseTo(1 / sm[0], 5);
    expect(e[1][0]).toBeCloseTo(0.45 / sm[1], 5);
    expect(e[1][1]).toBeCloseTo(1.6 / sm[1], 5);
  });

  it("restarts codes whose cluster size falls below the threshold with the candidate vectors", async () => {
    const state = { embed: [arr([[1, 0], [0, 1]])], clusterSize: [np.array(Float32Array.from([0.1, 2]))], embedAvg: [arr([[0.1, 0], [0, 2]])] };
    const counts = [np.array(Float32Array.from([0, 2]))];
    const sums = [arr([[0, 0], [0, 2]])];
    const next = rvqEmaUpdate(state, counts, sums, { decay: 0.9, eps: 0 }, { candidates: [arr([[5, 5], [7, 7]])], threshold: 0.5 });
    const e = await rows(next.embed[0], 2);
    expect(e[0]).toEqual([5, 5]); // dead: replaced, N reset to 1
    expect(e[1][1]).toBeCloseTo(1, 5); // alive: 2/2
    expect(Array.from(await next.clusterSize[0].data())).toEqual([1, 2].map((v) => Math.fround(v)));
    next.embedAvg[0].dispose();
  });

  it("reports the paper's bitrate for its codebook sizes and usage/perplexity", () => {
    expect(rvqBitrate([8192, 4096, 2048, 1024, 1024, 1024, 1024, 1024], 12.5)).toBeCloseTo(1075, 9);
    const u = codebookUsage([5, 5, 0, 0]);
    expect(u.used).toBe(0.5);
    expect(u.perplexity).toBeCloseTo(2, 9);
  });
});
