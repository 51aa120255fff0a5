/**
 * Guidance-free training benchmark (issue 6, arXiv 2501.15420): sampling time per image, GFT (one network
 * pass per step at β = 1/w) vs CFG (two passes per step at w), at equal sampling steps, in the same process run.
 * - Diffusion: the quick preset's 14×14 digit denoiser (residual MLP, 2 blocks × 256), DDIM 25 steps, 200 images.
 * - Autoregressive: the quick preset's 8×8 / 4-level token model (2 layers, d = 64), 64 tokens, 100 images.
 * Timing excludes compilation (a warm-up call first); the figure is the median of 3 repetitions. Weights are
 * freshly initialised: the cost of a forward pass does not depend on their values.
 * Run alone: `npx tsx bench/guidance-free.ts`.
 */
import { pathToFileURL } from "node:url";
import { initEngine, tree } from "../src/engine/index.js";
import { defaultLMConfig } from "../src/nn/transformer.js";
import { Rng } from "../src/util/rng.js";
import { guidanceFreePresets } from "../src/papers/guidance-free/config.js";
import { initDenoiser, linearVPSchedule, makeGuidedEps, sampleDDIM, type DenoiserConfig, type Guidance } from "../src/papers/guidance-free/model.js";
import { initAR, makeGuidedNextToken, sampleAR, type ARConfig } from "../src/papers/guidance-free/ar.js";
import type { BenchFigure, BenchFn } from "./types.js";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeIt(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn(); // warm-up (compilation)
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export const bench: BenchFn = async () => {
  const info = await initEngine();
  const q = guidanceFreePresets.quick;
  const figs: BenchFigure[] = [];
  const common = { threads: info.threads, device: info.device };
  const reps = 3;

  // Diffusion sampler.
  const n = 200;
  const steps = q.digits.sample.ddimSteps;
  const dcfg: DenoiserConfig = { dataDim: q.digits.side ** 2, hidden: q.digits.model.hidden, depth: q.digits.model.depth, numClasses: 10, freqDim: q.digits.model.freqDim };
  const sched = linearVPSchedule(q.digits.scheduleSteps);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  const pCFG = initDenoiser(dcfg, 0, "none");
  const pGFT = initDenoiser(dcfg, 0, "scratch");
  const ge = makeGuidedEps(dcfg);
  const diff = async (p: typeof pCFG, g: Guidance) => timeIt(() => sampleDDIM(p, dcfg, sched, { labels, ddimSteps: steps, guidance: g, rng: new Rng(1), guidedEps: ge, clipX0: 1 }), reps);
  const cfgMs = (await diff(pCFG, { kind: "cfg", w: 3 })) / n;
  const gftMs = (await diff(pGFT, { kind: "gft", beta: 1 / 3 })) / n;
  const shape = `${q.digits.side}x${q.digits.side} digits, MLP ${q.digits.model.depth}x${q.digits.model.hidden}, DDIM ${steps} steps, batch ${n}`;
  figs.push({ bench: "guidance-free", metric: "diffusion sampling, CFG w=3 (2 NFE/step)", value: cfgMs, unit: "ms/image", nfe: 2 * steps, shape, ...common });
  figs.push({ bench: "guidance-free", metric: "diffusion sampling, GFT beta=1/3 (1 NFE/step)", value: gftMs, unit: "ms/image", nfe: steps, shape, baseline: "CFG w=3 at equal steps, same run", ratio: cfgMs / gftMs, ...common });
  ge.dispose();
  tree.dispose(pCFG);
  tree.dispose(pGFT);

  // Autoregressive sampler (KV cache, one token per step).
  const m = 100;
  const T = q.ar.side ** 2;
  const acfg: ARConfig = { lm: { ...defaultLMConfig, vocabSize: q.ar.levels, dModel: q.ar.model.dModel, nLayers: q.ar.model.nLayers, nHeads: q.ar.model.nHeads, contextLength: T }, numClasses: 10, freqDim: q.ar.model.freqDim };
  const arLabels = Int32Array.from({ length: m }, (_, i) => i % 10);
  const aCFG = initAR(acfg, 0, false);
  const aGFT = initAR(acfg, 0, true);
  const nt = makeGuidedNextToken(acfg);
  const ar = async (p: typeof aCFG, g: Guidance) => timeIt(() => sampleAR(p, acfg, { labels: arLabels, guidance: g, rng: new Rng(2), nextToken: nt }), reps);
  const arCfgMs = (await ar(aCFG, { kind: "cfg", w: 3 })) / m;
  const arGftMs = (await ar(aGFT, { kind: "gft", beta: 1 / 3 })) / m;
  const arShape = `${q.ar.side}x${q.ar.side} tokens (${q.ar.levels} levels), ${q.ar.model.nLayers} layers d=${q.ar.model.dModel}, batch ${m}`;
  figs.push({ bench: "guidance-free", metric: "AR sampling, CFG on logits w=3 (2 NFE/token)", value: arCfgMs, unit: "ms/image", nfe: 2 * T, shape: arShape, ...common });
  figs.push({ bench: "guidance-free", metric: "AR sampling, GFT beta=1/3 (1 NFE/token)", value: arGftMs, unit: "ms/image", nfe: T, shape: arShape, baseline: "CFG w=3 at equal tokens, same run", ratio: arCfgMs / arGftMs, ...common });
  nt.dispose();
  tree.dispose(aCFG);
  tree.dispose(aGFT);
  return figs;
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figs = await bench();
  for (const f of figs) console.log(JSON.stringify(f));
  process.exit(0);
}
