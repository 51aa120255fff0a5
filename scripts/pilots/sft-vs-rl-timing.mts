// Timing pilot for the GeneralPoints arms' budget (sft-vs-rl, quick): from an SFT-init checkpoint, the wall seconds
// of one evaluation at 500 and at 200 episodes per split, of the KL-to-init estimate, and of PPO updates at the
// quick preset's micro-batch and at a larger one (so the split between evaluation and training is measured).
// Usage: npx tsx scripts/pilots/sft-vs-rl-timing.mts CKPT [UPDATES] [MICRO_BATCHES comma-separated]
import { initEngine } from "../../src/engine/index.js";
import { initLM, type LMParams } from "../../src/nn/transformer.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { createRun } from "../../src/train/run-dir.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup, evaluateSplits, klToInit } from "../../src/papers/sft-vs-rl/arms.js";
import { modelParams } from "../../src/papers/sft-vs-rl/model.js";
import { trainPPO } from "../../src/papers/sft-vs-rl/ppo.js";
import { gpEvalRow, gpSpec } from "../../src/papers/sft-vs-rl/tasks.js";
const [ck, updatesArg, mbArg] = process.argv.slice(2);
await initEngine();
const cfg = sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const lm = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const f = (x: number) => (100 * x).toFixed(1);
const time = async <T,>(label: string, fn: () => Promise<T>): Promise<T> => {
  const t = Date.now();
  const r = await fn();
  console.log(`${label}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  return r;
};
for (const eps of [200, 500]) {
  const row = gpEvalRow((await time(`eval ${eps} episodes per split`, () => evaluateSplits(lm, model, tok, cfg, { episodes: eps }))) as never);
  console.log(`  ID ${f(row.idSuccess)} OOD ${f(row.oodSuccess)}`);
}
await time(`eval 500 ID episodes at T ${cfg.sampling.temperature}`, () => evaluateSplits(lm, model, tok, cfg, { episodes: 500, splits: ["id"], temperature: cfg.sampling.temperature }));
await time("KL to init, 128 prompts", () => klToInit(lm, lm, model, tok, cfg, spec, 128, { temperature: spec.sampling.temperature }));
const updates = +(updatesArg ?? 3);
for (const mb of (mbArg ?? `${cfg.ppo.microBatch}`).split(",").map(Number)) {
  const ppo = { ...cfg.ppo, microBatch: mb };
  const run = createRun({ experiment: "pilot", seed: 0, config: cfg, root: "runs/pilots" });
  const t0 = Date.now();
  let last = t0;
  await trainPPO({
    run, ppo, sampling: cfg.sampling, model, tok, nParams: modelParams(lm), seed: 0, updates, initLm: lm,
    makeEnv: () => spec.makeEnv("id", ppo.verifyIter),
    evalEvery: 1000,
    onProgress: (e) => {
      if (e.kind !== "step") return;
      console.log(`  microBatch ${mb}: update ${e.step} ${((Date.now() - last) / 1000).toFixed(1)} s`);
      last = Date.now();
    },
  });
  console.log(`microBatch ${mb}: ${updates} updates ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
process.exit(0);
