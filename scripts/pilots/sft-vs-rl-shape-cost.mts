// Pilot (issue 24, PPO at about 40 updates): process CPU time and memory of the GeneralPoints arms' pieces at the
// quick preset, with the legacy batch shape and FAST_BATCH_SHAPE (rollout.ts), through the experiment's own code.
// NAV=1 runs `compare` on the sft-vs-rl-nav quick preset (200 episodes per split only). Run with TINYFOUNDRY_THREADS=1; CPU time is process.cpuUsage (user + system, all threads).
//   compare CKPT [ROUNDS]: interleaved legacy/FAST, after one warm-up of each: an evaluation at 200 and at 500
//     episodes per split (eval temperature), and one PPO rollout (slots x rounds policy calls at the rollout
//     temperature, fresh slots, the same seeds and sampler stream); prints CPU ms and the outcome counts.
//   [LR=..] [LRMAX=..] [MB=..] [NOEVAL=1] arm CKPT SHAPE UPDATES EVERY [SFT_STEPS]: one shape (legacy|fast) in a fresh process, the PPO arm's sequence
//     (ID at the rollout temperature on 500 episodes, UPDATES updates with a 200-episode evaluation + KL every EVERY,
//     the last with 500 episodes + KL + rollout-temperature ID), then SFT_STEPS SFT-branch steps and one
//     500-episode evaluation + KL; CPU per phase and per update, wasm memory and peak RSS after every phase.
// Records every WebAssembly memory jax-js creates (imported before the engine, which is loaded dynamically below).
import { memories as mems } from "../../bench/wasm-probe.mjs";

const { initEngine, disposeTree, refTree } = await import("../../src/engine/index.js");
const { initLM } = await import("../../src/nn/transformer.js");
const { loadCheckpoint } = await import("../../src/train/checkpoint.js");
const { createRun } = await import("../../src/train/run-dir.js");
const { sftVsRlPresets } = await import("../../src/papers/sft-vs-rl/config.js");
const { setup, evaluateSplits, klToInit, rollTempRow } = await import("../../src/papers/sft-vs-rl/arms.js");
const { modelParams } = await import("../../src/papers/sft-vs-rl/model.js");
const { trainPPO } = await import("../../src/papers/sft-vs-rl/ppo.js");
const { expertDataset, runSFT } = await import("../../src/papers/sft-vs-rl/sft.js");
const { collectRollout, initRolloutState, FAST_BATCH_SHAPE, LEGACY_BATCH_SHAPE, TIGHT_BATCH_SHAPE } = await import("../../src/papers/sft-vs-rl/rollout.js");
const { valueHeadToHost, initValueHead } = await import("../../src/papers/sft-vs-rl/model.js");
const { gpSpec, navSpec } = await import("../../src/papers/sft-vs-rl/tasks.js");
const { sftVsRlNavPresets } = await import("../../src/papers/sft-vs-rl/nav-entry.js");
const { Rng } = await import("../../src/util/rng.js");
type LMParams = import("../../src/nn/transformer.js").LMParams;
type BatchShape = import("../../src/papers/sft-vs-rl/rollout.js").BatchShape;
type ExperimentContext = import("../../src/train/experiment.js").ExperimentContext;

await initEngine();
// NAV=1: the sft-vs-rl-nav entry's quick preset and its navigation task (CKPT: a nav-sft-init checkpoint).
const nav = !!process.env.NAV;
const cfg = nav ? sftVsRlNavPresets.quick : sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = nav ? navSpec(cfg, tok, model.contextLength) : gpSpec(cfg);
const [mode, ck, ...rest] = process.argv.slice(2);
const lm = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const wasmMiB = () => Math.max(0, ...mems.map((m) => m.buffer.byteLength / 2 ** 20));
const rssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);
// SHAPES=fast,tight compares FAST_BATCH_SHAPE with TIGHT_BATCH_SHAPE (issue 24's tight prefill) instead.
const allShapes: Record<string, BatchShape> = { legacy: LEGACY_BATCH_SHAPE, fast: FAST_BATCH_SHAPE, tight: TIGHT_BATCH_SHAPE };
const shapes: Record<string, BatchShape> = Object.fromEntries((process.env.SHAPES ?? "legacy,fast").split(",").map((n) => [n, allShapes[n]]));
const log = (o: Record<string, unknown>) => console.log(JSON.stringify({ ...o, wasmMiB: Math.round(wasmMiB()), peakRssMB: rssMB() }));

