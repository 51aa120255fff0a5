/**
 * Pilot (issue 25, the worker pool): where the reference step's time goes with 1 and 2 wasm threads, per kernel
 * kind. jax-js's own trace times kernels only with one thread (with a pool a dispatch only queues the kernel), so
 * the pilot runs itself on a temporary copy of the installed (patched) jax-js with two timing hooks added: the
 * pool's queue records, for every job, when it started and ended and how it ran (`main`: on the main thread, patch
 * edit 12's small kernels; `pool1` / `pool2`: split into that many chunks by output range; `routine`), and the
 * 1-thread path times each kernel call. Kernels are matched by their position in the step (the same jit program
 * dispatches the same sequence at both thread counts) and grouped by kind (matmul, other reduction, element-wise,
 * routine) and by how the 2-thread pool ran them. Three configurations, each a fresh process, in rounds with the order
 * reversed every other round: 1 thread; 2 threads waiting for each chunk's worker (TINYFOUNDRY_CHUNK_CLAIM=0); 2 threads
 * by default (the main thread runs a chunk that its worker thread has not started).
 *
 * Run: node --import tsx scripts/pilots/speed-pool-profile.mts   (env ROUNDS, default 3; STEPS per process, 5)
 */
import { execFileSync } from "node:child_process";
import { patchedJaxCopy } from "./jax-copy.mjs";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** One kernel of the step: its kind, how it ran, its output size and reduction, ms (mean over the steps). */
type Row = { kind: string; mode: string; size: number; red: string; exp: string; ms: number };
type ChildOut = { threads: number; stepMs: number[]; rows: Row[]; gapsMs: number; losses: number[] };

/** Text edits that add the timing hooks to a copy of jax-js's backend (each must match once). */
const HOOKS: [string, string][] = [
  [
    "\t#enqueue(job) {\n\t\tthis.#ensureInit();\n\t\tthis.#epochEnd++;\n\t\tconst result = this.#queue.then(job);",
    [
      "\t#enqueue(job) {",
      "\t\tthis.#ensureInit();",
      "\t\tthis.#epochEnd++;",
      "\t\tconst rec = globalThis.__tfTrace, src = globalThis.__tfSrc, mode = globalThis.__tfMode;",
      "\t\tconst result = this.#queue.then(rec ? async () => { const t0 = performance.now(); await job(); rec.push({ src, mode, t0, t1: performance.now() }); } : job);",
    ].join("\n"),
  ],
  [
    "\t\tif (work <= MAIN_THREAD_MAX_WORK) return this.#enqueue(() => {",
    "\t\tglobalThis.__tfMode = work <= MAIN_THREAD_MAX_WORK ? \"main\" : \"pool\" + Math.min(this.#numWorkers, Math.ceil(size / (minWorkPerWorker ?? MIN_ELEMS_PER_THREAD)));\n\t\tif (work <= MAIN_THREAD_MAX_WORK) return this.#enqueue(() => {",
  ],
  ["\tdispatchRoutine(routine, inputs, outputs) {\n", "\tdispatchRoutine(routine, inputs, outputs) {\n\t\tglobalThis.__tfMode = \"routine\";\n"],
  [
    "\t\tif (exe.source instanceof Routine) if (this.#workerPool && !sync) {",
    "\t\tif (globalThis.__tfTrace) globalThis.__tfSrc = exe.source;\n\t\tif (exe.source instanceof Routine) if (this.#workerPool && !sync) {",
  ],
  [
    "\t\t\t\tfunc(...ptrs, 0, program.workSize);\n\t\t\t}\n\t\t}\n\t\tif (tracing)",
    "\t\t\t\tconst t0 = performance.now();\n\t\t\t\tfunc(...ptrs, 0, program.workSize);\n\t\t\t\tglobalThis.__tfTrace?.push({ src: exe.source, mode: \"sync\", t0, t1: performance.now() });\n\t\t\t}\n\t\t}\n\t\tif (tracing)",
  ],
];

