/**
 * Pilot (issue 25, route 2): the KV-cache sampler's decode with the whole cache rewritten each
 * token (`kvRecent: 0`, the earlier sampler) against the two-level cache (K recent slots merged
 * every K tokens), in one process, interleaved rounds, the bench's shape (reference model, 32
 * prompts of 64 tokens, 64 new tokens, batched prefill). Checks that temperature-0 tokens are
 * identical and prints tokens/s (prefill included, as bench/generate.ts counts) and CPU ms.
 * Run: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-generate.mts (env: B, P, N, KV, ROUNDS,
 * CTX, D, LAYERS).
 */
import { initEngine, kernelProfile } from "../../src/engine/index.js";
import { defaultLMConfig, initLM } from "../../src/nn/transformer.js";
import { generate } from "../../src/nn/generate.js";
import { Rng } from "../../src/util/rng.js";

const info = await initEngine();
// CTX/D/LAYERS resize the model (e.g. CTX=256 D=96 LAYERS=3: the sft-vs-rl policy's shape).
const cfg = { ...defaultLMConfig, contextLength: Number(process.env.CTX ?? defaultLMConfig.contextLength), dModel: Number(process.env.D ?? defaultLMConfig.dModel), nLayers: Number(process.env.LAYERS ?? defaultLMConfig.nLayers) };
const B = Number(process.env.B ?? 32);
const P = Number(process.env.P ?? 64);
const N = Number(process.env.N ?? 64);
const params = initLM(cfg, 0);
const rng = new Rng(0, "pilot-generate");
const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(cfg.vocabSize)));
// Each variant: kvRecent, optionally "@capacity" (e.g. "0@256"); without it the default capacity.
const variants = (process.env.KV ?? "0,8,16").split(",");
const parse = (v: string) => {
  const [k, c] = v.split("@");
  return { kvRecent: Number(k), ...(c ? { kvCapacity: Number(c) } : {}) };
};
const run = (K: string, temperature: number) => generate(params, cfg, prompts, { maxNewTokens: N, temperature, rng: new Rng(1, "s"), batchedPrefill: true, ...parse(K) });

const greedy = new Map<string, string>();
for (const K of variants) greedy.set(K, JSON.stringify((await run(K, 0)).tokens));
const same = variants.every((K) => greedy.get(K) === greedy.get(variants[0]));
const sampled = new Map<string, string>();
const lps = new Map<string, number[]>();
for (const K of variants) {
  const r = await run(K, 1);
  sampled.set(K, JSON.stringify(r.tokens));
  lps.set(K, r.logprobs.flat());
}
const lpDiff = (K: string) => Math.max(...lps.get(K)!.map((x, i) => Math.abs(x - lps.get(variants[0])![i])));
const sameSampled = variants.every((K) => sampled.get(K) === sampled.get(variants[0]));
const ms = new Map<string, number[]>(variants.map((K) => [K, []]));
const cpu = new Map<string, number[]>(variants.map((K) => [K, []]));
const rounds = Number(process.env.ROUNDS ?? 5);
for (let r = 0; r < rounds; r++) {
  for (const K of variants) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await run(K, 1);
    ms.get(K)!.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.get(K)!.push((c.user + c.system) / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(cpu.get(variants[0])!);
for (const K of variants) {
  const prof = await kernelProfile(async () => void (await run(K, 1)));
  console.log(
    JSON.stringify({
      kvRecent: K,
      threads: info.threads,
      greedyTokensIdentical: same,
      sampledTokensIdentical: sameSampled,
      maxLogprobDiffVsFirst: lpDiff(K),
      msMedian: +median(ms.get(K)!).toFixed(0),
      cpuMsMedian: +median(cpu.get(K)!).toFixed(0),
      tokensPerSecWall: +((B * N * 1000) / median(ms.get(K)!)).toFixed(0),
      speedupCpuVsFirst: +(base / median(cpu.get(K)!)).toFixed(3),
      kernelsPerCall: prof.kernels,
      kernelMs: +prof.msTotal.toFixed(0),
      ms: ms.get(K)!.map((x) => +x.toFixed(0)),
    }),
  );
}
process.exit(0);