if (mode === "compare") {
  const rounds = Number(rest[0] ?? 1);
  const evalOnce = async (shape: BatchShape, episodes: number) => {
    const r = await evaluateSplits(lm, model, tok, cfg, { episodes, shape, env: spec });
    return `id ${r.id.successes}/${r.id.episodes} steps ${r.id.gradedSteps}; ood ${r.ood.successes}/${r.ood.episodes} steps ${r.ood.gradedSteps}`;
  };
  const value = initValueHead(model.dModel, 0);
  const vw = await valueHeadToHost(value);
  const seedOf = (ep: number) => new Rng(0, `ppo-episode-${ep}`).nextU32();
  const rolloutOnce = async (shape: BatchShape) => {
    const state = initRolloutState(() => spec.makeEnv("id", spec.ppo.verifyIter), spec.ppo.slots, seedOf);
    const r = await collectRollout({ params: lm, valueWeights: vw, cfg: model, tok, state, rounds: spec.ppo.rounds, sampling: spec.sampling, rng: Rng.stream(0, "ppo-sample"), seedOf, shape });
    const tr = r.transitions.flat();
    return `calls ${tr.length} rewarded ${tr.filter((t) => t.reward > 0).length} tokens ${r.inferenceTokens} episodes ${r.episodes.length}`;
  };
  const jobs: [string, (s: BatchShape) => Promise<string>][] = [
    ["rollout", rolloutOnce],
    ["eval200", (s) => evalOnce(s, 200)],
    ...(nav ? [] : [["eval500", (s: BatchShape) => evalOnce(s, 500)] as [string, (s: BatchShape) => Promise<string>]]),
  ];
  // Warm-up: compile every shape of every job once (not timed).
  for (const [name, fn] of jobs) for (const [sn, s] of Object.entries(shapes)) log({ warmup: name, shape: sn, result: await fn(s) });
  for (let k = 0; k < rounds; k++) {
    for (const [name, fn] of jobs) {
      for (const [sn, s] of Object.entries(shapes)) {
        const c0 = cpuMs();
        const w0 = performance.now();
        const result = await fn(s);
        log({ job: name, shape: sn, round: k, cpuMs: Math.round(cpuMs() - c0), wallMs: Math.round(performance.now() - w0), result });
      }
    }
  }
  disposeTree(value);
} else if (mode === "arm") {
  const [shapeName, updatesArg, everyArg, sftArg] = rest;
  const shape = shapes[shapeName];
  if (!shape) throw new Error(`shape ${shapeName}: legacy or fast`);
  const updates = Number(updatesArg);
  const every = Number(everyArg);
  const sftSteps = Number(sftArg ?? 0);
  // LR=... and LRMAX=... (default 40: the cosine length of 40 updates, however many run here) set the PPO schedule.
  const ppo = { ...cfg.ppo, updates, lrMaxSteps: Number(process.env.LRMAX ?? 40), lr: Number(process.env.LR ?? cfg.ppo.lr), microBatch: Number(process.env.MB ?? cfg.ppo.microBatch) };
  const run = createRun({ experiment: "pilot", seed: 0, config: cfg, root: "runs/pilots" });
  let phase = "start";
  let c0 = cpuMs();
  let at = 0;
  const mark = (next: string, update: number) => {
    const c = cpuMs();
    log({ phase, update: at, cpuMs: Math.round(c - c0) });
    phase = next;
    at = update;
    c0 = c;
  };
  const r = await trainPPO({
    run, ppo, sampling: spec.sampling, model, tok, nParams: modelParams(lm), seed: 0, updates, initLm: lm, shape,
    makeEnv: () => spec.makeEnv("id", ppo.verifyIter),
    onPhase: mark,
    ...(process.env.NOEVAL ? {} : { evaluate: async (p: LMParams, u: number) => {
      if (u === 0) return await rollTempRow(p, model, tok, cfg, spec, null, { shape });
      const last = u === updates;
      const ev = spec.evalRow(await evaluateSplits(p, model, tok, cfg, { episodes: last ? 500 : 200, shape }));
      const kl = await klToInit(p, lm, model, tok, cfg, spec, 128, { temperature: spec.sampling.temperature, shape });
      const hot = last ? await rollTempRow(p, model, tok, cfg, spec, ev, { shape }) : {};
      return { ...ev, idKL: kl, ...hot };
    } }),
    evalEvery: every,
  });
  mark("sft", updates);
  for (const m of run.metrics<Record<string, number>>()) console.log(JSON.stringify(m));
  disposeTree(r.lm);
  if (sftSteps > 0) {
    const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
    const srun = createRun({ experiment: "pilot-sft", seed: 0, config: cfg, root: "runs/pilots" });
    const ctx = { signal: undefined, log: () => {}, onProgress: () => {} } as unknown as ExperimentContext;
    const s = await runSFT({ run: srun, resume: false, ctx, arm: "sft", cfg, model, data, initLm: () => refTree(lm), steps: sftSteps, batchSize: cfg.sft.batchSize, lr: () => cfg.sft.lr, clip: cfg.sft.clip, T: cfg.sftInit.seqLen });
    mark("sft-eval", updates);
    const ev = spec.evalRow(await evaluateSplits(s.params, model, tok, cfg, { episodes: 500, shape }));
    await klToInit(s.params, lm, model, tok, cfg, spec, 128, { temperature: spec.sampling.temperature, shape });
    mark("done", updates);
    console.log(JSON.stringify({ sftSteps, ev }));
  }
  log({ phase: "end" });
} else throw new Error("mode: compare | arm");
process.exit(0);
