/**
 * Pilot (issue 25, generation routes 2-4): `generate` variants side by side in one process at the bench's shape
 * (reference model, 32 prompts of 64 tokens, 64 new tokens, batched prefill), interleaved rounds with the order
 * alternating. Checks temperature-0 tokens and sampled tokens (same seed) against the first variant and prints CPU
 * ms per call (median), the CPU ratio against the first variant and the median of paired per-round ratios (and the
 * wall-clock ones: with worker threads, CPU time counts the workers' waiting too).
 * Run: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-generate-ab.mts 'old={"kvGrow":false}' 'new={}'
 * (each argument label=JSON of SampleOptions; env B, P, N, ROUNDS, POS=rope|learned, SHAPE=sft).
 */
import { initEngine, kernelProfile } from "../../src/engine/index.js";
import { defaultLMConfig, initLM } from "../../src/nn/transformer.js";
import { generate, type SampleOptions } from "../../src/nn/generate.js";
import { Rng } from "../../src/util/rng.js";

const info = await initEngine();
// SHAPE=sft: sft-vs-rl's policy (context 256, RMSNorm, RoPE) as its rollouts call generate (prompts padded to 128,
// prefill chunks of 16, 32 new tokens; B 64 by default).
const sft = process.env.SHAPE === "sft";
const cfg = sft
  ? { ...defaultLMConfig, contextLength: 256, norm: "rms" as const, pos: "rope" as const }
  : { ...defaultLMConfig, pos: (process.env.POS ?? defaultLMConfig.pos) as "rope" | "learned" };
const extra: Partial<SampleOptions> = sft ? { prefillBucket: 128, prefillChunk: 16 } : {};
const B = Number(process.env.B ?? (sft ? 64 : 32));
const P = Number(process.env.P ?? (sft ? 100 : 64));
const N = Number(process.env.N ?? (sft ? 32 : 64));
const params = initLM(cfg, 0);
const rng = new Rng(0, "pilot-generate");
const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(cfg.vocabSize)));
const variants = process.argv.slice(2).map((a) => ({ label: a.slice(0, a.indexOf("=")), opts: JSON.parse(a.slice(a.indexOf("=") + 1)) as Partial<SampleOptions> }));
const run = (i: number, temperature: number) => generate(params, cfg, prompts, { maxNewTokens: N, temperature, rng: new Rng(1, "s"), batchedPrefill: true, ...extra, ...variants[i].opts });
const greedy: string[] = [];
const sampled: string[] = [];
const lps: number[][] = [];
for (const i of variants.keys()) {
  greedy.push(JSON.stringify((await run(i, 0)).tokens));
  const r = await run(i, 1);
  sampled.push(JSON.stringify(r.tokens));
  lps.push(r.logprobs.flat());
}
const cpu = variants.map(() => [] as number[]);
const wall = variants.map(() => [] as number[]);
const rounds = Number(process.env.ROUNDS ?? 5);
for (let r = 0; r < rounds; r++) {
  const order = [...variants.keys()];
  if (r % 2) order.reverse();
  for (const i of order) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(i, 1);
    wall[i].push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu[i].push((c.user + c.system) / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [i, v] of variants.entries()) {
  const prof = await kernelProfile(async () => void (await run(i, 1)));
  console.log(
    JSON.stringify({
      variant: v.label,
      threads: info.threads,
      greedyTokensIdentical: greedy[i] === greedy[0],
      sampledTokensIdentical: sampled[i] === sampled[0],
      maxLogprobDiff: Math.max(...lps[i].map((x, j) => Math.abs(x - lps[0][j]))),
      cpuMsMedian: +median(cpu[i]).toFixed(0),
      speedupCpu: +(median(cpu[0]) / median(cpu[i])).toFixed(3),
      pairedMedian: +median(cpu[i].map((x, r) => cpu[0][r] / x)).toFixed(3),
      pairedRange: [Math.min(...cpu[i].map((x, r) => cpu[0][r] / x)), Math.max(...cpu[i].map((x, r) => cpu[0][r] / x))].map((x) => +x.toFixed(3)),
      wallMsMedian: +median(wall[i]).toFixed(0),
      wallPairedMedian: +median(wall[i].map((x, r) => wall[0][r] / x)).toFixed(3),
      kernelsPerCall: prof.kernels,
      kernelMs: +prof.msTotal.toFixed(0),
      cpuMs: cpu[i].map((x) => Math.round(x)),
    }),
  );
}
process.exit(0);
