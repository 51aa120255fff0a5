/**
 * Pilot (issue 25, sixth pass): where the reference step's main-thread time goes outside the kernels. Runs the
 * reference step (bench/ref-step.ts's set-up: GPT 2 × 128, 4 heads, ctx 128, batch 16, AdamW) and records a V8 CPU
 * profile (node:inspector) of the timed steps only (after warm-up, so tracing and compilation are left out), then
 * groups self time into wasm kernels, jax-js's JS (by function), our code, GC and the rest. Prints losses (for
 * bit-identity checks), CPU ms per step and the groups.
 *
 * Run: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-main-thread.mts   (env STEPS, default 10; PARTS=1
 * runs fresh processes on timed copies of jax-js instead and splits each step's CPU time into batch, jitted call, read
 * and kernels, for VARIANTS=base,pending in ROUNDS interleaved rounds; PROFILE=0 times without the profiler;
 * PROFILE_OUT=file.cpuprofile keeps the profile)
 */
import { Session } from "node:inspector/promises";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { patchedJaxCopy } from "./jax-copy.mjs";
// @ts-expect-error: a plain .mjs script without type declarations
import { EDITS } from "../patch-jax.mjs";
import { initEngine } from "../../src/engine/index.js";
import { refStepSetup } from "../../bench/ref-setup.js";

// PARTS=1: rerun this script on a copy of jax-js whose synchronous kernel call (1 thread) is timed, and split each
// step's wall time into the batch, the jitted call (tracing-free dispatch of the program: PendingExecutes, arrays),
// the read (submits every kernel: dispatch JS + wasm) and the kernels themselves.
/** Times the synchronous kernel call in CPU time (1 thread), so a step's read splits into kernels and the JS around them. */
const TIMER: [string, string] = [
  "\t\t\t\tfunc(...ptrs, 0, program.workSize);\n\t\t\t}\n\t\t}\n\t\tif (tracing)",
  "\t\t\t\tconst __c0 = process.cpuUsage();\n\t\t\t\tfunc(...ptrs, 0, program.workSize);\n\t\t\t\tconst __c = process.cpuUsage(__c0);\n\t\t\t\tglobalThis.__tfKernelMs += (__c.user + __c.system) / 1000;\n\t\t\t}\n\t\t}\n\t\tif (tracing)",
];
/**
 * Patch edit 14 (scripts/patch-jax.mjs, "shared pending set"): a jit call's outputs share one set of pending executes
 * instead of one copy each. The variants are built from the installed jax-js whether or not it already has the edit:
 * "pending" with it applied, "base" with it undone.
 */
