/**
 * Generation throughput of the KV-cache sampler (`generate` with a batched prefill, as PPO
 * rollouts call it): the reference model (GPT 2 × 128, 4 heads, context 128, vocab 256, random
 * weights), 32 prompts of 64 tokens, 64 new tokens each at temperature 1 with no stop token.
 * Counts new tokens per second, prefill included, and the kernels one call dispatches. Prints one JSON line; run by bench/run.ts in a
 * child process (thread count from TINYFOUNDRY_THREADS). PyTorch's twin: `torch_ref.py <threads> generate`.
 */
import { initEngine, kernelProfile } from "../src/engine/index.js";
import { defaultLMConfig, initLM } from "../src/nn/transformer.js";
import { defaultKvRecent, generate } from "../src/nn/generate.js";
import { Rng } from "../src/util/rng.js";

const info = await initEngine();
const cfg = { ...defaultLMConfig };
const B = 32;
const P = 64;
const N = 64;
const params = initLM(cfg, 0);
const rng = new Rng(0, "bench-generate");
const prompts = () => Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(cfg.vocabSize)));
const once = () => generate(params, cfg, prompts(), { maxNewTokens: N, temperature: 1, rng, batchedPrefill: true });
await once(); // compile
const reps = Number(process.env.BENCH_REPS ?? 3);
const times: number[] = [];
for (let i = 0; i < reps; i++) {
  const t0 = performance.now();
  const r = await once();
  times.push(performance.now() - t0);
  if (r.tokens.some((t) => t.length !== N)) throw new Error("generate bench: a row stopped early");
}
times.sort((a, b) => a - b);
// Kernels dispatched per call and per new token after the first (prefill apart: a call with one new token).
const perCall = (await kernelProfile(async () => void (await once()))).kernels;
const prefillOnly = (await kernelProfile(async () => void (await generate(params, cfg, prompts(), { maxNewTokens: 1, temperature: 1, rng, batchedPrefill: true })))).kernels;
const ms = times[Math.floor(times.length / 2)];
console.log(
  JSON.stringify({
    threads: info.threads,
    batch: B,
    promptTokens: P,
    newTokens: N,
    kvRecent: defaultKvRecent(cfg, B),
    kernelsPerCall: perCall,
    kernelsPerToken: +((perCall - prefillOnly) / (N - 1)).toFixed(1),
    msPerCall: ms,
    tokensPerSec: (B * N * 1000) / ms,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  }),
);
process.exit(0);
