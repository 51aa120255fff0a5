// Pilot driver for issue 24 (the README's "How the quick recipe was sized"): wasm memory of PPO from a checkpoint
// (the stage-0 model: the no-SFT arm), printed every 5 s as the size of jax-js's WebAssembly memory (it only grows,
// so the last value is the peak) and the live buffer count. EVAL=1 adds the arm's ID evaluation (125 episodes) first.
// Usage: [MB=16] [EVAL=1] npx tsx scripts/pilots/sft-vs-rl-memory.mts CKPT UPDATES
// Records every WebAssembly memory jax-js creates (imported before the engine, which is loaded dynamically below).
import { memories as mems } from "../../bench/wasm-probe.mjs";
const { initEngine, liveBuffers } = await import("../../src/engine/index.js");
const { initLM } = await import("../../src/nn/transformer.js");
const { loadCheckpoint } = await import("../../src/train/checkpoint.js");
const { createRun } = await import("../../src/train/run-dir.js");
const { sftVsRlPresets } = await import("../../src/papers/sft-vs-rl/config.js");
const { setup, evaluateSplits } = await import("../../src/papers/sft-vs-rl/arms.js");
const { modelParams } = await import("../../src/papers/sft-vs-rl/model.js");
const { trainPPO } = await import("../../src/papers/sft-vs-rl/ppo.js");
const { gpEnv, gpEvalRow } = await import("../../src/papers/sft-vs-rl/tasks.js");
type LMParams = import("../../src/nn/transformer.js").LMParams;
await initEngine();
const q = sftVsRlPresets.quick;
const cfg = { ...q, ppo: { ...q.ppo, microBatch: +(process.env.MB ?? q.ppo.microBatch) } };
const { tok, model } = setup(cfg);
const lm = loadCheckpoint(process.argv[2], { params: initLM(model, 0) }).trees.params as LMParams;
const mb = () => mems.map((m) => (m.buffer.byteLength / 2 ** 20).toFixed(0)).join("/") + ` MiB, live buffers ${liveBuffers()}`;
const t0 = Date.now();
setInterval(() => console.log(`${((Date.now() - t0) / 1000).toFixed(0)}s`, mb()), 5000);
const run = createRun({ experiment: "pilot", seed: 0, config: cfg, root: "runs/pilots" });
await trainPPO({
  run, ppo: cfg.ppo, sampling: cfg.sampling, model, tok, nParams: modelParams(lm), seed: 0, updates: +(process.argv[3] ?? 1), initLm: lm,
  evaluate: async (p, u) => (process.env.EVAL && u === 0 ? gpEvalRow(await evaluateSplits(p, model, tok, cfg, { episodes: 125, splits: ["id"] })) : {}),
  makeEnv: () => gpEnv("id", cfg.ppo.verifyIter, cfg.cards, cfg.ruleWording),
  evalEvery: 1000,
});
for (const m of run.metrics<Record<string, number>>()) console.log(JSON.stringify(m));
console.log("done", mb());
process.exit(0);
