/**
 * Pilot (issue 25, route 3): where the reference step's resident memory goes. Prints RSS, V8 heap,
 * external and ArrayBuffer bytes (MB) after each stage: engine start, parameters, first step
 * (compile), ten steps, and the peak RSS. Run with TINYFOUNDRY_THREADS=1 and =2.
 */
import { initEngine, np, crossEntropy, liveBuffers, type Array } from "../../src/engine/index.js";
import { defaultLMConfig, initLM, type LMParams, lmForward } from "../../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";

let started = false;
const mb = (x: number) => +(x / 2 ** 20).toFixed(1);
const snap = (stage: string) => {
  const m = process.memoryUsage();
  console.log(JSON.stringify({ stage, rss: mb(m.rss), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers), peakRss: mb(process.resourceUsage().maxRSS * 1024), live: started ? liveBuffers() : 0 }));
};
snap("node start");
const info = await initEngine();
started = true;
snap(`engine (threads ${info.threads})`);
const cfg = { ...defaultLMConfig };
const B = 16;
const T = cfg.contextLength;
let params = initLM(cfg, 0);
let opt = adamwInit(params);
snap("params + moments");
const { step } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
const x = np.zeros([B, T], { dtype: np.int32 });
const y = np.zeros([B, T], { dtype: np.int32 });
const STEPS = Number(process.env.STEPS ?? 11);
for (let i = 1; i <= STEPS; i++) {
  const o = step(params, opt, [x.ref, y.ref], 1e-3, i);
  params = o.params;
  opt = o.opt;
  await o.loss.data();
  o.gradNorm.dispose();
  if (i === 1 || i % 10 === 1) snap(`after step ${i}`);
}
process.exit(0);
