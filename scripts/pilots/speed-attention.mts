/**
 * Pilot (issue 25, route 4): causal attention forward + backward at the reference step's shapes
 * (B 16, T 128, 4 heads of width 32), jax-js's `dotProductAttention` (an einsum over [B, T, H, hd])
 * against the same attention with heads moved ahead of time (materialised transposes) so both
 * contractions are batched matmuls over contiguous [B*H, T, hd] blocks. One process, interleaved
 * rounds, 1 thread; prints CPU ms per call, kernel counts and the largest output/gradient difference.
 */
import { initEngine, np, jnn, jit, valueAndGrad, kernelProfile, type Array } from "../../src/engine/index.js";
import { Rng } from "../../src/util/rng.js";

const info = await initEngine();
const [B, T, H, hd] = [16, 128, 4, 32];
const rng = new Rng(0, "attn");
const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
const host = { q: rand(B * T * H * hd), k: rand(B * T * H * hd), v: rand(B * T * H * hd), w: rand(B * T * H * hd) };
const arr = (x: Float32Array) => np.array(x).reshape([B, T, H, hd]);

const einsumAttn = (q: Array, k: Array, v: Array) => jnn.dotProductAttention(q, k, v, { isCausal: true });
function headsFirstAttn(q: Array, k: Array, v: Array): Array {
  const qh = q.transpose([0, 2, 1, 3]).mul(1 / Math.sqrt(hd)); // [B, H, T, hd]
  const kh = k.transpose([0, 2, 3, 1]); // [B, H, hd, T]
  const vh = v.transpose([0, 2, 1, 3]); // [B, H, T, hd]
  const causal = np.tri(T, T, 0, { dtype: np.bool });
  const s = np.where(causal, np.matmul(qh, kh), -Infinity); // [B, H, T, T]
  const p = jnn.softmax(s, -1);
  return np.matmul(p, vh).transpose([0, 2, 1, 3]); // [B, T, H, hd]
}
const make = (f: (q: Array, k: Array, v: Array) => Array) =>
  jit((q: Array, k: Array, v: Array, w: Array) => valueAndGrad((qq: Array) => f(qq, k.ref, v.ref).mul(w.ref).sum())(q));
const fns: Record<string, ReturnType<typeof make>> = { einsum: make(einsumAttn), headsFirst: make(headsFirstAttn) };
const call = async (name: string) => {
  const [val, g] = fns[name](arr(host.q), arr(host.k), arr(host.v), arr(host.w));
  return [Number((await val.data())[0]), (await g.data()) as Float32Array] as const;
};
const ref = await call("einsum");
const alt = await call("headsFirst");
let maxDiff = 0;
for (let i = 0; i < ref[1].length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[1][i] - alt[1][i]));
const cpu: Record<string, number[]> = { einsum: [], headsFirst: [] };
for (let r = 0; r < Number(process.env.ROUNDS ?? 8); r++) {
  for (const name of Object.keys(fns)) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < 4; i++) await call(name);
    const c = process.cpuUsage(c0);
    cpu[name].push((c.user + c.system) / 1000 / 4);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of Object.keys(fns)) {
  const prof = await kernelProfile(async () => void (await call(name)));
  console.log(JSON.stringify({ variant: name, threads: info.threads, cpuMsMedian: +median(cpu[name]).toFixed(1), ratioVsEinsum: +(median(cpu.einsum) / median(cpu[name])).toFixed(3), kernels: prof.kernels, kernelMs: +prof.msTotal.toFixed(1), value: name === "einsum" ? ref[0] : alt[0], maxGradDiff: name === "einsum" ? 0 : maxDiff }));
}
process.exit(0);
