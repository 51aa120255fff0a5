// Pilot for issue 17's vision item: how many steps of MNIST pretraining the omni vision tower needs, and
// whether image QA after the image stages improves with the pretrained tower. Run with 1 wasm thread.
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-vision.mts DIR curve STEPS EVAL_EVERY [LR] [BATCH]
//          held-out MNIST accuracy every EVAL_EVERY steps, with the process CPU seconds of training so far
//          (evaluation excluded) and the median CPU seconds per step
//        TINYFOUNDRY_THREADS=N npx tsx scripts/pilots/omni-vision.mts DIR steptime STEPS
//          median wall ms per pretraining step (run with 1 and 2 threads, alternately, for the thread ratio)
//        TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-vision.mts DIR image PRETRAIN_STEPS[,PRETRAIN_STEPS...] [IMAGE1_STEPS]
//          the quick text LM, then image-1 and image-2 (quick steps) from each tower (0 = random): caption
//          accuracy on the omni test digits after each stage. With IMAGE1_STEPS: image-1 alone, that many steps. Speech is not needed by these stages: the data use
//          the tiny preset's speech and all-zero codes, so only the caption column means anything.
import { mkdirSync } from "node:fs";
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { omniPresets, type OmniExperimentConfig } from "../../src/papers/omni/config.js";
import { initOmni } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf, prepareOmniData } from "../../src/papers/omni/prepare.js";
import { frames12 } from "../../src/papers/omni/data.js";
import { trainTextLM } from "../../src/papers/omni/text-lm.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import { PAPER_STAGES } from "../../src/papers/omni/stages.js";
import { trainVisionPretrain, withPretrainedVision } from "../../src/papers/omni/vision-pretrain.js";
import type { Codes } from "../../src/papers/omni/sequences.js";

const [dir, mode, ...rest] = process.argv.slice(2);
await initEngine();
mkdirSync(dir, { recursive: true });
const quick = omniPresets.quick;
const run = (() => {
  try {
    return openRun(dir);
  } catch {
    return createRun({ experiment: "omni-vision-pilot", seed: quick.seed, config: quick, dir });
  }
})();
const t0 = Date.now();
const sec = () => ((Date.now() - t0) / 1000).toFixed(0);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (m: string) => console.log(`[${sec()}s] ${m}`);
const ctxFor = (onStep: (s: number) => void, onEval: (s: number, m: Record<string, number>) => void): ExperimentContext => ({
  run,
  resume: true,
  signal: new AbortController().signal,
  log,
  onProgress: (e) => {
    if (e.kind === "step") onStep(e.step);
    if (e.kind === "eval") onEval(e.step, e.metrics);
  },
});

