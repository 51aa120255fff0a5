/**
 * Pilot (issue 25, generation route 1): per-kernel profile of one `generate` call at the bench's shape (reference
 * model, 32 prompts of 64 tokens, 64 new tokens, batched prefill), one wasm thread: kernels grouped by expression and
 * output size, ms per call, calls per call, GFLOP/s for reductions (2·size·k per kernel: exact for matmuls), and the
 * host time outside kernels (dispatch, uploads, jit cache lookups, token choice).
 * Run: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-generate-kernels.mts (env TOP, WIDTH, B, P, N).
 */
import { initEngine } from "../../src/engine/index.js";
import * as jax from "@jax-js/jax";
import { defaultLMConfig, initLM } from "../../src/nn/transformer.js";
import { generate } from "../../src/nn/generate.js";
import { Rng } from "../../src/util/rng.js";

await initEngine();
const cfg = { ...defaultLMConfig };
const B = Number(process.env.B ?? 32);
const P = Number(process.env.P ?? 64);
const N = Number(process.env.N ?? 64);
const params = initLM(cfg, 0);
const rng = new Rng(0, "pilot");
const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(cfg.vocabSize)));
const run = () => generate(params, cfg, prompts, { maxNewTokens: N, temperature: 1, rng: new Rng(1, "s"), batchedPrefill: true });
await run();
await run();
type Measure = { name: string; duration: number; detail?: { devtools?: { trackGroup?: string; properties?: [string, string][] } } };
const agg = new Map<string, { n: number; ms: number; exp: string; size: string; red: string }>();
const R = 3;
let wall = 0;
for (let r = 0; r < R; r++) {
  performance.clearMeasures();
  jax.profiler.startTrace();
  const t0 = performance.now();
  await run();
  wall += performance.now() - t0;
  jax.profiler.stopTrace();
  for (const m of performance.getEntriesByType("measure") as unknown as Measure[]) {
    if (m.detail?.devtools?.trackGroup !== "JAX Profiler") continue;
    const p = Object.fromEntries(m.detail?.devtools?.properties ?? []);
    const key = m.name.startsWith("Kernel[") ? `${p.size ?? ""}|${p.reduction ?? ""}|${p.exp ?? ""}` : m.name;
    const e = agg.get(key) ?? { n: 0, ms: 0, exp: p.exp ?? m.name, size: String(p.size ?? ""), red: String(p.reduction ?? "") };
    e.n++;
    e.ms += m.duration;
    agg.set(key, e);
  }
}
const rows = [...agg.values()].sort((a, b) => b.ms - a.ms);
const tot = rows.reduce((s, e) => s + e.ms, 0);
console.log("wall ms/call", (wall / R).toFixed(1), "kernel ms/call", (tot / R).toFixed(1), "dispatches/call", rows.reduce((s, e) => s + e.n, 0) / R);
for (const e of rows.slice(0, Number(process.env.TOP ?? 60)))
  console.log(
    (e.ms / R).toFixed(2).padStart(7),
    e.red ? ((2 * Number(e.size) * Number(e.red.split(":")[1]) * e.n) / e.ms / 1e6).toFixed(1).padStart(5) : "    -",
    String(e.n / R).padStart(5),
    e.size.padStart(8),
    e.red.padEnd(10),
    e.exp.replace(/\$gidx:int32/g, "g").replace(/\$ridx:int32/g, "r").slice(0, Number(process.env.WIDTH ?? 220)),
  );
process.exit(0);
