import { beforeAll, describe, expect, it } from "vitest";
import { np, grad, jit, tree, initEngine, crossEntropy, type Array } from "../engine/index.js";
import { Rng } from "../util/rng.js";
import {
  selectiveScan,
  selectiveScanUnrolled,
  selectiveScanReference,
  selectiveScanReferenceGrad,
  type ScanHostInputs,
} from "./selective-scan.js";
import {
  defaultMambaConfig,
  defaultMambaLMConfig,
  initMambaBlock,
  initMambaLM,
  mambaLMForward,
  mambaMixer,
  mambaBlockParams,
  dtRankOf,
  type MambaBlock,
  type MambaConfig,
  type MambaLMConfig,
} from "./mamba.js";
import { KeyGen } from "./init.js";
import { paramCount } from "./transformer.js";
import { adamwInit, defaultDecayMask } from "../optim/adamw.js";
import { makeTrainStep } from "../train/step.js";

beforeAll(async () => {
  await initEngine();
});

const arr = (xs: ArrayLike<number>, shape: number[]) => np.array(Float32Array.from(xs)).reshape(shape);
const read = async (x: Array) => Float64Array.from(await x.data());

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
  return err / Math.max(scale, 1e-12);
}

/** Random scan inputs; Δ spans weak to strong decays (|A|·Δ up to ~20 per step). */
function scanInputs(Bsz: number, T: number, E: number, N: number, seed: number): ScanHostInputs {
  const r = new Rng(seed);
  const f = (n: number, g: () => number) => Float64Array.from({ length: n }, g);
  return {
    Bsz,
    T,
    E,
    N,
    u: f(Bsz * T * E, () => r.normal()),
    delta: f(Bsz * T * E, () => Math.exp(-4 + 5 * r.next())), // 0.018 .. 2.7
    A: f(E * N, () => -Math.exp(2 * r.next())), // -1 .. -7.4
    B: f(Bsz * T * N, () => r.normal()),
    C: f(Bsz * T * N, () => r.normal()),
    D: f(E, () => r.normal()),
  };
}

function toArrays(s: ScanHostInputs): Array[] {
  return [
    arr(s.u, [s.Bsz, s.T, s.E]),
    arr(s.delta, [s.Bsz, s.T, s.E]),
    arr(s.A, [s.E, s.N]),
    arr(s.B, [s.Bsz, s.T, s.N]),
    arr(s.C, [s.Bsz, s.T, s.N]),
    arr(s.D!, [s.E]),
  ];
}

