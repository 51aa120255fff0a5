// Pilot (issue 24, task seeds in parallel processes): CPU and wall time of the quick GeneralPoints arms' two kinds of
// work, PPO updates (rollout + learner, through trainPPO) and SFT branch steps (through runSFT), at the thread count of
// TINYFOUNDRY_THREADS. From CKPT (an SFT-init checkpoint of the quick preset) it runs UPDATES PPO updates (the quick
// preset's PPO, value warm-up off so every update moves the policy, no evaluation) and then SFT_STEPS SFT steps at the
// branch's batch and learning rate, in temporary run directories, and prints one JSON line per PPO phase and per SFT
// step (CPU ms of this process, wall ms) and the losses to all digits (bit-identity across thread counts). The first
// PPO update and the first SFT steps include compilation: read the later ones. Start two copies side by side to see
// whether two one-thread processes keep their one-thread rate on two cores.
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/sft-vs-rl-threads.mts CKPT [UPDATES] [SFT_STEPS] [TAG]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { initEngine, disposeTree } = await import("../../src/engine/index.js");
const { initLM } = await import("../../src/nn/transformer.js");
const { loadCheckpoint } = await import("../../src/train/checkpoint.js");
const { createRun } = await import("../../src/train/run-dir.js");
const { quietContext } = await import("../../src/train/experiment.js");
const { sftVsRlPresets } = await import("../../src/papers/sft-vs-rl/config.js");
const { setup } = await import("../../src/papers/sft-vs-rl/arms.js");
const { trainPPO } = await import("../../src/papers/sft-vs-rl/ppo.js");
const { expertDataset, runSFT } = await import("../../src/papers/sft-vs-rl/sft.js");
const { modelParams } = await import("../../src/papers/sft-vs-rl/model.js");
const { gpSpec } = await import("../../src/papers/sft-vs-rl/tasks.js");
type LMParams = import("../../src/nn/transformer.js").LMParams;

const { threads } = await initEngine();
const [ck, updatesArg, sftArg, tag] = process.argv.slice(2);
if (!ck) throw new Error("usage: sft-vs-rl-threads.mts CKPT [UPDATES] [SFT_STEPS] [TAG]");
const cfg = sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const loadInit = () => loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const out = (o: Record<string, unknown>) => console.log(JSON.stringify({ tag, threads, ...o }));
const tmp = mkdtempSync(join(tmpdir(), "sft-vs-rl-threads-"));

// PPO: phases timed from one onPhase call to the next.
const updates = Number(updatesArg ?? 3);
const ppo = { ...spec.ppo, updates, valueWarmupUpdates: 0 };
let mark = { phase: "", update: 0, cpu: cpuMs(), wall: performance.now() };
const close = () => {
  if (mark.phase) out({ ppo: mark.phase, update: mark.update, cpuMs: Math.round(cpuMs() - mark.cpu), wallMs: Math.round(performance.now() - mark.wall) });
};
const losses: number[] = [];
const init = loadInit();
const run = createRun({ experiment: "pilot", seed: 0, config: {}, dir: join(tmp, "ppo") });
await trainPPO({
  run, ppo, sampling: spec.sampling, model, tok, nParams: modelParams(init), seed: 0, updates, initLm: init,
  makeEnv: () => spec.makeEnv("id", ppo.verifyIter),
  evalEvery: 1_000_000, resume: false, signal: new AbortController().signal,
  onPhase: (phase, update) => {
    close();
    mark = { phase, update, cpu: cpuMs(), wall: performance.now() };
  },
  onProgress: (e) => {
    if (e.kind === "step") losses.push(e.loss);
  },
});
close();
disposeTree(init);
out({ ppoLosses: losses });

// SFT branch steps: one line per step.
const steps = Number(sftArg ?? 30);
const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
const sftRun = createRun({ experiment: "pilot", seed: 0, config: {}, dir: join(tmp, "sft") });
let last = { cpu: cpuMs(), wall: performance.now() };
const sftLosses: number[] = [];
const ctx = {
  ...quietContext(sftRun),
  onProgress: (e: { kind: string; step?: number; loss?: number }) => {
    if (e.kind !== "step") return;
    sftLosses.push(e.loss!);
    out({ sftStep: e.step, cpuMs: Math.round(cpuMs() - last.cpu), wallMs: Math.round(performance.now() - last.wall) });
    last = { cpu: cpuMs(), wall: performance.now() };
  },
};
const r = await runSFT({ run: sftRun, resume: false, ctx, arm: "sft", cfg, model, data, initLm: loadInit, steps, batchSize: cfg.sft.batchSize, lr: () => cfg.sft.lr, clip: cfg.sft.clip, T: spec.sftInit.seqLen });
disposeTree(r.params);
out({ sftLosses });
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
