/**
 * Interleaved A/B comparison of the reference step (bench/ref-step.ts) under different runtimes,
 * flags or environment switches, for a shared machine whose speed drifts: every round runs each
 * variant once, in turn, and the report gives medians and ratios against the first variant.
 * Not part of `npm run bench` (run.ts only loads `.ts` files). Usage:
 *
 *   npx tsx bench/compare.mts --rounds 5 --threads 2 \
 *     'node20=node' 'node20+relaxed=node --experimental-wasm-relaxed-simd' 'node24=/path/to/node'
 *   npx tsx bench/compare.mts 'leafwise=env:TINYFOUNDRY_ADAMW=leaf' 'flat=env:TINYFOUNDRY_ADAMW=flat'
 *
 * A variant is `label=<node binary> [flags...]` or `label=env:K=V[,K=V]` (extra env; the key
 * NODE, if given, names the node binary instead of this one).
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const rounds = Number(opt("--rounds", "3"));
const threads = opt("--threads", "2");
const steps = opt("--steps", "10");
type Variant = { label: string; exec: string; flags: string[]; env: Record<string, string> };
const variants: Variant[] = args.map((a) => {
  const [label, spec] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
  if (spec.startsWith("env:")) {
    const env = Object.fromEntries(spec.slice(4).split(",").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    const { NODE: exec = process.execPath, ...rest } = env;
    return { label, exec, flags: [], env: rest };
  }
  const [exec, ...flags] = spec.split(/\s+/);
  return { label, exec, flags, env: {} };
});
if (variants.length < 2) throw new Error("give at least two variants");

type Out = { msPerStep: number; cpuMsPerStep: number; matmulGflops: number; firstLosses: number[]; [k: string]: unknown };
const runs = new Map<string, Out[]>(variants.map((v) => [v.label, []]));
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const out = execFileSync(v.exec, [...v.flags, "--import", "tsx", join(here, "ref-step.ts")], {
      env: { ...process.env, TINYFOUNDRY_THREADS: threads, BENCH_STEPS: steps, ...v.env },
      encoding: "utf8",
    });
    const o = JSON.parse(out.trim().split("\n").pop()!) as Out;
    runs.get(v.label)!.push(o);
    console.error(`round ${r + 1} ${v.label}: ${o.msPerStep.toFixed(1)} ms/step (cpu ${o.cpuMsPerStep.toFixed(1)}), matmul ${o.matmulGflops.toFixed(1)} GFLOP/s, losses ${o.firstLosses.map((x) => x.toFixed(6)).join(" ")}`);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = variants[0].label;
const med = (l: string, k: "msPerStep" | "cpuMsPerStep" | "matmulGflops") => median(runs.get(l)!.map((o) => o[k]));
for (const v of variants) {
  console.log(
    JSON.stringify({
      variant: v.label,
      threads: Number(threads),
      rounds,
      msPerStepMedian: med(v.label, "msPerStep"),
      stepSpeedVsBase: med(base, "msPerStep") / med(v.label, "msPerStep"),
      cpuMsPerStepMedian: med(v.label, "cpuMsPerStep"),
      cpuSpeedVsBase: med(base, "cpuMsPerStep") / med(v.label, "cpuMsPerStep"),
      pairedCpuRatios: runs.get(v.label)!.map((o, i) => Number((runs.get(base)![i].cpuMsPerStep / o.cpuMsPerStep).toFixed(3))),
      matmulGflopsMedian: med(v.label, "matmulGflops"),
      matmulVsBase: med(v.label, "matmulGflops") / med(base, "matmulGflops"),
      pairedStepRatios: runs.get(v.label)!.map((o, i) => Number((runs.get(base)![i].msPerStep / o.msPerStep).toFixed(3))),
      firstLosses: runs.get(v.label)![0].firstLosses,
    }),
  );
}
