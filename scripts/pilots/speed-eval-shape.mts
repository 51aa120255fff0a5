/**
 * Pilot (issue 25, generation routes 4-5): sft-vs-rl's evaluation harness from a trained SFT-init checkpoint at the
 * quick preset, with each round's batch shaped differently (`BatchShape`: the prompt padding bucket, and the tail's
 * padding rows), interleaved in one process, CPU time, one wasm thread. Prints per variant the success counts (the
 * outputs must agree: identical where the RNG stream is untouched) and the CPU-time ratio to the first variant.
 * Usage: TINYFOUNDRY_THREADS=1 node --import tsx scripts/pilots/speed-eval-shape.mts CKPT [EPISODES] [VARIANTS: bucket:tail[:chunk],...] [ROUNDS]
 */
import { initEngine } from "../../src/engine/index.js";
import { initLM, type LMParams } from "../../src/nn/transformer.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup } from "../../src/papers/sft-vs-rl/arms.js";
import { evaluateLM, type BatchShape } from "../../src/papers/sft-vs-rl/rollout.js";
import { episodeSeed } from "../../src/envs/index.js";
import { gpSpec } from "../../src/papers/sft-vs-rl/tasks.js";
import { Rng } from "../../src/util/rng.js";

const [ck, epsArg, varArg, roundsArg] = process.argv.slice(2);
await initEngine();
const cfg = sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const lm = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const n = Number(epsArg ?? 200);
const variants: BatchShape[] = (varArg ?? "128:0,64:0,64:8").split(",").map((v) => {
  const [b, t, c] = v.split(":").map(Number);
  return { prefillBucket: b, tailPad: t, ...(c ? { prefillChunk: c } : {}) };
});
const evalOnce = async (shape: BatchShape) => {
  const out: string[] = [];
  for (const split of ["id", "ood"] as const) {
    const r = await evaluateLM({
      params: lm, cfg: model, tok,
      makeEnv: () => spec.makeEnv(split, spec.ppo.verifyIter),
      seeds: Array.from({ length: n }, (_, i) => episodeSeed(cfg.eval.seed, "general-points", split, i)),
      batch: cfg.eval.batch,
      sampling: { ...spec.sampling, temperature: cfg.eval.temperature },
      rng: Rng.stream(cfg.eval.seed, spec.evalStream(split)),
      firstAnswerTags: spec.answerTags,
      shape,
    });
    out.push(`${split} ${r.successes}/${r.episodes} steps ${r.gradedSteps} reward ${r.meanReward.toFixed(3)}`);
  }
  return out.join("; ");
};
const cpu = variants.map(() => [] as number[]);
const results = variants.map(() => "");
for (const v of variants) await evalOnce(v); // compile every shape first
const rounds = Number(roundsArg ?? 2);
for (let r = 0; r < rounds; r++) {
  for (const [i, v] of variants.entries()) {
    const c0 = process.cpuUsage();
    results[i] = await evalOnce(v);
    const c = process.cpuUsage(c0);
    cpu[i].push((c.user + c.system) / 1000);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [i, v] of variants.entries()) {
  console.log(JSON.stringify({ shape: v, result: results[i], cpuMs: cpu[i].map((x) => Math.round(x)), speedupVsFirst: +(med(cpu[0]) / med(cpu[i])).toFixed(3), peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
}
process.exit(0);
