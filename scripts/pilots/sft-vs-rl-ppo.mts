// Pilot driver for issue 24 (the README's "How the quick recipe was sized"): a few PPO updates from a checkpoint (the
// SFT init, or stage 0 with NOSFT=1), printing per update the approximate KL, clip fraction, value loss, mean reward,
// the share of rewarded policy calls and of successful rollout episodes; then the experiment's evaluation (both splits,
// cfg.eval.temperature) and ID success sampled at the rollout temperature, at update 0 and after the last update.
// Usage: [EVAL_EVERY=k] [WARMUP=2] npx tsx scripts/pilots/sft-vs-rl-ppo.mts CKPT LR TEMP UPDATES EVAL_EPISODES
import { initEngine } from "../../src/engine/index.js";
import { initLM, type LMParams } from "../../src/nn/transformer.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { createRun } from "../../src/train/run-dir.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup, evaluateSplits } from "../../src/papers/sft-vs-rl/arms.js";
import { modelParams } from "../../src/papers/sft-vs-rl/model.js";
import { trainPPO } from "../../src/papers/sft-vs-rl/ppo.js";
import { gpEvalRow, gpSpec } from "../../src/papers/sft-vs-rl/tasks.js";
const [ck, lr, temp, updates, evalEps] = process.argv.slice(2);
await initEngine();
const q = sftVsRlPresets.quick;
const cfg = { ...q, ppo: { ...q.ppo, lr: +lr, valueWarmupUpdates: +(process.env.WARMUP ?? q.ppo.valueWarmupUpdates) }, sampling: { ...q.sampling, temperature: +temp } };
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const lm = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const run = createRun({ experiment: "pilot", seed: 0, config: cfg, root: "runs/pilots" });
const f = (x: number) => (100 * x).toFixed(1);
const t0 = Date.now();
const every = +(process.env.EVAL_EVERY ?? updates);
await trainPPO({
  run, ppo: cfg.ppo, sampling: cfg.sampling, model, tok, nParams: modelParams(lm), seed: 0, updates: +updates, initLm: lm,
  makeEnv: () => spec.makeEnv("id", cfg.ppo.verifyIter),
  evaluate: async (p, u) => {
    if (!+evalEps) return {};
    const row = gpEvalRow((await evaluateSplits(p, model, tok, cfg, { episodes: +evalEps })) as never);
    const hot = gpEvalRow((await evaluateSplits(p, model, tok, { ...cfg, eval: { ...cfg.eval, temperature: +temp } }, { episodes: +evalEps, splits: ["id"] })) as never);
    console.log(`eval u${u} (${((Date.now() - t0) / 1000).toFixed(0)}s): T${cfg.eval.temperature} ID ${f(row.idSuccess)}±${f(row.idStdErr)} OOD ${f(row.oodSuccess)}±${f(row.oodStdErr)} oodRule ${f(row.oodPromptRule)} | ID at T${temp} ${f(hot.idSuccess)}±${f(hot.idStdErr)}`);
    return { ...row, idHot: hot.idSuccess };
  },
  evalEvery: every,
  onProgress: (e) => { if (e.kind === "step") console.log(`  update ${e.step} done (${((Date.now() - t0) / 1000).toFixed(0)}s)`); },
});
for (const m of run.metrics<Record<string, number>>()) if (m.update > 0) console.log(`u${m.update} lr ${m.lr?.toExponential(1)} kl ${m.approxKL?.toFixed(4)} clip ${m.clipFrac?.toFixed(3)} vloss ${m.valueLoss?.toFixed(3)} reward ${m.meanStepReward?.toFixed(3)} rewardedCalls ${m.rewardedCalls?.toFixed(3)} rolloutSuccess ${m.rolloutSuccess?.toFixed(3)} eps ${m.rolloutEpisodes}`);
console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)}s`);
process.exit(0);