if (process.env.PILOT_POOL_CHILD === undefined) {
  const { dir, hook } = patchedJaxCopy("tf-pilot-pool-", HOOKS);
  const rounds = Number(process.env.ROUNDS ?? 3);
  // 1 thread; 2 threads waiting for every chunk's worker (TINYFOUNDRY_CHUNK_CLAIM=0); 2 threads, the default (the main
  // thread runs a chunk its worker has not started).
  const configs = [
    { label: "1 thread", env: { TINYFOUNDRY_THREADS: "1" } },
    { label: "2, wait", env: { TINYFOUNDRY_THREADS: "2", TINYFOUNDRY_CHUNK_CLAIM: "0" } },
    { label: "2, claim", env: { TINYFOUNDRY_THREADS: "2", TINYFOUNDRY_CHUNK_CLAIM: "1" } },
  ];
  const outs: ChildOut[][] = configs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const ci of r % 2 ? [2, 1, 0] : [0, 1, 2]) {
      const out = execFileSync(process.execPath, ["--import", "tsx", "--import", hook, fileURLToPath(import.meta.url)], {
        env: { ...process.env, PILOT_POOL_CHILD: "1", ...configs[ci].env },
        encoding: "utf8",
      });
      const o = JSON.parse(out.trim().split("\n").pop()!) as ChildOut;
      outs[ci].push(o);
      const med = [...o.stepMs].sort((a, b) => a - b)[o.stepMs.length >> 1];
      console.error(`round ${r + 1}, ${configs[ci].label}: ${med.toFixed(1)} ms/step (median of ${o.stepMs.length}), kernels ${o.rows.length}, in kernels ${o.rows.reduce((s, x) => s + x.ms, 0).toFixed(1)} ms, between jobs ${o.gapsMs.toFixed(1)} ms, losses ${o.losses.map((x) => x.toFixed(6)).join(" ")}`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const n = outs[0][0].rows.length;
  if (outs.some((os) => os.some((o) => o.rows.length !== n))) throw new Error("kernel counts differ between runs");
  // Per kernel: median ms over rounds in each configuration; the 2-thread run says how the pool ran it.
  const per = Array.from({ length: n }, (_, i) => ({ ...outs[1][0].rows[i], ms: outs.map((os) => median(os.map((o) => o.rows[i].ms))) }));
  const groups = new Map<string, { n: number; ms: number[] }>();
  for (const k of per) {
    const key = `${k.kind} | ${k.mode}`;
    const g = groups.get(key) ?? { n: 0, ms: configs.map(() => 0) };
    g.n++;
    k.ms.forEach((x, j) => (g.ms[j] += x));
    groups.set(key, g);
  }
  const steps = outs.map((os) => median(os.flatMap((o) => o.stepMs)));
  const gaps = outs.map((os) => median(os.map((o) => o.gapsMs)));
  console.log(`step wall ms (medians): ${configs.map((c, j) => `${c.label} ${steps[j].toFixed(1)}`).join(", ")}; between pool jobs ${configs.map((c, j) => `${c.label} ${gaps[j].toFixed(1)}`).join(", ")}`);
  console.log(`kind | how the 2-thread pool ran it | kernels | ${configs.map((c) => `ms ${c.label}`).join(" | ")}`);
  for (const [key, g] of [...groups].sort((a, b) => b[1].ms[0] - a[1].ms[0])) console.log(`${key} | ${g.n} | ${g.ms.map((x) => x.toFixed(1)).join(" | ")}`);
  const tot = configs.map((_, j) => per.reduce((s, k) => s + k.ms[j], 0));
  console.log(`all kernels | | ${n} | ${tot.map((x) => x.toFixed(1)).join(" | ")}`);
  const top = Number(process.env.TOP ?? 15);
  console.log(`\nlargest single kernels not split over both threads (top ${top}; ms per configuration):`);
  for (const k of per.filter((k) => k.mode !== "pool2").sort((a, b) => b.ms[0] - a.ms[0]).slice(0, top))
    console.log(`${k.ms.map((x) => x.toFixed(3)).join(" / ")} ms  ${k.mode} ${k.kind} size ${k.size} ${k.red} ${k.exp.slice(0, 120)}`);
  writeFileSync(join(dir, "per-kernel.json"), JSON.stringify(per));
  console.error(`per-kernel medians: ${join(dir, "per-kernel.json")}`);
  process.exit(0);
}

// Child: the reference step (bench/ref-step.ts's model and optimiser), STEPS traced steps after 3 untraced.
const { initEngine, np, crossEntropy } = await import("../../src/engine/index.js");
const { isMatmulKernel } = await import("../../src/engine/profile.js");
const { defaultLMConfig, initLM, lmForward } = await import("../../src/nn/transformer.js");
const { adamwInit, defaultAdamW, defaultDecayMask } = await import("../../src/optim/adamw.js");
const { makeTrainStep } = await import("../../src/train/step.js");
const { Rng } = await import("../../src/util/rng.js");
const { blockUntilReady } = await import("@jax-js/jax");
type Arr = ReturnType<typeof np.array>;
const info = await initEngine();
const cfg = { ...defaultLMConfig };
const B = 16;
const T = cfg.contextLength;
let params = initLM(cfg, 0);
let opt = adamwInit(params);
const { step } = makeTrainStep((p: typeof params, x: Arr, y: Arr) => crossEntropy(lmForward(p, cfg, x).logits, y), {
  adamw: defaultAdamW,
  clip: 1,
  decayMask: defaultDecayMask(params),
});
const rng = new Rng(0, "bench");
const batch = () => [
  np.array(Int32Array.from({ length: B * T }, () => rng.int(256)), { dtype: np.int32 }).reshape([B, T]),
  np.array(Int32Array.from({ length: B * T }, () => rng.int(256)), { dtype: np.int32 }).reshape([B, T]),
];
const losses: number[] = [];
const run = async (i: number) => {
  const o = step(params, opt, batch(), 1e-3, i);
  params = o.params;
  opt = o.opt;
  losses.push(Number((await o.loss.data())[0]));
  o.gradNorm.dispose();
  // Reading the loss submits and waits for the forward pass only; the rest of the step would otherwise run when
  // the next step reads its loss. Waiting for the new parameters and moments keeps each step's kernels in its trace.
  await blockUntilReady([params, opt]);
};
for (let i = 1; i <= 3; i++) await run(i);
type Rec = { src: { size?: number; exp?: unknown; reduction?: { op: string; size: number }; name?: string }; mode: string; t0: number; t1: number };
const g = globalThis as { __tfTrace?: Rec[] };
const steps = Number(process.env.STEPS ?? 5);
const stepMs: number[] = [];
let rows: Row[] = [];
let gapsMs = 0;
for (let s = 0; s < steps; s++) {
  const rec: Rec[] = [];
  g.__tfTrace = rec;
  const t0 = performance.now();
  await run(4 + s);
  stepMs.push(performance.now() - t0);
  g.__tfTrace = undefined;
  const these = rec.map((r): Row => {
    const red = r.src.reduction ? `${r.src.reduction.op}:${r.src.reduction.size}` : "";
    const exp = r.src.exp === undefined ? String(r.src.name) : String(r.src.exp);
    const kind =
      r.src.exp === undefined
        ? "routine"
        : isMatmulKernel({ exp, reduction: red })
          ? "matmul"
          : red
            ? (r.src.size ?? 0) < 1024
              ? "reduction, < 1024 outputs"
              : "reduction, >= 1024 outputs"
            : "element-wise";
    return { kind, mode: r.mode, size: r.src.size ?? 0, red, exp, ms: r.t1 - r.t0 };
  });
  for (let i = 1; i < rec.length; i++) gapsMs += Math.max(0, rec[i].t0 - rec[i - 1].t1) / steps;
  if (s === 0) rows = these;
  else {
    if (these.length !== rows.length) throw new Error("kernel count changed between steps");
    these.forEach((r, i) => (rows[i].ms += r.ms));
  }
}
for (const r of rows) r.ms /= steps;
console.log(JSON.stringify({ threads: info.threads, stepMs, rows, gapsMs, losses: losses.slice(0, 4) } satisfies ChildOut));
process.exit(0);
