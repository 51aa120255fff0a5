/**
 * The reference training step (GPT, 2 layers, width 128, 4 heads, context 128, batch 16,
 * vocab 256, AdamW; forward + backward + update + reading the loss back), timed in this process
 * with the thread count fixed by TINYFOUNDRY_THREADS. Prints one JSON line. Run by bench/run.ts.
 */
import { memoryParts } from "./wasm-probe.mjs"; // first: it wraps WebAssembly before jax-js loads
import { initEngine, np, jit, kernelProfile, type Array } from "../src/engine/index.js";
import { flopsPerToken } from "../src/nn/transformer.js";
import { refStepSetup } from "./ref-setup.js";

const info = await initEngine();
const ref = refStepSetup();
const { cfg, B, T, step, batch } = ref;
let params = ref.params;
let opt = ref.opt;
const warm = 3;
const n = Number(process.env.BENCH_STEPS ?? 15);
const losses: number[] = [];
let t0 = 0;
let c0 = process.cpuUsage();
const runStep = async (i: number) => {
  const o = step(params, opt, batch(), 1e-3, i);
  params = o.params;
  opt = o.opt;
  losses.push(Number((await o.loss.data())[0]));
  o.gradNorm.dispose();
};
for (let i = 1; i <= warm + n; i++) {
  if (i === warm + 1) {
    t0 = performance.now();
    c0 = process.cpuUsage();
  }
  await runStep(i);
}
const ms = (performance.now() - t0) / n;
const cpu = process.cpuUsage(c0);
// CPU time of every thread of this process per step: on a shared machine it drifts less than
// wall time (it leaves out the time other processes hold the cores), but it counts spin-waits.
const cpuMs = (cpu.user + cpu.system) / 1000 / n;
// One more step under jax-js's kernel trace: how many kernels a step dispatches and, with one
// thread (where a dispatch runs its kernel before returning), the share of time in matmuls.
const prof = await kernelProfile(() => runStep(warm + n + 1));
const peakRssMB = process.resourceUsage().maxRSS / 1024;
// Where that memory goes, after the steps: the wasm heap of tensors, the JS heap, the kernels compiled.
const memory = memoryParts();

// Matmul throughput, same process: [512,512] x [512,512], result reduced so read-back is tiny.
const a = np.ones([512, 512]);
const b = np.ones([512, 512]);
const mm = jit((x: Array, y: Array) => np.matmul(x, y).sum());
for (let i = 0; i < 3; i++) await mm(a.ref, b.ref).data();
const m0 = performance.now();
const reps = 20;
for (let i = 0; i < reps; i++) await mm(a.ref, b.ref).data();
const mmMs = (performance.now() - m0) / reps;

console.log(
  JSON.stringify({
    threads: info.threads,
    workers: info.workers,
    relaxedSimd: info.relaxedSimd,
    jaxPatched: info.jaxPatched,
    node: process.versions.node,
    msPerStep: ms,
    cpuMsPerStep: cpuMs,
    tokensPerSec: (B * T * 1000) / ms,
    flopsPerStep: flopsPerToken(cfg) * B * T,
    matmulGflops: (2 * 512 ** 3) / (mmMs * 1e6),
    firstLosses: losses.slice(0, 3),
    dispatchesPerStep: prof.dispatches,
    kernelsPerStep: prof.kernels,
    matmulKernelsPerStep: prof.matmuls,
    matmulShare: prof.matmulShare,
    peakRssMB,
    memory,
  }),
);
process.exit(0);
