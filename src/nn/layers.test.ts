import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, tree, jnn, jit, grad, crossEntropy, type Array } from "../engine/index.js";
import { assertClose, finiteDiffCheck } from "../engine/testing.js";
import { KeyGen } from "./init.js";
import { initLinear, linear } from "./linear.js";
import { embed } from "./embedding.js";
import { layerNorm, rmsNorm } from "./norm.js";
import { attention, initAttention } from "./attention.js";
import { initMLP, mlp } from "./mlp.js";
import { defaultLMConfig, flopsPerToken, initLM, lmForward, mlpHidden, paramCount, validateLMConfig, type LMConfig, type LMParams } from "./transformer.js";

beforeAll(async () => {
  await initEngine();
});

const host = async (a: Array) => Array.from((await a.data()) as Float32Array);
function det(n: number, seed = 3): number[] {
  let s = seed;
  return Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1);
}
const arr = (xs: number[], shape: number[]) => np.array(Float32Array.from(xs)).reshape(shape);

// ---- plain-JS references ----
function refMatmul(x: number[], w: number[], n: number, k: number, m: number): number[] {
  const out = new Array(n * m).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) for (let t = 0; t < k; t++) out[i * m + j] += x[i * k + t] * w[t * m + j];
  return out;
}
function refRms(x: number[], g: number[], D: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / D; r++) {
    const row = x.slice(r * D, r * D + D);
    const ms = row.reduce((a, v) => a + v * v, 0) / D;
    row.forEach((v, i) => out.push((v / Math.sqrt(ms + 1e-5)) * g[i]));
  }
  return out;
}
function refLn(x: number[], g: number[], b: number[], D: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / D; r++) {
    const row = x.slice(r * D, r * D + D);
    const mu = row.reduce((a, v) => a + v, 0) / D;
    const v = row.reduce((a, t) => a + (t - mu) ** 2, 0) / D;
    row.forEach((t, i) => out.push(((t - mu) / Math.sqrt(v + 1e-5)) * g[i] + b[i]));
  }
  return out;
}
const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Causal MHA reference with optional RoPE (half-split), x: [T, D], Wqkv [D, 3D], Wo [D, D]. */
function refAttention(x: number[], T: number, D: number, H: number, wqkv: number[], wo: number[], rope: boolean): number[] {
  const qkv = refMatmul(x, wqkv, T, D, 3 * D);
  const hd = D / H;
  const y = new Array(T * D).fill(0);
  const rot = (v: number[], t: number) => {
    if (!rope) return v;
    const half = hd / 2;
    const out = [...v];
    for (let i = 0; i < half; i++) {
      const ang = t / Math.pow(10000, (2 * i) / hd);
      out[i] = v[i] * Math.cos(ang) - v[i + half] * Math.sin(ang);
      out[i + half] = v[i + half] * Math.cos(ang) + v[i] * Math.sin(ang);
    }
    return out;
  };
  for (let h = 0; h < H; h++) {
    const q = (t: number) => rot(qkv.slice(t * 3 * D + h * hd, t * 3 * D + h * hd + hd), t);
    const k = (t: number) => rot(qkv.slice(t * 3 * D + D + h * hd, t * 3 * D + D + h * hd + hd), t);
    const v = (t: number) => qkv.slice(t * 3 * D + 2 * D + h * hd, t * 3 * D + 2 * D + h * hd + hd);
    for (let i = 0; i < T; i++) {
      const s = [];
      for (let j = 0; j <= i; j++) s.push(q(i).reduce((a, qv, c) => a + qv * k(j)[c], 0) / Math.sqrt(hd));
      const mx = Math.max(...s);
      const e = s.map((z) => Math.exp(z - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j <= i; j++) v(j).forEach((vv, c) => (y[i * D + h * hd + c] += (e[j] / z) * vv));
    }
  }
  return refMatmul(y, wo, T, D, D);
}

describe("layers: values against plain-JS references", () => {
  it("linear", async () => {
    const x = det(12, 1), w = det(12, 2), b = det(3, 3);
    const y = linear({ w: arr(w, [4, 3]), b: arr(b, [3]) }, arr(x, [3, 4]));
    const ref = refMatmul(x, w, 3, 4, 3).map((v, i) => v + b[i % 3]);
    assertClose(await host(y), ref, { atol: 1e-5 });
  });
  it("embedding lookup: gather and one-hot give the same rows exactly, and the same table gradient", async () => {
    const t = det(20, 4);
    const ids = () => np.array(Int32Array.from([3, 0, 3, 4, 1, 3]), { dtype: np.int32 }).reshape([2, 3]);
    const want = [3, 0, 3, 4, 1, 3].flatMap((i) => t.slice(4 * i, 4 * i + 4));
    for (const via of [undefined, "gather", "onehot"] as const) {
      const y = embed({ table: arr(t, [5, 4]) }, ids(), via);
      expect(y.shape).toEqual([2, 3, 4]);
      expect(await host(y)).toEqual(want.map((v) => Math.fround(v)));
    }
    // d/dtable of sum(embed(ids) * w): row i collects w at every position holding id i.
    const w = det(24, 8);
    const gradVia = (via: "gather" | "onehot") =>
      jit(grad((tab: Array, ww: Array, ii: Array) => embed({ table: tab }, ii, via).mul(ww).sum()))(arr(t, [5, 4]), arr(w, [2, 3, 4]), ids());
    const ref = new Array(20).fill(0);
    [3, 0, 3, 4, 1, 3].forEach((id, pos) => {
      for (let d = 0; d < 4; d++) ref[4 * id + d] += w[4 * pos + d];
    });
    assertClose(await host(gradVia("onehot")), ref, { atol: 1e-6 });
    assertClose(await host(gradVia("gather")), ref, { atol: 1e-6 });
  });
  it("RMSNorm and LayerNorm", async () => {
    const x = det(12, 5), g = det(4, 6), b = det(4, 7);
    assertClose(await host(rmsNorm({ g: arr(g, [4]) }, arr(x, [3, 4]))), refRms(x, g, 4), { atol: 1e-5 });
    assertClose(await host(layerNorm({ g: arr(g, [4]), b: arr(b, [4]) }, arr(x, [3, 4]))), refLn(x, g, b, 4), { atol: 1e-5 });
  });
  it("GELU (tanh) MLP and SwiGLU", async () => {
    const kg = new KeyGen(1);
    const p = initMLP(kg, "m", 4, 8, "gelu");
    const x = det(8, 8);
    const up = await host(p.up.w.ref), down = await host(p.down.w.ref);
    const h = refMatmul(x, up, 2, 4, 8).map(geluTanh);
    assertClose(await host(mlp(p, arr(x, [2, 4]))), refMatmul(h, down, 2, 8, 4), { atol: 1e-6 });
    const q = initMLP(kg, "s", 4, 8, "swiglu");
    const [u, d, g] = [await host(q.up.w.ref), await host(q.down.w.ref), await host(q.gate!.w.ref)];
    const gate = refMatmul(x, g, 2, 4, 8).map((v) => v / (1 + Math.exp(-v)));
    const hh = refMatmul(x, u, 2, 4, 8).map((v, i) => v * gate[i]);
    assertClose(await host(mlp(q, arr(x, [2, 4]))), refMatmul(hh, d, 2, 8, 4), { atol: 1e-6 });
  });
  for (const rope of [false, true]) {
    it(`causal attention (rope=${rope})`, async () => {
      const T = 5, D = 8, H = 2;
      const p = initAttention(new KeyGen(2), "a", D, {});
      p.qkv.w = arr(det(D * 3 * D, 11).map((v) => v * 0.5), [D, 3 * D]);
      p.out.w = arr(det(D * D, 12), [D, D]);
      const x = det(T * D, 13);
      const ref = refAttention(x, T, D, H, await host(p.qkv.w.ref), await host(p.out.w.ref), rope);
      const y = attention(p, arr(x, [1, T, D]), { nHeads: H, rope });
      assertClose(await host(y), ref, { atol: 1e-5, rtol: 1e-4 });
    });
  }
});

// finiteDiffCheck returns max |g - fd| / (atol + rtol·|fd|): below 1 means agreement.
const FD = {};
const TOL = 1;
describe("layers: gradients against finite differences (float64)", () => {
  const D = 4;
  const probe = (y: Array) => y.mul(arr(det(y.size, 99), y.shape)).sum();
  it("linear, norms, MLPs", async () => {
    const kg = new KeyGen(3);
    const x = arr(det(8, 21), [2, D]);
    const lin = initLinear(kg, "l", D, 3, { bias: true });
    expect(await finiteDiffCheck((p: typeof lin & { x: Array }) => probe(linear(p, p.x)), { ...lin, x: x.ref }, FD)).toBeLessThan(TOL);
    const rn = { g: arr(det(D, 22), [D]), x: x.ref };
    expect(await finiteDiffCheck((p: typeof rn) => probe(rmsNorm({ g: p.g }, p.x)), rn, FD)).toBeLessThan(TOL);
    const ln = { g: arr(det(D, 23), [D]), b: arr(det(D, 24), [D]), x: x.ref };
    expect(await finiteDiffCheck((p: typeof ln) => probe(layerNorm({ g: p.g, b: p.b }, p.x)), ln, FD)).toBeLessThan(TOL);
    for (const kind of ["gelu", "swiglu"] as const) {
      const m = { m: initMLP(kg, kind, D, 6, kind, { bias: true }), x: x.ref };
      expect(await finiteDiffCheck((p: typeof m) => probe(mlp(p.m, p.x)), m, FD)).toBeLessThan(TOL);
    }
    x.dispose();
  });
  it("attention (RoPE) and the whole LM loss", async () => {
    const a = { a: initAttention(new KeyGen(4), "a", 8, { bias: true }), x: arr(det(24, 31), [1, 3, 8]) };
    expect(await finiteDiffCheck((p: typeof a) => probe(attention(p.a, p.x, { nHeads: 2, rope: true })), a, { ...FD, samplesPerLeaf: 3 })).toBeLessThan(TOL);
    for (const over of [{}, { norm: "rms", pos: "rope", mlp: "swiglu", tiedHead: false, bias: true }] as Partial<LMConfig>[]) {
      const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 11, dModel: 8, nLayers: 2, nHeads: 2, contextLength: 6, ...over };
      const params = initLM(cfg, 5);
      const x = np.array(Int32Array.from([1, 4, 2, 9, 0, 3]), { dtype: np.int32 }).reshape([1, 6]);
      const y = np.array(Int32Array.from([4, 2, 9, 0, 3, 7]), { dtype: np.int32 }).reshape([1, 6]);
      const err = await finiteDiffCheck((p: LMParams) => crossEntropy(lmForward(p, cfg, x.ref).logits, y.ref), params, { ...FD, samplesPerLeaf: 2 });
      expect(err).toBeLessThan(TOL);
      tree.dispose(params);
    }
  });
});