const EDIT14 = (EDITS as { name: string; find: string; replace: string }[]).filter((e) => e.name.startsWith("shared pending set"));
const installedIndex = readFileSync(join(dirname(createRequire(import.meta.url).resolve("@jax-js/jax")), "index.js"), "utf8");
const has14 = EDIT14.every((e) => installedIndex.includes(e.replace));
const PENDING_SHARED: [string, string, "index"][] = has14 ? [] : EDIT14.map((e) => [e.find, e.replace, "index"]);
const PENDING_UNDONE: [string, string, "index"][] = has14 ? EDIT14.map((e) => [e.replace, e.find, "index"]) : [];
type Parts = { batch: number; call: number; read: number; kernels: number };
type ChildOut = { msPerStep: number; cpuMsPerStep: number; losses: string[]; parts?: Parts };
// PARTS=1: interleaved rounds of fresh processes, each on a copy of jax-js whose kernel calls are timed (1 thread), for
// the variants in VARIANTS (comma-separated: base; pending = PENDING_SHARED, patch edit 14),
// ROUNDS rounds with the order reversed every other round. Prints per-step parts and paired ratios against the first.
if (process.env.PARTS === "1" && process.env.PILOT_MAIN_CHILD === undefined) {
  const names = (process.env.VARIANTS ?? "base").split(",");
  const hooks = new Map<string, string>();
  const hookFor = (v: string) => {
    if (v !== "base" && v !== "pending") throw new Error(`VARIANTS: expected "base" or "pending", got ${JSON.stringify(v)}`);
    const key = v;
    if (!hooks.has(key)) hooks.set(key, patchedJaxCopy("tf-pilot-main-", key === "pending" ? [TIMER, ...PENDING_SHARED] : [TIMER, ...PENDING_UNDONE]).hook);
    return hooks.get(key)!;
  };
  const outs = new Map<string, ChildOut[]>(names.map((v) => [v, []]));
  const rounds = Number(process.env.ROUNDS ?? 1);
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 ? [...names].reverse() : names) {
      const out = execFileSync(process.execPath, ["--import", "tsx", "--import", hookFor(v), fileURLToPath(import.meta.url)], {
        env: { ...process.env, PILOT_MAIN_CHILD: "1", PROFILE: "0" },
        encoding: "utf8",
      });
      const o = JSON.parse(out.trim().split("\n").pop()!) as ChildOut;
      outs.get(v)!.push(o);
      const p = o.parts!;
      console.log(`round ${r + 1} ${v}: cpu ${o.cpuMsPerStep.toFixed(1)} ms/step, wall ${o.msPerStep.toFixed(1)}; batch ${p.batch.toFixed(2)}, jitted call ${p.call.toFixed(2)}, read ${p.read.toFixed(1)} = kernels ${p.kernels.toFixed(1)} + ${(p.read - p.kernels).toFixed(2)} outside`);
    }
  }
  const base = outs.get(names[0])!;
  for (const v of names) {
    const os = outs.get(v)!;
    const same = os.every((o) => o.losses.join() === base[0].losses.join());
    const ratio = (f: (o: ChildOut) => number) => os.map((o, i) => (f(base[i]) / f(o)).toFixed(3)).join(" ");
    console.log(`${v}: losses ${same ? "identical to" : "DIFFER from"} ${names[0]}; paired ratios ${names[0]}/${v}: cpu ${ratio((o) => o.cpuMsPerStep)}; jitted call ${ratio((o) => o.parts!.call)}; outside kernels ${ratio((o) => o.parts!.call + o.parts!.read - o.parts!.kernels)}`);
  }
  process.exit(0);
}
const parts = { batch: 0, call: 0, read: 0, kernels: 0 };
(globalThis as { __tfKernelMs?: number }).__tfKernelMs = 0;
await initEngine();
const ref = refStepSetup();
const { step, batch } = ref;
let params = ref.params;
let opt = ref.opt;
const losses: number[] = [];
/** CPU ms of this process so far (with 1 thread, the main thread's plus idle helper threads'). */
const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const runStep = async (i: number) => {
  const t0 = cpuNow();
  const k0 = (globalThis as { __tfKernelMs?: number }).__tfKernelMs!;
  const xy = batch();
  const t1 = cpuNow();
  const o = step(params, opt, xy, 1e-3, i);
  const t2 = cpuNow();
  params = o.params;
  opt = o.opt;
  losses.push(Number((await o.loss.data())[0]));
  o.gradNorm.dispose();
  const t3 = cpuNow();
  parts.batch += t1 - t0;
  parts.call += t2 - t1;
  parts.read += t3 - t2;
  parts.kernels += (globalThis as { __tfKernelMs?: number }).__tfKernelMs! - k0;
};
const warm = 3;
const n = Number(process.env.STEPS ?? 10);
for (let i = 1; i <= warm; i++) await runStep(i);
const profile = process.env.PROFILE !== "0";
const session = new Session();
if (profile) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
}
for (const k of Object.keys(parts) as (keyof typeof parts)[]) parts[k] = 0;
const t0 = performance.now();
const c0 = process.cpuUsage();
for (let i = warm + 1; i <= warm + n; i++) await runStep(i);
const ms = (performance.now() - t0) / n;
const cu = process.cpuUsage(c0);
type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
if (profile) {
  const { profile: p } = (await session.post("Profiler.stop")) as unknown as { profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] } };
  if (process.env.PROFILE_OUT) writeFileSync(process.env.PROFILE_OUT, JSON.stringify(p));
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const us = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) us.set(p.samples[i], (us.get(p.samples[i]) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  const group = new Map<string, number>();
  const fn = new Map<string, number>();
  for (const [id, t] of us) {
    const { functionName: f, url, lineNumber } = byId.get(id)!.callFrame;
    const g = url.startsWith("wasm") || /^\$?\d+$|wasm-function/.test(f) ? "wasm kernels" : f.startsWith("(") ? f : url.includes("@jax-js") ? "jax-js JS" : url.includes("/src/") ? "our JS" : url === "" ? "builtins" : "node / other";
    group.set(g, (group.get(g) ?? 0) + t);
    if (g !== "wasm kernels") {
      const k = `${g}: ${f || "(anonymous)"} ${url.split("/").pop()}:${lineNumber + 1}`;
      fn.set(k, (fn.get(k) ?? 0) + t);
    }
  }
  console.log(`profile, ms per step (self time):`);
  for (const [g, t] of [...group].sort((a, b) => b[1] - a[1])) console.log(`  ${(t / 1000 / n).toFixed(2).padStart(8)}  ${g}`);
  console.log(`top functions outside kernels, ms per step:`);
  for (const [k, t] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 40))) console.log(`  ${(t / 1000 / n).toFixed(2).padStart(8)}  ${k}`);
}
const perStep = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v / n]));
console.log(JSON.stringify({ msPerStep: ms, cpuMsPerStep: (cu.user + cu.system) / 1000 / n, losses: losses.map(String), parts: perStep }));
process.exit(0);
