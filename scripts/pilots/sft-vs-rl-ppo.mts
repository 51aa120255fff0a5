// Pilot driver for issue 24 (not run this session): a few PPO updates from an SFT init, printing KL, clip fraction and reward. Usage: npx tsx scripts/pilots/sft-vs-rl-ppo.mts CKPT LR TEMP UPDATES EVAL_EPISODES.
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
const cfg = { ...q, ppo: { ...q.ppo, lr: +lr }, sampling: { ...q.sampling, temperature: +temp } };
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const lm = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const run = createRun({ experiment: "pilot", seed: 0, config: cfg, root: "/tmp/pilot-runs" });
const f = (x: number) => (100 * x).toFixed(1);
const t0 = Date.now();
const r = await trainPPO({
  run, ppo: cfg.ppo, sampling: cfg.sampling, model, tok, nParams: modelParams(lm), seed: 0, updates: +updates, initLm: lm,
  makeEnv: () => spec.makeEnv("id", cfg.ppo.verifyIter),
  evaluate: async (p, u) => { if (!+evalEps) return {}; const row = gpEvalRow((await evaluateSplits(p, model, tok, cfg, { episodes: +evalEps })) as never); console.log(`eval u${u}: ID ${f(row.idSuccess)} OOD ${f(row.oodSuccess)} oodRule ${f(row.oodPromptRule)}`); return row; },
  evalEvery: Math.max(1, +updates),
  onProgress: () => {},
});
for (const m of run.metrics<Record<string, number>>()) if (m.update > 0) console.log(`u${m.update} kl ${m.approxKL?.toFixed(4)} clip ${m.clipFrac?.toFixed(3)} vloss ${m.valueLoss?.toFixed(3)} reward ${m.meanStepReward?.toFixed(3)} rolloutSuccess ${m.rolloutSuccess?.toFixed(3)} eps ${m.rolloutEpisodes}`);
console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)}s`);
process.exit(0);
