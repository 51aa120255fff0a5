/**
 * `npm run bench`: prints one JSON line per figure. The reference step and the generation bench
 * run in child processes (the wasm thread count is fixed when the engine starts): 1 thread,
 * 2 threads, and PyTorch CPU when Debian's python3-torch is present, in interleaved rounds
 * (BENCH_ROUNDS, default 3); ratios are against figures measured in this same run.
 * `npm run bench -- ref-step generate` runs only those; `--readme README.md` writes the table.
 * Paper modules contribute `bench/<paper>.ts` files exporting `bench: BenchFn`.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchFigure, BenchFn } from "./types.js";
import { machineInfo } from "../src/train/run-dir.js";
import { fmt } from "../src/report/document.js";
import { injectResultsFile } from "../src/report/readme.js";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const ri = args.indexOf("--readme");
const readme = ri >= 0 ? args.splice(ri, 2)[1] : null;
const only = args;
const want = (name: string) => only.length === 0 || only.includes(name);
const figures: BenchFigure[] = [];
const print = (f: BenchFigure) => {
  figures.push(f);
  console.log(JSON.stringify(f));
};

type StepResult = {
  threads: number;
  workers?: boolean;
  msPerStep: number;
  cpuMsPerStep?: number;
  tokensPerSec: number;
  matmulGflops?: number;
  firstLosses?: number[];
  dispatchesPerStep?: number;
  kernelsPerStep?: number;
  matmulKernelsPerStep?: number;
  matmulShare?: number | null;
  peakRssMB?: number;
  memory?: { wasmMB: number; heapTotalMB: number; wasmModules: number };
};
type GenResult = { threads: number; msPerCall: number; tokensPerSec: number; peakRssMB?: number; batch: number; promptTokens: number; newTokens: number };
type Skipped = { skipped: string };

/**
 * How the 2-thread pool is wired: the default, the default with the main thread waiting for every chunk's worker
 * thread (no claim of unstarted chunks), the two steps back to jax-js's own pool, and the default without FMA.
 */
const WIRINGS = {
  default: { TINYFOUNDRY_INLINE_WORKER: "1", TINYFOUNDRY_WORKER_CHANNEL: "shared" },
  wait: { TINYFOUNDRY_INLINE_WORKER: "1", TINYFOUNDRY_WORKER_CHANNEL: "shared", TINYFOUNDRY_CHUNK_CLAIM: "0" },
  message: { TINYFOUNDRY_INLINE_WORKER: "1", TINYFOUNDRY_WORKER_CHANNEL: "message" },
  plain: { TINYFOUNDRY_INLINE_WORKER: "0", TINYFOUNDRY_WORKER_CHANNEL: "message" },
  /** The default wiring without relaxed SIMD (no fused multiply-add in the matmuls). */
  noFma: { TINYFOUNDRY_INLINE_WORKER: "1", TINYFOUNDRY_WORKER_CHANNEL: "shared", TINYFOUNDRY_RELAXED_SIMD: "0" },
} as const;

function child<T>(script: string, threads: number, wiring: keyof typeof WIRINGS = "default"): T {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(here, script)], {
    env: { ...process.env, TINYFOUNDRY_THREADS: String(threads), ...WIRINGS[wiring] },
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}
const childStep = (threads: number, wiring: keyof typeof WIRINGS = "default") => child<StepResult>("ref-step.ts", threads, wiring);