describe("selective scan", () => {
  const s = scanInputs(2, 13, 5, 3, 1);
  const ref = selectiveScanReference(s).y;

  it("the unrolled jax loop equals the plain-JS sequential reference", async () => {
    const [u, d, A, B, C, D] = toArrays(s);
    const y = await read(selectiveScanUnrolled(u, d, A, B, C, D));
    expect(maxRelErr(y, ref)).toBeLessThan(2e-5);
  });

  for (const chunk of [1, 3, 4, 16]) {
    it(`the chunked scan (chunk ${chunk}, T = 13) equals the sequential reference`, async () => {
      const [u, d, A, B, C, D] = toArrays(s);
      const y = await read(selectiveScan(u, d, A, B, C, D, { chunk }));
      expect(y.length).toBe(ref.length);
      expect(maxRelErr(y, ref)).toBeLessThan(2e-5);
    });
  }

  it("a scan without D has no skip term", async () => {
    const { D: _D, ...noD } = s;
    const [u, d, A, B, C, D] = toArrays(s);
    D.dispose();
    const y = await read(selectiveScan(u, d, A, B, C, undefined, { chunk: 4 }));
    expect(maxRelErr(y, selectiveScanReference(noD).y)).toBeLessThan(2e-5);
  });

  it("the hand-written reference backward matches central finite differences", () => {
    const small = scanInputs(1, 6, 3, 2, 2);
    const dy = Float64Array.from({ length: 18 }, (_, i) => Math.sin(i + 1));
    const g = selectiveScanReferenceGrad(small, dy);
    const lossOf = (inp: ScanHostInputs) => selectiveScanReference(inp).y.reduce((acc, v, i) => acc + v * dy[i], 0);
    const h = 1e-6;
    for (const key of ["u", "delta", "A", "B", "C", "D"] as const) {
      const base = small[key] as Float64Array;
      for (let i = 0; i < base.length; i++) {
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i] += h;
        minus[i] -= h;
        const fd = (lossOf({ ...small, [key]: plus }) - lossOf({ ...small, [key]: minus })) / (2 * h);
        expect(Math.abs(g[key][i] - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
      }
    }
  });

  for (const chunk of [3, 16]) {
    it(`gradients of the chunked scan (chunk ${chunk}) equal the reference gradients`, async () => {
      const dy = Float64Array.from({ length: s.Bsz * s.T * s.E }, (_, i) => Math.cos(0.7 * i));
      const want = selectiveScanReferenceGrad(s, dy);
      const loss = (xs: Array[]) => selectiveScan(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], { chunk }).mul(arr(dy, [s.Bsz, s.T, s.E])).sum();
      const g = grad(loss)(toArrays(s)) as Array[];
      const names = ["u", "delta", "A", "B", "C", "D"] as const;
      for (let i = 0; i < names.length; i++) {
        const got = await read(g[i]);
        expect(maxRelErr(got, want[names[i]]), names[i]).toBeLessThan(1e-4);
      }
    });
  }

  it("under jit the chunked scan gives the same values", async () => {
    const f = jit((xs: Array[]) => selectiveScan(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], { chunk: 4 }));
    const y = await read(f(toArrays(s)) as Array);
    f.dispose();
    expect(maxRelErr(y, ref)).toBeLessThan(2e-5);
  });

  it("rejects inputs of the wrong shape with the name of the argument", () => {
    const [u, d, A, B, C, D] = toArrays(s);
    expect(() => selectiveScan(u, d, A, B, C.reshape([2, 13, 3, 1]), D)).toThrow(/C must have shape \[2, 13, 3\]/);
  });
});

// ---------------------------------------------------------------------------------------------
// The whole block against a plain-JS float64 implementation of mamba_simple.py's forward.

type HostBlock = Record<string, Float64Array>;

async function hostBlock(p: MambaBlock): Promise<HostBlock> {
  const q = tree.ref(p);
  return {
    inW: await read(q.inProj.w),
    convW: await read(q.conv.w),
    convB: await read(q.conv.b),
    xW: await read(q.xProj.w),
    dtW: await read(q.dtProj.w),
    dtB: await read(q.dtProj.b!),
    A_log: await read(q.A_log),
    D: await read(q.D),
    outW: await read(q.outProj.w),
  };
}

