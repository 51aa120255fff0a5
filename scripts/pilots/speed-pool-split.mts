/**
 * Pilot (issue 25, the worker pool): A/B of how the reference step's kernels are spread over 2 wasm threads, every
 * variant in one process, interleaved. The installed jax-js decides per dispatch: a kernel whose work (outputs ×
 * reduction length) is at most patch edit 12's threshold (65,536) runs on the main thread; a larger one is split by
 * output range into min(threads, ceil(outputs / 512)) chunks (tiled matmuls: their own minimum), so a reduction with
 * few outputs and a long reduction (a bias or norm-gain gradient: 128 outputs × 2,048 rows) runs on one thread. The
 * pilot runs itself on a temporary copy of the installed jax-js where both rules read globals, and a variant sets them:
 *
 *   label=THRESHOLD,SPLIT[,CLAIM]
 *                           THRESHOLD: main-thread work limit (edit 12's 65,536; 0 sends every kernel to the pool);
 *                           SPLIT: a kernel with at least this much work is split into as many chunks as the
 *                           threads and its chunk alignment allow, whatever its output count (0: jax-js's rule);
 *                           CLAIM: 1 (default) lets the main thread run a worker's chunk that the worker has not
 *                           started (src/engine/node-shims.ts, setChunkClaim), 0 waits for the worker as before.
 *
 * Each variant first runs 3 steps from the same initial parameters and batches, and its losses must equal the first
 * variant's bit for bit; then rounds of STEPS steps per variant, the variant order reversed every other round.
 * Prints per variant the median wall and CPU ms per step and the paired wall ratios against the first variant
 * (above 1: faster than it). List the first variant twice for an A/A control.
 *
 * Run: TINYFOUNDRY_THREADS=2 node --import tsx scripts/pilots/speed-pool-split.mts A=65536,0 A2=65536,0 split=65536,131072
 * (env ROUNDS, default 6; STEPS, default 4)
 */
import { execFileSync } from "node:child_process";
import { patchedJaxCopy } from "./jax-copy.mjs";
import { fileURLToPath } from "node:url";

/** Text edits that make the copy's two rules read globals (each must match once). */
const SWITCHES: [string, string][] = [
  ["if (work <= MAIN_THREAD_MAX_WORK) return", "if (work <= (globalThis.__tfMainThreadWork ?? MAIN_THREAD_MAX_WORK)) return"],
  [
    "\t\treturn this.#enqueue(() => this.#dispatchNow(kernelHash, module, ptrs, size, chunkAlignment, minWorkPerWorker));\n\t}",
    "\t\treturn this.#enqueue(() => this.#dispatchNow(kernelHash, module, ptrs, size, chunkAlignment, minWorkPerWorker, work));\n\t}",
  ],
  [
    "\tasync #dispatchNow(kernelHash, module, ptrs, size, chunkAlignment, minWorkPerWorker) {\n\t\tif (size === 0) return;\n\t\tconst n = Math.min(this.#workers.length, Math.ceil(size / minWorkPerWorker));",
    [
      "\tasync #dispatchNow(kernelHash, module, ptrs, size, chunkAlignment, minWorkPerWorker, work) {",
      "\t\tif (size === 0) return;",
      "\t\tconst split = globalThis.__tfSplitWork;",
      "\t\tconst n = split && work >= split ? Math.min(this.#workers.length, Math.ceil(size / chunkAlignment)) : Math.min(this.#workers.length, Math.ceil(size / minWorkPerWorker));",
    ].join("\n"),
  ],
];

if (process.env.PILOT_POOL_SPLIT === undefined) {
  const { dir, hook } = patchedJaxCopy("tf-pilot-split-", SWITCHES);
  execFileSync(process.execPath, ["--import", "tsx", "--import", hook, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    env: { ...process.env, PILOT_POOL_SPLIT: dir },
    stdio: "inherit",
  });
  process.exit(0);
}

