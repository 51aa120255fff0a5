/**
 * Pilot (issue 25, generation route 1): where one `generate` call spends its time at a given shape: kernels per
 * call and their run time (one wasm thread: jax-js runs each kernel before the dispatch returns), host token choice
 * (`chooseToken` over the same logits count), and the rest (dispatch, uploads, jit cache, host bookkeeping).
 * Shapes: bench (reference model, B 32, prompts 64, 64 new) and sft-vs-rl's evaluation / rollout (d 128, 2 layers,
 * context 256, prompts padded to 128, prefill chunks of 16, 48 new tokens at most).
 * Run: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-generate-profile.mts (env SHAPE=bench|eval|rollout,
 * B, P, N; BUCKETS=128,64 also times those prefill buckets interleaved, CPU ms, ROUNDS rounds).
 */
import { initEngine, kernelProfile } from "../../src/engine/index.js";
import { defaultLMConfig, initLM } from "../../src/nn/transformer.js";
import { chooseToken, generate, type SampleOptions } from "../../src/nn/generate.js";
import { Rng } from "../../src/util/rng.js";

await initEngine();
const shape = process.env.SHAPE ?? "bench";
const sft = { ...defaultLMConfig, vocabSize: 256, dModel: 128, nLayers: 2, nHeads: 4, contextLength: 256, norm: "rms" as const, pos: "rope" as const, mlp: "gelu" as const, mlpRatio: 4, tiedHead: true, bias: false };
const cfg = shape === "bench" ? { ...defaultLMConfig } : sft;
const B = Number(process.env.B ?? (shape === "bench" ? 32 : shape === "eval" ? 250 : 64));
const P = Number(process.env.P ?? (shape === "bench" ? 64 : 100));
const N = Number(process.env.N ?? (shape === "bench" ? 64 : 32));
const temperature = shape === "bench" ? 1 : 0.2;
const extra: Partial<SampleOptions> = shape === "bench" ? {} : { prefillBucket: 128, prefillChunk: 16, returnPromptHidden: shape === "rollout" };
const params = initLM(cfg, 0);
const rng = new Rng(0, "pilot");
const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(cfg.vocabSize)));
const run = () => generate(params, cfg, prompts, { maxNewTokens: N, temperature, rng: new Rng(1, "s"), batchedPrefill: true, ...extra });
await run();
const c0 = process.cpuUsage();
const t0 = performance.now();
await run();
const wall = performance.now() - t0;
const cu = process.cpuUsage(c0);
const prof = await kernelProfile(async () => void (await run()));
const prefill = await kernelProfile(async () => void (await generate(params, cfg, prompts, { maxNewTokens: 1, temperature, rng: new Rng(1, "s"), batchedPrefill: true, ...extra })));
// Host token choice for B x N rows of V logits.
const logits = new Float32Array(cfg.vocabSize).map(() => rng.next() * 4);
const h0 = performance.now();
const how = { temperature, topK: 0, topP: 1, rng: new Rng(2, "h") };
for (let i = 0; i < B * N; i++) chooseToken(logits, how);
const hostPick = performance.now() - h0;
console.log(JSON.stringify({ shape, B, P, N, wallMs: +wall.toFixed(0), cpuMs: +((cu.user + cu.system) / 1000).toFixed(0), kernels: prof.kernels, kernelMs: +prof.msTotal.toFixed(0), matmulShare: +prof.matmulShare.toFixed(2), prefillKernels: prefill.kernels, prefillKernelMs: +prefill.msTotal.toFixed(0), kernelsPerToken: +((prof.kernels - prefill.kernels) / (N - 1)).toFixed(1), hostPickMs: +hostPick.toFixed(0), tokPerSec: +((B * N * 1000) / wall).toFixed(0) }));
if (process.env.BUCKETS && shape !== "bench") {
  const buckets = process.env.BUCKETS.split(",").map(Number);
  const cpu = buckets.map(() => [] as number[]);
  const toks = buckets.map(() => "");
  const gen = (bucket: number) => generate(params, cfg, prompts, { maxNewTokens: N, temperature, rng: new Rng(1, "s"), batchedPrefill: true, ...extra, prefillBucket: bucket });
  for (const b of buckets) await gen(b);
  for (let r = 0; r < Number(process.env.ROUNDS ?? 3); r++) {
    for (const [i, b] of buckets.entries()) {
      const c0 = process.cpuUsage();
      toks[i] = JSON.stringify((await gen(b)).tokens);
      const c = process.cpuUsage(c0);
      cpu[i].push((c.user + c.system) / 1000);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [i, b] of buckets.entries()) console.log(JSON.stringify({ shape, bucket: b, cpuMs: cpu[i].map(Math.round), speedupVsFirst: +(med(cpu[0]) / med(cpu[i])).toFixed(3), tokensIdenticalToFirst: toks[i] === toks[0] }));
}
process.exit(0);