function blockReference(h: HostBlock, x: Float64Array, Bsz: number, T: number, cfg: MambaConfig): Float64Array {
  const Dm = cfg.dModel;
  const E = cfg.expand * Dm;
  const N = cfg.dState;
  const R = dtRankOf(cfg);
  const K = cfg.dConv;
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
  const mm = (a: Float64Array, rows: number, k: number, w: Float64Array, cols: number) => {
    const o = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) for (let c = 0; c < cols; c++) o[r * cols + c] += a[r * k + j] * w[j * cols + c];
    return o;
  };
  const rows = Bsz * T;
  const xz = mm(x, rows, Dm, h.inW, 2 * E);
  const u = new Float64Array(rows * E);
  const z = new Float64Array(rows * E);
  for (let b = 0; b < Bsz; b++)
    for (let t = 0; t < T; t++)
      for (let e = 0; e < E; e++) {
        let acc = h.convB[e];
        for (let j = 0; j < K; j++) {
          const tt = t - K + 1 + j;
          if (tt >= 0) acc += h.convW[j * E + e] * xz[(b * T + tt) * 2 * E + e];
        }
        u[(b * T + t) * E + e] = silu(acc);
        z[(b * T + t) * E + e] = xz[(b * T + t) * 2 * E + E + e];
      }
  const xdbl = mm(u, rows, E, h.xW, R + 2 * N);
  const dtIn = new Float64Array(rows * R);
  const Bm = new Float64Array(rows * N);
  const Cm = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < R; j++) dtIn[r * R + j] = xdbl[r * (R + 2 * N) + j];
    for (let n = 0; n < N; n++) {
      Bm[r * N + n] = xdbl[r * (R + 2 * N) + R + n];
      Cm[r * N + n] = xdbl[r * (R + 2 * N) + R + N + n];
    }
  }
  const dtLin = mm(dtIn, rows, R, h.dtW, E);
  const delta = dtLin.map((v, i) => softplus(v + h.dtB[i % E]));
  const A = h.A_log.map((v) => -Math.exp(v));
  const { y } = selectiveScanReference({ Bsz, T, E, N, u, delta, A, B: Bm, C: Cm, D: h.D });
  const gated = y.map((v, i) => v * silu(z[i]));
  return mm(gated, rows, E, h.outW, Dm);
}