const { initEngine, np, crossEntropy } = await import("../../src/engine/index.js");
const { defaultLMConfig, initLM, lmForward } = await import("../../src/nn/transformer.js");
const { adamwInit, defaultAdamW, defaultDecayMask } = await import("../../src/optim/adamw.js");
const { makeTrainStep } = await import("../../src/train/step.js");
const { Rng } = await import("../../src/util/rng.js");
const { blockUntilReady } = await import("@jax-js/jax");
const { setChunkClaim } = await import("../../src/engine/node-shims.js");
type Arr = ReturnType<typeof np.array>;
const info = await initEngine();
const variants = process.argv.slice(2).map((a) => {
  const [label, spec] = a.split("=");
  const [threshold, split, claim = 1] = spec.split(",").map(Number);
  return { label, threshold, split, claim: claim !== 0 };
});
if (variants.length < 2) throw new Error("give at least two variants, label=THRESHOLD,SPLIT");
const g = globalThis as { __tfMainThreadWork?: number; __tfSplitWork?: number };
const use = (v: (typeof variants)[number]) => {
  g.__tfMainThreadWork = v.threshold;
  g.__tfSplitWork = v.split || undefined;
  setChunkClaim(v.claim);
};
const cfg = { ...defaultLMConfig };
const B = 16;
const T = cfg.contextLength;
const { step } = makeTrainStep((p: ReturnType<typeof initLM>, x: Arr, y: Arr) => crossEntropy(lmForward(p, cfg, x).logits, y), {
  adamw: defaultAdamW,
  clip: 1,
  decayMask: defaultDecayMask(initLM(cfg, 0)),
});
let params = initLM(cfg, 0);
let opt = adamwInit(params);
let rng = new Rng(0, "bench");
const batch = () => [
  np.array(Int32Array.from({ length: B * T }, () => rng.int(256)), { dtype: np.int32 }).reshape([B, T]),
  np.array(Int32Array.from({ length: B * T }, () => rng.int(256)), { dtype: np.int32 }).reshape([B, T]),
];
let stepNo = 1;
const run = async (): Promise<number> => {
  const o = step(params, opt, batch(), 1e-3, stepNo++);
  params = o.params;
  opt = o.opt;
  const loss = (await o.loss.data())[0];
  o.gradNorm.dispose();
  // The loss read waits for the forward pass only; the backward pass and the update finish here.
  await blockUntilReady([params, opt]);
  return loss;
};
// Losses: 3 steps per variant from the same start; float32 bits must match the first variant's.
const lossBits: string[] = [];
for (const v of variants) {
  use(v);
  params = initLM(cfg, 0);
  opt = adamwInit(params);
  rng = new Rng(0, "bench");
  stepNo = 1;
  const ls: number[] = [];
  for (let i = 0; i < 3; i++) ls.push(await run());
  const bits = Array.from(new Uint32Array(Float32Array.from(ls).buffer), (b) => b.toString(16)).join(" ");
  lossBits.push(bits);
  console.error(`${v.label}: losses ${ls.map((x) => x.toFixed(7)).join(" ")} (${bits})${bits === lossBits[0] ? "" : "  DIFFERENT"}`);
}
const rounds = Number(process.env.ROUNDS ?? 6);
const steps = Number(process.env.STEPS ?? 4);
const wall = new Map<string, number[]>(variants.map((v) => [v.label, []]));
const cpu = new Map<string, number[]>(variants.map((v) => [v.label, []]));
for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 ? [...variants].reverse() : variants) {
    use(v);
    await run(); // one untimed step after the switch
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) await run();
    const c = process.cpuUsage(c0);
    wall.get(v.label)!.push((performance.now() - t0) / steps);
    cpu.get(v.label)!.push((c.user + c.system) / 1000 / steps);
  }
  console.error(`round ${r + 1}: ${variants.map((v) => `${v.label} ${wall.get(v.label)![r].toFixed(1)}`).join(", ")} ms/step`);
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const base = variants[0].label;
for (const v of variants) {
  const paired = wall.get(v.label)!.map((w, i) => wall.get(base)![i] / w);
  console.log(
    JSON.stringify({
      variant: v.label,
      threads: info.threads,
      threshold: v.threshold,
      split: v.split,
      claim: v.claim,
      rounds,
      steps,
      wallMsMedian: Number(median(wall.get(v.label)!).toFixed(1)),
      cpuMsMedian: Number(median(cpu.get(v.label)!).toFixed(1)),
      pairedWallVsFirst: paired.map((x) => Number(x.toFixed(3))),
      pairedWallMedian: Number(median(paired).toFixed(3)),
      lossesIdentical: lossBits[variants.indexOf(v)] === lossBits[0],
    }),
  );
}
process.exit(0);
