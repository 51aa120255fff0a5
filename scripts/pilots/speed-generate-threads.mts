/**
 * Pilot (issue 25, generation with worker threads): `generate` at the bench's shape (reference model, 32 prompts of
 * 64 tokens, 64 new tokens, batched prefill) with patch-jax edit 12's main-thread threshold (a kernel whose work,
 * outputs × reduction length, is at most this runs on the main thread in the pool's queue; 0: every kernel goes
 * through the pool as without the edit) set per variant, interleaved rounds with the order alternating, in one
 * process. The installed jax-js has the threshold as a constant, so the pilot runs itself on a temporary copy of it
 * whose threshold is read from `globalThis.__tfMainThreadWork`. Prints wall and CPU ms per call (medians), the
 * paired wall ratio against the first variant, and whether tokens are identical to the first variant's.
 * Run: TINYFOUNDRY_THREADS=2 node --import tsx scripts/pilots/speed-generate-threads.mts 0 65536 Infinity
 * (a variant THRESHOLD:0 waits for every chunk's worker thread instead of letting the main thread run one it has not
 * started; see node-shims.ts)
 * (env B, P, N, ROUNDS).
 */
import { execFileSync } from "node:child_process";
import { patchedJaxCopy } from "./jax-copy.mjs";
import { fileURLToPath } from "node:url";

if (process.env.PILOT_THRESHOLD_COPY === undefined) {
  // patch-jax edit 12's threshold read from a global
  const { dir, hook } = patchedJaxCopy("tf-pilot-jax-", [["if (work <= MAIN_THREAD_MAX_WORK) return", "if (work <= (globalThis.__tfMainThreadWork ?? MAIN_THREAD_MAX_WORK)) return"]]);
  execFileSync(process.execPath, ["--import", "tsx", "--import", hook, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    env: { ...process.env, PILOT_THRESHOLD_COPY: dir },
    stdio: "inherit",
  });
  process.exit(0);
}
const { initEngine } = await import("../../src/engine/index.js");
const { defaultLMConfig, initLM } = await import("../../src/nn/transformer.js");
const { generate } = await import("../../src/nn/generate.js");
const { Rng } = await import("../../src/util/rng.js");
const info = await initEngine();
const cfg = { ...defaultLMConfig };
const B = Number(process.env.B ?? 32);
const P = Number(process.env.P ?? 64);
const N = Number(process.env.N ?? 64);
const params = initLM(cfg, 0);
const rng = new Rng(0, "pilot-generate");
const prompts = Array.from({ length: B }, () => Array.from({ length: P }, () => rng.int(cfg.vocabSize)));
const g = globalThis as { __tfMainThreadWork?: number };
// A variant is THRESHOLD or THRESHOLD:CLAIM (CLAIM 0: the main thread waits for each chunk's worker; default 1, it runs
// a chunk its worker thread has not started: src/engine/node-shims.ts, setChunkClaim).
const thresholds = process.argv.slice(2).map((a) => Number(a.split(":")[0]));
const claims = process.argv.slice(2).map((a) => a.split(":")[1] !== "0");
const { setChunkClaim } = await import("../../src/engine/node-shims.js");
const run = async (i: number) => {
  g.__tfMainThreadWork = thresholds[i];
  setChunkClaim(claims[i]);
  return generate(params, cfg, prompts, { maxNewTokens: N, temperature: 1, rng: new Rng(1, "s"), batchedPrefill: true });
};
const toks: string[] = [];
for (const i of thresholds.keys()) toks.push(JSON.stringify((await run(i)).tokens));
const wall = thresholds.map(() => [] as number[]);
const cpu = thresholds.map(() => [] as number[]);
for (let r = 0; r < Number(process.env.ROUNDS ?? 5); r++) {
  const order = [...thresholds.keys()];
  if (r % 2) order.reverse();
  for (const i of order) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(i);
    wall[i].push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu[i].push((c.user + c.system) / 1000);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [i, t] of thresholds.entries()) {
  const paired = wall[i].map((x, r) => wall[0][r] / x);
  console.log(
    JSON.stringify({
      threads: info.threads,
      mainThreadWork: Number.isFinite(t) ? t : String(t),
      claim: claims[i],
      tokensIdentical: toks[i] === toks[0],
      wallMsMedian: +median(wall[i]).toFixed(0),
      tokPerSec: Math.round((B * N * 1000) / median(wall[i])),
      wallPairedMedian: +median(paired).toFixed(3),
      wallPairedRange: [Math.min(...paired), Math.max(...paired)].map((x) => +x.toFixed(3)),
      cpuMsMedian: +median(cpu[i]).toFixed(0),
      wallMs: wall[i].map(Math.round),
    }),
  );
}
process.exit(0);
