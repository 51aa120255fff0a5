/**
 * `npm run bench`: prints one JSON line per figure. The reference step runs in child processes
 * (the wasm thread count is fixed when the engine starts): 1 thread, 2 threads, and PyTorch CPU
 * when Debian's python3-torch is present; ratios are against figures measured in this same run.
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

type StepResult = { threads: number; workers?: boolean; msPerStep: number; tokensPerSec: number; matmulGflops?: number; firstLosses?: number[] };

/** How the 2-thread pool is wired: the default, and the two steps back to jax-js's own pool. */
const WIRINGS = {
  default: { TINYFOUNDRY_INLINE_WORKER: "1", TINYFOUNDRY_WORKER_CHANNEL: "shared" },
  message: { TINYFOUNDRY_INLINE_WORKER: "1", TINYFOUNDRY_WORKER_CHANNEL: "message" },
  plain: { TINYFOUNDRY_INLINE_WORKER: "0", TINYFOUNDRY_WORKER_CHANNEL: "message" },
} as const;

function childStep(threads: number, wiring: keyof typeof WIRINGS = "default"): StepResult {
  const out = execFileSync(process.execPath, ["--import", "tsx", join(here, "ref-step.ts")], {
    env: { ...process.env, TINYFOUNDRY_THREADS: String(threads), ...WIRINGS[wiring] },
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop()!) as StepResult;
}

function torchStep(threads: number): StepResult | { skipped: string } {
  const py = ["/usr/bin/python3", "python3"].find((p) => p === "python3" || existsSync(p))!;
  try {
    const out = execFileSync(py, [join(here, "torch_ref.py"), String(threads)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return JSON.parse(out.trim().split("\n").pop()!) as StepResult | { skipped: string };
  } catch (e) {
    return { skipped: `python3 failed: ${String((e as Error).message).split("\n")[0]}` };
  }
}

if (want("ref-step")) {
  const one = childStep(1);
  // 2 threads: the default wiring (first worker inline, shared-memory channel to the other), the
  // plain postMessage channel, and jax-js's own pool (no inline worker); interleaved, medians of 3.
  const runs = [0, 1, 2].map(() => ({ default: childStep(2, "default"), message: childStep(2, "message"), plain: childStep(2, "plain") }));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const pick = (rs: StepResult[]) => rs.find((r) => r.msPerStep === median(rs.map((x) => x.msPerStep)))!;
  const two = pick(runs.map((r) => r.default));
  const twoMessage = pick(runs.map((r) => r.message));
  const twoPlain = pick(runs.map((r) => r.plain));
  print({ bench: "ref-step", metric: "tokens/s", value: one.tokensPerSec, unit: "tokens/s", threads: 1, msPerStep: one.msPerStep });
  print({ bench: "ref-step", metric: "tokens/s", value: two.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: two.msPerStep, baseline: "jax-js 1 thread", ratio: two.tokensPerSec / one.tokensPerSec, note: "median of 3" });
  print({ bench: "ref-step", metric: "tokens/s", value: twoMessage.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: twoMessage.msPerStep, channel: "postMessage", baseline: "jax-js 2 threads, default wiring", ratio: twoMessage.tokensPerSec / two.tokensPerSec, note: "median of 3, interleaved" });
  print({ bench: "ref-step", metric: "tokens/s", value: twoPlain.tokensPerSec, unit: "tokens/s", threads: 2, msPerStep: twoPlain.msPerStep, channel: "postMessage", inlineWorker: "off", baseline: "jax-js 2 threads, default wiring", ratio: twoPlain.tokensPerSec / two.tokensPerSec, note: "median of 3, interleaved" });
  print({ bench: "matmul", metric: "GFLOP/s", value: one.matmulGflops ?? NaN, unit: "GFLOP/s", threads: 1, shape: "512x512x512" });
  print({ bench: "matmul", metric: "GFLOP/s", value: two.matmulGflops ?? NaN, unit: "GFLOP/s", threads: 2, shape: "512x512x512", baseline: "1 thread", ratio: (two.matmulGflops ?? NaN) / (one.matmulGflops ?? NaN) });
  for (const th of [1, 2]) {
    const t = torchStep(th);
    if ("skipped" in t) {
      print({ bench: "ref-step-pytorch", metric: "skipped", value: NaN, unit: "", threads: th, reason: t.skipped });
      break;
    }
    const ours = th === 1 ? one : two;
    print({ bench: "ref-step-pytorch", metric: "tokens/s", value: t.tokensPerSec, unit: "tokens/s", threads: th, msPerStep: t.msPerStep, baseline: `jax-js ${th} thread(s)`, ratio: t.tokensPerSec / ours.tokensPerSec });
  }
}

// Paper benchmarks: bench/<paper>.ts exporting `bench`.
for (const f of readdirSync(here).sort()) {
  if (!f.endsWith(".ts") || ["run.ts", "types.ts", "ref-step.ts"].includes(f) || f.endsWith(".test.ts")) continue;
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