if (mode === "curve" || mode === "steptime") {
  const steps = +rest[0];
  const every = mode === "curve" ? +rest[1] : steps;
  const vp = { ...quick.omni.visionPretrain, steps, ...(rest[2] ? { lr: +rest[2] } : {}), ...(rest[3] ? { batchSize: +rest[3] } : {}) };
  const cfg: OmniExperimentConfig = { ...quick, omni: { ...quick.omni, visionPretrain: vp } };
  // CPU seconds spent in training steps only: each step event closes an interval that started at the
  // previous step event, unless an evaluation ran inside it (those intervals are left out).
  let last = cpu();
  let lastWall = Date.now();
  let evalRan = false;
  let train = 0;
  const perStep: number[] = [];
  const wallPerStep: number[] = [];
  const ctx = ctxFor(
    () => {
      const now = cpu();
      const wall = Date.now();
      if (!evalRan) {
        train += now - last;
        perStep.push(now - last);
        wallPerStep.push(wall - lastWall);
      }
      evalRan = false;
      last = now;
      lastWall = wall;
    },
    (s, m) => {
      evalRan = true;
      log(`step ${s}: held-out MNIST accuracy ${(100 * m.heldOutAcc).toFixed(1)} %, training CPU ${train.toFixed(1)} s (median ${median(perStep).toFixed(3)} s/step)`);
    },
  );
  const label = `vision-${mode}-${steps}-${vp.lr}-${vp.batchSize}-${Date.now()}`;
  const out = await runArm(ctx, label, vp, (r) => trainVisionPretrain(cfg, r, ctx, label, every));
  log(`${label}: final loss ${out.finalLoss.toFixed(3)}, held-out accuracy ${(100 * out.heldOutAcc).toFixed(1)} % of ${out.heldOutN} (training pool ${out.trainN})`);
  log(`threads ${process.env.TINYFOUNDRY_THREADS ?? "default"}: median wall ${median(wallPerStep.slice(3)).toFixed(1)} ms/step, median CPU ${(1000 * median(perStep.slice(3))).toFixed(1)} ms/step over ${perStep.length - 3} steps`);
} else if (mode === "image") {
  const towers = rest[0].split(",").map(Number);
  const small = omniPresets.tiny.speech;
  const cfg: OmniExperimentConfig = { ...quick, speech: { ...small, nMels: quick.speech.nMels, cacheDir: `${dir}/speech` } };
  const ctx = ctxFor(
    () => {},
    () => {},
  );
  const data = await prepareOmniData(cfg, run, log);
  const nL = cfg.tokenizer.codebookSizes.length;
  const zeros = (u: number): Codes => Array.from({ length: frames12(data.mels.frames[u]) }, () => new Int32Array(nL));
  const P = makePools(data, cfg, new Map([...data.trainIdx, ...data.evalIdx].map((u) => [u, zeros(u)])));
  const text = await runArm(ctx, "text-lm", cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, "text-lm"));
  log(`text-lm: written QA ${(100 * text.textQaAcc).toFixed(1)} %`);
  const ocfg = omniConfigOf(cfg, data);
  const lmCfg = lmConfigOf(cfg, data.tok);
  for (const n of towers) {
    const tcfg: OmniExperimentConfig = { ...cfg, omni: { ...cfg.omni, visionPretrain: { ...cfg.omni.visionPretrain, steps: n } } };
    const vdir = n > 0 ? run.path("arms", `vision-${n}`) : null;
    if (n > 0) {
      const v = await runArm(ctx, `vision-${n}`, tcfg.omni.visionPretrain, (r) => trainVisionPretrain(tcfg, r, ctx, `vision-${n}`));
      log(`tower ${n} steps: held-out MNIST accuracy ${(100 * v.heldOutAcc).toFixed(1)} %`);
    }
    const fresh = () => withPretrainedVision(initOmni(ocfg, loadRunParams(run.path("arms", "text-lm"), initLM(lmCfg, cfg.seed)), cfg.seed), vdir, ocfg.vision);
    let from: string | null = null;
    const image1Steps = rest[1] ? +rest[1] : null;
    for (const stage of PAPER_STAGES.slice(0, image1Steps ? 1 : 2)) {
      const arm = `tower${n}-${stage.name}${image1Steps ? `-${image1Steps}` : ""}`;
      const steps = image1Steps ?? cfg.omni.stageSteps[stage.name];
      const prev = from;
      const ev = await runArm(ctx, arm, { stage, steps, n }, (r) => trainStage(tcfg, data, P, stage, steps, () => (prev ? loadRunParams(run.path("arms", prev), fresh()) : fresh()), r, ctx, arm, null, null));
      log(`tower ${n === 0 ? "random" : `pretrained ${n} steps`}, after ${stage.name} (${steps} steps): caption accuracy ${(100 * ev.captionAcc).toFixed(1)} % of ${data.digits.test.length} test digits, written QA ${(100 * ev.textQaAcc).toFixed(1)} %`);
      from = arm;
    }
  }
} else throw new Error(`mode: "${mode}"; allowed: curve, steptime, image`);
process.exit(0);