describe("Mamba block", () => {
  const cfg: MambaConfig = { ...defaultMambaConfig, dModel: 8, dState: 4, scanChunk: 4 };
  const [Bsz, T] = [2, 7];
  const r = new Rng(5);
  const x = Float64Array.from({ length: Bsz * T * cfg.dModel }, () => r.normal());

  it("matches a plain-JS float64 forward of mamba_simple.py", async () => {
    const p = initMambaBlock(new KeyGen(3), "blk", cfg);
    // Perturb A_log and D away from their symmetric init so every term is exercised.
    p.A_log = p.A_log.add(arr(Float64Array.from({ length: 16 * 4 }, () => 0.3 * r.normal()), [16, 4]));
    p.D = p.D.add(0.5);
    const host = await hostBlock(p);
    const got = await read(mambaMixer(p, arr(x, [Bsz, T, cfg.dModel]), cfg));
    expect(maxRelErr(got, blockReference(host, x, Bsz, T, cfg))).toBeLessThan(1e-4);
  });

  it("chunked and unrolled scans give the same block output", async () => {
    const p = initMambaBlock(new KeyGen(4), "blk", cfg);
    const a = await read(mambaMixer(tree.ref(p), arr(x, [Bsz, T, cfg.dModel]), cfg));
    const b = await read(mambaMixer(p, arr(x, [Bsz, T, cfg.dModel]), { ...cfg, scanChunk: "unrolled" }));
    expect(maxRelErr(a, b)).toBeLessThan(1e-5);
  });

  it("gradients match central finite differences of the float64 reference", async () => {
    const p = initMambaBlock(new KeyGen(6), "blk", cfg);
    const w = Float64Array.from({ length: Bsz * T * cfg.dModel }, (_, i) => Math.sin(0.37 * i + 0.1));
    const host = await hostBlock(p);
    const lossHost = (hb: HostBlock) => blockReference(hb, x, Bsz, T, cfg).reduce((acc, v, i) => acc + v * w[i], 0);
    const g = grad((q: MambaBlock) => mambaMixer(q, arr(x, [Bsz, T, cfg.dModel]), cfg).mul(arr(w, [Bsz, T, cfg.dModel])).sum())(p) as MambaBlock;
    const gh = await hostBlock(g);
    const h = 1e-5;
    const pick = new Rng(11);
    for (const key of ["inW", "convW", "convB", "xW", "dtW", "dtB", "A_log", "D", "outW"]) {
      for (let k = 0; k < 4; k++) {
        const i = pick.int(host[key].length);
        const plus = { ...host, [key]: Float64Array.from(host[key]) };
        const minus = { ...host, [key]: Float64Array.from(host[key]) };
        plus[key][i] += h;
        minus[key][i] -= h;
        const fd = (lossHost(plus) - lossHost(minus)) / (2 * h);
        expect(Math.abs(gh[key][i] - fd), `${key}[${i}]: autodiff ${gh[key][i]} vs fd ${fd}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
      }
    }
  });

  it("initialisation follows mamba_simple.py", async () => {
    const big: MambaConfig = { ...defaultMambaConfig, dModel: 256 }; // E = 512, R = 16
    const p = initMambaBlock(new KeyGen(0), "blk", big);
    const E = 512;
    const N = 16;
    const aLog = await read(p.A_log);
    for (let e = 0; e < E; e += 97) for (let n = 0; n < N; n++) expect(aLog[e * N + n]).toBeCloseTo(Math.log(n + 1), 6);
    expect(Array.from(await read(p.D)).every((v) => v === 1)).toBe(true);
    const dt = Array.from(await read(p.dtProj.b!)).map((b) => Math.log1p(Math.exp(b))); // softplus(bias) = initial Δ
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(0.001 * 0.999);
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.1 * 1.001);
    const meanLog = dt.reduce((a, v) => a + Math.log(v), 0) / E;
    expect(Math.abs(meanLog - (Math.log(0.001) + Math.log(0.1)) / 2)).toBeLessThan(0.3); // log-uniform: sd of the mean ≈ 0.06
    const dtW = await read(p.dtProj.w);
    const bound = 1 / Math.sqrt(16);
    expect(dtW.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(bound);
    const varW = dtW.reduce((a, v) => a + v * v, 0) / dtW.length;
    expect(varW / (bound * bound / 3)).toBeGreaterThan(0.9);
    expect(varW / (bound * bound / 3)).toBeLessThan(1.1);
    const inW = await read(p.inProj.w);
    expect(inW.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(1 / Math.sqrt(256));
    expect(p.xProj.w.shape).toEqual([512, 16 + 32]);
    tree.dispose([p.conv, p.xProj, p.outProj]);
    expect(mambaBlockParams(big)).toBe(paramCount(initMambaBlock(new KeyGen(0), "b2", big)));
  });

  it("a tiny Mamba LM learns a repeating sequence (loss falls)", async () => {
    const lm: MambaLMConfig = { ...defaultMambaLMConfig, vocabSize: 16, dModel: 16, nLayers: 1, blocksPerLayer: 2, dState: 4, scanChunk: 4 };
    const T = 12;
    const seq = Int32Array.from({ length: 4 * (T + 1) }, (_, i) => (i * 5) % 7);
    const xs = np.array(Int32Array.from({ length: 4 * T }, (_, i) => seq[Math.floor(i / T) * (T + 1) + (i % T)]), { dtype: np.int32 }).reshape([4, T]);
    const ys = np.array(Int32Array.from({ length: 4 * T }, (_, i) => seq[Math.floor(i / T) * (T + 1) + (i % T) + 1]), { dtype: np.int32 }).reshape([4, T]);
    const params = initMambaLM(lm, 0);
    const step = makeTrainStep((p: typeof params, x: Array, y: Array) => crossEntropy(mambaLMForward(p, lm, x).logits, y), {
      adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 },
      clip: 1,
      decayMask: defaultDecayMask(params),
    });
    let st = { params, opt: adamwInit(params) };
    const losses: number[] = [];
    for (let t = 1; t <= 25; t++) {
      const out = step.step(st.params, st.opt, [xs.ref, ys.ref], 1e-2, t);
      losses.push(Number((await out.loss.data())[0]));
      st = { params: out.params, opt: out.opt };
    }
    step.dispose();
    expect(losses[0]).toBeGreaterThan(Math.log(16) - 0.3);
    expect(losses[24]).toBeLessThan(0.5 * losses[0]);
  });
});