function torchRun<T>(threads: number, mode?: "generate"): T | Skipped {
  const py = ["/usr/bin/python3", "python3"].find((p) => p === "python3" || existsSync(p))!;
  try {
    const out = execFileSync(py, [join(here, "torch_ref.py"), String(threads), ...(mode ? [mode] : [])], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return JSON.parse(out.trim().split("\n").pop()!) as T | Skipped;
  } catch (e) {
    return { skipped: `python3 failed: ${String((e as Error).message).split("\n")[0]}` };
  }
}
const isSkipped = (r: unknown): r is Skipped => typeof r === "object" && r !== null && "skipped" in r;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The run whose `key` is the median of the runs (odd counts: a real run, so its other fields belong to it). */
function pick<T extends Record<K, number>, K extends string>(rs: T[], key: K): T {
  const m = median(rs.map((r) => r[key]));
  return rs.find((r) => r[key] === m)!;
}
/**
 * The reference step as one esbuild bundle (jax-js included, imports in source order), run by plain
 * node: what an installed, built tinyfoundry runs. Under tsx, a step's process also holds tsx's
 * loader thread and transpiler (about 40-65 MB of the peak RSS measured there). Null if esbuild
 * (a devDependency) is missing.
 */
async function bundledRefStep(): Promise<string | null> {
  try {
    const { build } = await import("esbuild");
    // Inside the repository (runs/ is gitignored), so the bundle finds node_modules as src/ does.
    const outfile = join(here, "..", "runs", "bench", "ref-step.mjs");
    await build({ entryPoints: [join(here, "ref-step.ts")], outfile, bundle: true, format: "esm", platform: "node", target: "node20", external: ["webgpu"], logLevel: "error" });
    return outfile;
  } catch {
    return null;
  }
}
function bundledStep(file: string, threads: number): StepResult {
  const out = execFileSync(process.execPath, [file], { env: { ...process.env, TINYFOUNDRY_THREADS: String(threads), BENCH_STEPS: "8", ...WIRINGS.default }, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!) as StepResult;
}

/** PyTorch's runs of every round, or the first skip. */
function torchSeries<T>(rounds: (T | Skipped)[]): T[] | Skipped {
  const skip = rounds.find(isSkipped);
  return skip ?? (rounds as T[]);
}

if (want("ref-step")) {
  // Every round runs each configuration once, in turn (jax-js 1 thread; 2 threads with the default
  // wiring, without the chunk claim, the postMessage channel and jax-js's own pool; PyTorch 1 and 2 threads), so a drift of
  // the machine's speed hits all of them alike; each figure is the median of its rounds.
  const runs = Array.from({ length: ROUNDS }, () => ({
    one: childStep(1),
    default: childStep(2, "default"),
    wait: childStep(2, "wait"),
    message: childStep(2, "message"),
    plain: childStep(2, "plain"),
    noFma: childStep(2, "noFma"),
    torch1: torchRun<StepResult>(1),
    torch2: torchRun<StepResult>(2),
  }));
  const note = `median of ${ROUNDS}, interleaved`;
  const one = pick(runs.map((r) => r.one), "msPerStep");
  const two = pick(runs.map((r) => r.default), "msPerStep");
  const twoWait = pick(runs.map((r) => r.wait), "msPerStep");
  const twoMessage = pick(runs.map((r) => r.message), "msPerStep");
  const twoPlain = pick(runs.map((r) => r.plain), "msPerStep");
  const twoNoFma = pick(runs.map((r) => r.noFma), "msPerStep");
  print({ bench: "ref-step", metric: "tokens/s", value: one.tokensPerSec, unit: "tokens/s", threads: 1, msPerStep: one.msPerStep, note });
  print({ bench: "ref-step", metric: "tokens/s", value: two.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: two.msPerStep, baseline: "jax-js 1 thread", ratio: two.tokensPerSec / one.tokensPerSec, note });
  print({ bench: "ref-step", metric: "tokens/s", value: twoWait.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: twoWait.msPerStep, chunkClaim: "off", baseline: "jax-js 2 threads, default wiring", ratio: twoWait.tokensPerSec / two.tokensPerSec, note });
  print({ bench: "ref-step", metric: "tokens/s", value: twoMessage.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: twoMessage.msPerStep, channel: "postMessage", baseline: "jax-js 2 threads, default wiring", ratio: twoMessage.tokensPerSec / two.tokensPerSec, note });
  print({ bench: "ref-step", metric: "tokens/s", value: twoPlain.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: twoPlain.msPerStep, channel: "postMessage", inlineWorker: "off", baseline: "jax-js 2 threads, default wiring", ratio: twoPlain.tokensPerSec / two.tokensPerSec, note });
  // Relaxed SIMD (fused multiply-add) is on by default, on Node 20 too (src/engine/node-shims.ts).
  print({ bench: "ref-step", metric: "tokens/s", value: twoNoFma.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: twoNoFma.msPerStep, relaxedSimd: "off", baseline: "jax-js 2 threads, default (relaxed SIMD on)", ratio: twoNoFma.tokensPerSec / two.tokensPerSec, note });
  // What a step is made of: kernels dispatched per step, and (timed with 1 thread, where a dispatch
  // runs its kernel before returning) the share of kernel time spent in matmuls.
  print({ bench: "ref-step", metric: "kernels/step", value: one.dispatchesPerStep ?? NaN, unit: "dispatches", matmulKernels: one.matmulKernelsPerStep ?? NaN, matmulShare: one.matmulShare ?? NaN, note: "one traced step, 1 thread" });
  // Peak RSS as a built install runs the step (one bundle, plain node), with its parts: jax-js's wasm
  // heap of tensors, the main thread's JS heap, the kernels compiled; and the same under tsx.
  const parts = (r: StepResult) => ({ wasmHeapMB: r.memory?.wasmMB ?? NaN, jsHeapMB: r.memory?.heapTotalMB ?? NaN, wasmModules: r.memory?.wasmModules ?? NaN });
  const bundle = await bundledRefStep();
  for (const [threads, tsxRun] of [[1, one], [2, two]] as const) {
    const built = bundle ? bundledStep(bundle, threads) : null;
    const r = built ?? tsxRun;
    print({ bench: "ref-step", metric: "peak RSS", value: r.peakRssMB ?? NaN, unit: "MB", threads, runtime: built ? "built (bundle, no tsx)" : "tsx", ...parts(r), underTsxMB: tsxRun.peakRssMB ?? NaN });
  }
  const mm1 = median(runs.map((r) => r.one.matmulGflops ?? NaN));
  const mm2 = median(runs.map((r) => r.default.matmulGflops ?? NaN));
  const mm2NoFma = median(runs.map((r) => r.noFma.matmulGflops ?? NaN));
  print({ bench: "matmul", metric: "GFLOP/s", value: mm1, unit: "GFLOP/s", threads: 1, shape: "512x512x512", note });
  print({ bench: "matmul", metric: "GFLOP/s", value: mm2, unit: "GFLOP/s", threads: 2, shape: "512x512x512", baseline: "1 thread", ratio: mm2 / mm1, note });
  print({ bench: "matmul", metric: "GFLOP/s", value: mm2NoFma, unit: "GFLOP/s", threads: 2, shape: "512x512x512", relaxedSimd: "off", baseline: "2 threads, relaxed SIMD on", ratio: mm2NoFma / mm2, note });
  const t1 = torchSeries(runs.map((r) => r.torch1));
  const t2 = torchSeries(runs.map((r) => r.torch2));
  if (isSkipped(t1) || isSkipped(t2)) {
    print({ bench: "ref-step-pytorch", metric: "skipped", value: NaN, unit: "", reason: (isSkipped(t1) ? t1 : (t2 as Skipped)).skipped });
  } else {
    const p1 = pick(t1, "msPerStep");
    const p2 = pick(t2, "msPerStep");
    // PyTorch's rows: its speed over ours at the same thread count (above 1: PyTorch is faster).
    print({ bench: "ref-step-pytorch", metric: "tokens/s", value: p1.tokensPerSec, unit: "tokens/s", threads: 1, msPerStep: p1.msPerStep, baseline: "jax-js 1 thread(s)", ratio: p1.tokensPerSec / one.tokensPerSec, note });
    print({ bench: "ref-step-pytorch", metric: "tokens/s", value: p2.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: p2.msPerStep, baseline: "jax-js 2 thread(s)", ratio: p2.tokensPerSec / two.tokensPerSec, note });
    // The target: ours with 2 threads over PyTorch's best of 1 and 2 threads (at least 1.0x wanted).
    const best = p1.tokensPerSec >= p2.tokensPerSec ? p1 : p2;
    print({ bench: "ref-step-vs-pytorch", metric: "tokens/s", value: two.tokensPerSec, unit: "tokens/s", threads: 2, baseline: `PyTorch best of 1, 2 threads (${best.threads})`, ratio: two.tokensPerSec / best.tokensPerSec, note });
  }
}

if (want("generate")) {
  // The KV-cache sampler (bench/generate.ts) against the same loop in PyTorch, interleaved rounds.
  const runs = Array.from({ length: ROUNDS }, () => ({
    one: child<GenResult>("generate.ts", 1),
    two: child<GenResult>("generate.ts", 2),
    twoWait: child<GenResult>("generate.ts", 2, "wait"),
    torch1: torchRun<GenResult>(1, "generate"),
    torch2: torchRun<GenResult>(2, "generate"),
  }));
  const note = `32 prompts x 64 tokens, 64 new; median of ${ROUNDS}, interleaved`;
  const one = pick(runs.map((r) => r.one), "msPerCall");
  const two = pick(runs.map((r) => r.two), "msPerCall");
  print({ bench: "generate", metric: "new tokens/s", value: one.tokensPerSec, unit: "tokens/s", threads: 1, msPerCall: one.msPerCall, note });
  print({ bench: "generate", metric: "new tokens/s", value: two.tokensPerSec, unit: "tokens/s", threads: 2, msPerCall: two.msPerCall, baseline: "jax-js 1 thread", ratio: two.tokensPerSec / one.tokensPerSec, note });
  const twoWait = pick(runs.map((r) => r.twoWait), "msPerCall");
  print({ bench: "generate", metric: "new tokens/s", value: twoWait.tokensPerSec, unit: "tokens/s", threads: 2, msPerCall: twoWait.msPerCall, chunkClaim: "off", baseline: "jax-js 2 threads, default wiring", ratio: twoWait.tokensPerSec / two.tokensPerSec, note });
  const t1 = torchSeries(runs.map((r) => r.torch1));
  const t2 = torchSeries(runs.map((r) => r.torch2));
  if (isSkipped(t1) || isSkipped(t2)) {
    print({ bench: "generate-pytorch", metric: "skipped", value: NaN, unit: "", reason: (isSkipped(t1) ? t1 : (t2 as Skipped)).skipped });
  } else {
    const p1 = pick(t1, "msPerCall");
    const p2 = pick(t2, "msPerCall");
    const best = p1.tokensPerSec >= p2.tokensPerSec ? p1 : p2;
    const ours = one.tokensPerSec >= two.tokensPerSec ? one : two;
    print({ bench: "generate-pytorch", metric: "new tokens/s", value: p1.tokensPerSec, unit: "tokens/s", threads: 1, msPerCall: p1.msPerCall, note });
    print({ bench: "generate-pytorch", metric: "new tokens/s", value: p2.tokensPerSec, unit: "tokens/s", threads: 2, msPerCall: p2.msPerCall, note });
    print({ bench: "generate-vs-pytorch", metric: "new tokens/s", value: ours.tokensPerSec, unit: "tokens/s", threads: ours.threads, baseline: `PyTorch best of 1, 2 threads (${best.threads})`, ratio: ours.tokensPerSec / best.tokensPerSec, note });
  }
}

// Paper benchmarks: bench/<paper>.ts exporting `bench`.
for (const f of readdirSync(here).sort()) {
  if (!f.endsWith(".ts") || ["run.ts", "types.ts", "ref-step.ts", "generate.ts"].includes(f) || f.endsWith(".test.ts")) continue;
  const name = f.replace(/\.ts$/, "");
  if (!want(name)) continue;
  const mod = (await import(join(here, f))) as { bench?: BenchFn };
  if (!mod.bench) continue;
  for (const fig of await mod.bench()) print(fig);
}
/** A measured figure for the README: 3 significant digits, thousands separated. */
const readable = (v: number) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : Number(v.toPrecision(3)).toString());

if (readme) {
  const meta = machineInfo();
  const rows = figures.map((f) => {
    const extra = Object.entries(f)
      .filter(([k]) => !["bench", "metric", "value", "unit", "baseline", "ratio"].includes(k))
      .map(([k, v]) => `${k}=${typeof v === "number" ? readable(v) : String(v)}`)
      .join(", ");
    return `| ${f.bench} | ${f.metric} | ${Number.isFinite(f.value) ? readable(f.value) : "-"} ${f.unit} | ${f.baseline ?? ""} | ${f.ratio !== undefined ? fmt(f.ratio, 2) + "x" : ""} | ${extra} |`;
  });
  const md = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${meta.cpu}, ${meta.cores} cores, ${meta.memGiB} GiB, Node ${meta.node}, jax-js 0.1.25.`,
    "",
    "| benchmark | metric | value | baseline (same run) | ratio | details |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
  injectResultsFile(readme, md, "bench", "npm run bench -- --readme README.md");
  console.error(`updated ${readme}`);
}
process.exit(0);