describe("transformer LM", () => {
  it("is causal: changing a future token leaves earlier logits unchanged", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 16, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 8, pos: "rope" };
    const p = initLM(cfg, 1);
    const run = async (last: number) =>
      host(lmForward(tree.ref(p), cfg, np.array(Int32Array.from([1, 2, 3, 4, 5, 6, 7, last]), { dtype: np.int32 }).reshape([1, 8])).logits);
    const a = await run(0);
    const b = await run(9);
    assertClose(a.slice(0, 7 * 16), b.slice(0, 7 * 16), { atol: 1e-6 });
    expect(Math.abs(a[7 * 16] - b[7 * 16])).toBeGreaterThan(1e-6);
    tree.dispose(p);
  });
  it("counts parameters and FLOPs of the reference model", () => {
    const cfg = { ...defaultLMConfig };
    const p = initLM(cfg, 0);
    // wte 256x128 + wpe 128x128 + 2 blocks x (2 LayerNorms 2x2x128 + qkv 128x384 + out 128x128 + up 128x512 + down 512x128) + lnF 2x128
    const expected = 256 * 128 + 128 * 128 + 2 * (4 * 128 + 128 * 384 + 128 * 128 + 2 * 128 * 512) + 2 * 128;
    expect(paramCount(p)).toBe(expected);
    // 6·(non-embedding 2·(4·128² + 2·128·512) + head 128·256) + 6·L·T·D
    expect(flopsPerToken(cfg)).toBe(6 * (2 * (4 * 128 * 128 + 2 * 128 * 512) + 128 * 256) + 6 * 2 * 128 * 128);
    tree.dispose(p);
  });
  it("headRows computes the logits at the picked positions only: the full logits' values there, 0-rows give the head of 0", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 16, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8, pos: "rope" };
    const p = initLM(cfg, 4);
    const x = () => np.array(Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0]), { dtype: np.int32 }).reshape([2, 8]);
    const full = await host(lmForward(tree.ref(p), cfg, x()).logits);
    // Row 0 picks positions 3 and 6, row 1 picks 0 and nothing.
    const rows = new Float32Array(2 * 2 * 8);
    rows[0 * 8 + 3] = 1;
    rows[1 * 8 + 6] = 1;
    rows[2 * 8 + 0] = 1;
    const { logits } = lmForward(tree.ref(p), cfg, x(), { headRows: np.array(rows).reshape([2, 2, 8]) });
    expect(logits.shape).toEqual([2, 2, 16]);
    const got = await host(logits);
    const at = (b: number, t: number) => full.slice((b * 8 + t) * 16, (b * 8 + t + 1) * 16);
    expect(got.slice(0, 16)).toEqual(at(0, 3));
    expect(got.slice(16, 32)).toEqual(at(0, 6));
    expect(got.slice(32, 48)).toEqual(at(1, 0));
    expect(got.slice(48, 64)).toEqual(Array.from({ length: 16 }, () => 0));
    tree.dispose(p);
  });
  it("seqMultipleOf pads the time axis and gives the same logits and gradients; mlpMultipleOf rounds the MLP width up", async () => {
    const base: LMConfig = { ...defaultLMConfig, vocabSize: 13, dModel: 12, nLayers: 2, nHeads: 2, contextLength: 48, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 8 / 3 };
    expect(mlpHidden(base)).toBe(32);
    expect(mlpHidden({ ...base, dModel: 64 })).toBe(171);
    expect(mlpHidden({ ...base, dModel: 64, mlpMultipleOf: 4 })).toBe(172);
    expect(mlpHidden({ ...base, dModel: 64, mlpMultipleOf: 256 })).toBe(256);
    expect(() => validateLMConfig({ ...base, seqMultipleOf: 0 })).toThrow(/model\.seqMultipleOf: must be a positive integer/);
    const padded: LMConfig = { ...base, seqMultipleOf: 4 };
    const p = initLM(base, 3);
    const ids = Int32Array.from({ length: 2 * 7 }, (_, i) => (i * 5 + 1) % 13);
    const x = () => np.array(ids, { dtype: np.int32 }).reshape([2, 7]);
    const y = () => np.array(ids.map((v) => (v + 3) % 13), { dtype: np.int32 }).reshape([2, 7]);
    const a = lmForward(tree.ref(p), base, x(), { returnHidden: true });
    const b = lmForward(tree.ref(p), padded, x(), { returnHidden: true });
    expect(b.logits.shape).toEqual([2, 7, 13]);
    expect(b.hidden!.shape).toEqual([2, 7, 12]);
    assertClose(await host(b.logits), await host(a.logits), { atol: 1e-5 });
    assertClose(await host(b.hidden!), await host(a.hidden!), { atol: 1e-5 });
    // Replaced input embeddings (how omni feeds audio prefixes): 43 positions padded to 44.
    const e = () => np.array(Float32Array.from({ length: 2 * 43 * 12 }, (_, i) => Math.sin(i * 0.37))).reshape([2, 43, 12]);
    const ea = await host(lmForward(tree.ref(p), base, null, { inputEmbeds: e() }).logits);
    const eb = lmForward(tree.ref(p), padded, null, { inputEmbeds: e() }).logits;
    expect(eb.shape).toEqual([2, 43, 13]);
    assertClose(await host(eb), ea, { atol: 1e-5 });
    const g = (cfg: LMConfig) => grad((q: LMParams) => crossEntropy(lmForward(q, cfg, x()).logits, y()))(tree.ref(p));
    const [ga, gb] = [g(base), g(padded)];
    const la = tree.leaves(ga) as Array[];
    const lb = tree.leaves(gb) as Array[];
    expect(lb.length).toBe(la.length);
    for (let i = 0; i < la.length; i++) assertClose(await host(lb[i]), await host(la[i]), { atol: 1e-5 });
    tree.dispose(p);
  });
  it("softmax rows of the LM sum to one (sanity of logits)", async () => {
    const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 7, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 4 };
    const p = initLM(cfg, 2);
    const { logits } = lmForward(p, cfg, np.array(Int32Array.from([1, 2, 3, 4]), { dtype: np.int32 }).reshape([1, 4]));
    const s = await host(jnn.softmax(logits, -1).sum(-1));
    assertClose(s, [1, 1, 1, 1], { atol: 1e-5 });
  });
});
