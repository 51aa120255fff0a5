// Pilot (issue 25): which kernels a whole run spends its time in, to find fusion or codegen pathologies such as the one
// patch-jax edit 15 removes (a reduction that is not a plain matmul, running on jax-js's scalar path). Preloaded into
// any command, it traces every jax-js dispatch (jax.profiler) and every AUDIT_EVERY seconds (default 20) writes to
// AUDIT_OUT (default /tmp/kernel-audit.txt) the kernels grouped by expression, by total time: calls, ms, the
// reduction, whether it is a plain matmul (src/engine/profile.ts), and its GFLOP/s when it is a reduction (2 × outputs
// × reduction length per call). Timings are kernel run times only with one wasm thread (TINYFOUNDRY_THREADS=1).
// Usage: TINYFOUNDRY_THREADS=1 node --import tsx --import ./scripts/pilots/kernel-audit.mts bin/tinyfoundry.js run sft-vs-rl --preset quick --out /tmp/audit
import * as jax from "@jax-js/jax";
import { writeFileSync } from "node:fs";
import { isMatmulKernel } from "../../src/engine/profile.js";

type Measure = { name: string; duration: number; detail?: { devtools?: { trackGroup?: string; properties?: [string, string][] } } };
type Row = { calls: number; ms: number; reduction: string; matmul: boolean; size: number; exp: string };
const rows = new Map<string, Row>();
// "{pid}" in AUDIT_OUT becomes the process id, so child processes (sft-vs-rl's seed children, preloaded through
// NODE_OPTIONS="--import tsx --import ./scripts/pilots/kernel-audit.mts") each write their own file.
const out = (process.env.AUDIT_OUT ?? "/tmp/kernel-audit.txt").replace("{pid}", String(process.pid));
let total = 0;

function drain(): void {
  const entries = (performance.getEntriesByType("measure") as unknown as Measure[]).filter((m) => m.detail?.devtools?.trackGroup === "JAX Profiler");
  performance.clearMeasures();
  for (const m of entries) {
    total += m.duration;
    const props = Object.fromEntries(m.detail?.devtools?.properties ?? []);
    const key = `${m.name} ${props.exp ?? ""} ${props.reduction ?? ""}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { calls: 0, ms: 0, reduction: props.reduction ?? "", matmul: isMatmulKernel(props), size: Number(props.size ?? 0), exp: props.exp ?? m.name }));
    r.calls++;
    r.ms += m.duration;
  }
}

function write(): void {
  drain();
  const sorted = [...rows.values()].sort((a, b) => b.ms - a.ms);
  const top = sorted.slice(0, 40);
  const topMs = top.reduce((a, r) => a + r.ms, 0);
  const lines = top
    .map((r) => {
      const k = r.reduction ? Number(/:(\d+)/.exec(r.reduction)?.[1] ?? 0) : 0;
      const gflops = k > 0 && r.ms > 0 ? (2 * r.size * k * r.calls) / (r.ms * 1e6) : NaN;
      return `${r.ms.toFixed(0).padStart(8)} ms ${((100 * r.ms) / total).toFixed(1).padStart(5)} % ${String(r.calls).padStart(7)} calls ${r.reduction ? (r.matmul ? "matmul   " : "REDUCTION") : "         "} ${Number.isFinite(gflops) ? gflops.toFixed(2).padStart(6) + " GF/s" : "".padStart(11)} size ${r.size} ${r.reduction} | ${r.exp.slice(0, 400)}`;
    });
  const head = `total ${total.toFixed(0)} ms of dispatches, ${sorted.length} distinct kernels; the ${top.length} below take ${((100 * topMs) / Math.max(total, 1e-9)).toFixed(1)} %`;
  writeFileSync(out, `${head}\n${lines.join("\n")}\n`);
}

jax.profiler.startTrace();
setInterval(write, 1000 * Number(process.env.AUDIT_EVERY ?? 20)).unref();
process.on("exit", write);
