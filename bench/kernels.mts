/**
 * Per-kernel profile of the reference training step (bench/ref-step.ts's model and optimiser), one
 * wasm thread: kernels grouped by expression, ms per step, GFLOP/s for reductions (2·size·k per
 * call: exact for matmuls), calls per step, output size, reduction. Not part of `npm run bench`.
 *
 *   TINYFOUNDRY_THREADS=1 npx tsx bench/kernels.mts        (TOP=n rows, WIDTH=n characters)
 */
import { initEngine, np, crossEntropy, type Array } from "../src/engine/index.js";
import * as jax from "@jax-js/jax";
import { defaultLMConfig, initLM, lmForward, type LMParams } from "../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../src/optim/adamw.js";
import { makeTrainStep } from "../src/train/step.js";
import { Rng } from "../src/util/rng.js";
await initEngine();
const cfg = { ...defaultLMConfig }; const B = 16; const T = cfg.contextLength;
let params = initLM(cfg, 0); let opt = adamwInit(params);
const { step } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
const rng = new Rng(0, "bench");
const batch = () => [np.array(Int32Array.from({ length: B * T }, () => rng.int(256)), { dtype: np.int32 }).reshape([B, T]), np.array(Int32Array.from({ length: B * T }, () => rng.int(256)), { dtype: np.int32 }).reshape([B, T])];
const run = async (i: number) => { const o = step(params, opt, batch(), 1e-3, i); params = o.params; opt = o.opt; await o.loss.data(); o.gradNorm.dispose(); };
for (let i = 1; i <= 4; i++) await run(i);
const agg = new Map<string, { n: number; ms: number; exp: string; size: string; red: string }>();
for (let r = 0; r < 3; r++) {
  performance.clearMeasures();
  jax.profiler.startTrace();
  await run(10 + r);
  jax.profiler.stopTrace();
  type Measure = { name: string; duration: number; detail?: { devtools?: { trackGroup?: string; properties?: [string, string][] } } };
  for (const m of performance.getEntriesByType("measure") as unknown as Measure[]) {
    if (m.detail?.devtools?.trackGroup !== "JAX Profiler") continue;
    const p = Object.fromEntries(m.detail?.devtools?.properties ?? []);
    const key = m.name.startsWith("Kernel[") ? `${p.size ?? ""}|${p.reduction ?? ""}|${(p.exp ?? "")}` : m.name;
    const e = agg.get(key) ?? { n: 0, ms: 0, exp: p.exp ?? m.name, size: String(p.size ?? ""), red: String(p.reduction ?? "") };
    e.n++; e.ms += m.duration; agg.set(key, e);
  }
}
const rows = [...agg.values()].sort((a, b) => b.ms - a.ms);
const tot = rows.reduce((s, e) => s + e.ms, 0);
console.log("total ms/step", (tot / 3).toFixed(1), "entries/step", rows.reduce((s, e) => s + e.n, 0) / 3);
for (const e of rows.slice(0, Number(process.env.TOP ?? 40)))
  console.log((e.ms / 3).toFixed(2).padStart(7), e.red ? (2 * Number(e.size) * Number(e.red.split(":")[1]) * e.n / e.ms / 1e6).toFixed(1).padStart(5) : "    -", String(e.n / 3).padStart(4), e.size.padStart(8), e.red.padEnd(10), e.exp.replace(/\$gidx:int32/g, "g").replace(/\$ridx:int32/g, "r").slice(0, Number(process.env.WIDTH ?? 200)));
process.exit(0);
