// Pilot driver for issue 21: the guidance-benefit gate of the autoregressive family on a CFG arm that is already
// trained, through the experiment's own evaluation (FD of classifier features against the validation digits, per w).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/guidance-free-ar-gate.mts RUN_DIR "1,1.25,1.5,2" PER_CLASS [ARM]
import { initEngine } from "../../src/engine/index.js";
import { defaultLMConfig } from "../../src/nn/transformer.js";
import { openRun } from "../../src/train/run-dir.js";
import type { ExperimentContext } from "../../src/train/experiment.js";
import { Rng } from "../../src/util/rng.js";
import { guidanceFreePresets } from "../../src/papers/guidance-free/config.js";
import { initAR, makeGuidedNextToken, sampleAR, type ARConfig, type ARParams } from "../../src/papers/guidance-free/ar.js";
import { dequantize, loadDigits, quantize, type DigitSet } from "../../src/papers/guidance-free/data.js";
import { guidanceFor, loadArm } from "../../src/papers/guidance-free/train-arms.js";
import { evaluateDigitSamplers } from "../../src/papers/guidance-free/digit-eval.js";

const [dir, wsArg, perClassArg, armArg] = process.argv.slice(2);
await initEngine();
const cfg = guidanceFreePresets.quick;
const ac = cfg.ar;
const run = openRun(dir);
const ctx = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: console.log } as ExperimentContext;
const data = loadDigits({ side: ac.side, classes: ac.classes, valFraction: ac.valFraction, seed: cfg.seed });
const K = ac.classes.length;
const T = ac.side * ac.side;
const deq = (s: DigitSet): DigitSet => ({ ...s, images: dequantize(quantize(s.images, ac.levels), ac.levels) });
const arCfg: ARConfig = {
  lm: { ...defaultLMConfig, vocabSize: ac.levels, dModel: ac.model.dModel, nLayers: ac.model.nLayers, nHeads: ac.model.nHeads, contextLength: T, norm: "layer", pos: "learned", mlp: "gelu", tiedHead: true },
  numClasses: K,
  freqDim: ac.model.freqDim,
};
const arm = armArg ?? "ar-cfg";
const t0 = Date.now();
const ev = await evaluateDigitSamplers<ARParams>(ctx, run, {
  prefix: "ar",
  seed: cfg.seed,
  ccfg: { inputDim: T, hidden: ac.classifier.hidden, featureDim: ac.classifier.featureDim, numClasses: K },
  data: { train: deq(data.train), val: deq(data.val) },
  side: ac.side,
  perClass: +perClassArg,
  knnK: ac.knnK,
  guidance: wsArg.split(",").map(Number),
  models: () => [{ family: "CFG", trainSeed: cfg.seed, params: loadArm(ctx, arm, initAR(arCfg, cfg.seed, false)) }],
  sampler: () => {
    const nt = makeGuidedNextToken(arCfg);
    return {
      warm: async (params, family, w, labels) => void (await sampleAR(params, arCfg, { labels, guidance: guidanceFor(family, w), rng: new Rng(1), nextToken: nt, positions: 1 })),
      sample: async (params, family, w, labels, rng) => ({ images: dequantize((await sampleAR(params, arCfg, { labels, guidance: guidanceFor(family, w), rng, nextToken: nt })).tokens, ac.levels), nfe: T * (w === 1 ? 1 : 2) }),
      dispose: () => nt.dispose(),
    };
  },
});
console.log(`real-vs-real FD ${ev.realVsReal?.fd.toFixed(3)}`);
for (const r of ev.rows) console.log(`w=${r.w} FD ${r.fd?.toFixed(3)} acc ${r.accuracy.toFixed(3)}`);
console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)}s`);
process.exit(0);
