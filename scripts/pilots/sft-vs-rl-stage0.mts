// Pilot driver for issue 24 (the README's "How the quick recipe was sized"): stage-0 learning curve with the experiment's probes. Usage: [CARDS=4] npx tsx scripts/pilots/sft-vs-rl-stage0.mts D L STEPS EVERY B T LR (SAVE=file to keep checkpoints).
import { crossEntropy, initEngine, np } from "../../src/engine/index.js";
import { initLM, lmForward, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../src/optim/adamw.js";
import { warmupCosine } from "../../src/optim/schedule.js";
import { makeTrainStep } from "../../src/train/step.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";
import { Rng } from "../../src/util/rng.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup } from "../../src/papers/sft-vs-rl/arms.js";
import { stage0Corpus, mixFor } from "../../src/papers/sft-vs-rl/corpus.js";
import { stage0Probes } from "../../src/papers/sft-vs-rl/stage0.js";
const [d, L, steps, every, B, T, lr] = process.argv.slice(2).map(Number);
await initEngine();
const cards = (process.env.CARDS === "4" ? 4 : 3) as 3 | 4;
const cfg = { ...sftVsRlPresets.quick, cards, model: { ...sftVsRlPresets.quick.model, dModel: d, nLayers: L, nHeads: d >= 128 ? 4 : 4 } };
const { tok, model } = setup(cfg);
const text = stage0Corpus(Rng.stream(0, "stage0-corpus"), Math.ceil((steps * B * T * 2.6) ), mixFor(cfg.envs, 0.35), cards);
const ids = Int32Array.from(tok.encode(text));
console.log(`model d${d} L${L} vocab ${model.vocabSize}; corpus ${text.length} chars ${ids.length} tokens (${(text.length/ids.length).toFixed(2)} c/t); tokens trained ${steps*B*T}`);
let params = initLM(model, 0);
const mask = defaultDecayMask(params);
let opt = adamwInit(params);
const step = makeTrainStep<LMParams>((p, x, y) => crossEntropy(lmForward(p, model, x).logits, y), { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: mask });
const rng = Rng.stream(0, "d");
const t0 = Date.now();
let lossAcc = 0;
for (let s = 0; s < steps; s++) {
  const x = new Int32Array(B * T), y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) { const o = rng.int(ids.length - T - 1); x.set(ids.subarray(o, o + T), b * T); y.set(ids.subarray(o + 1, o + T + 1), b * T); }
  const out = step.step(params, opt, [np.array(x, { dtype: np.int32 }).reshape([B, T]), np.array(y, { dtype: np.int32 }).reshape([B, T])], warmupCosine(s, { lr, warmupSteps: 100, totalSteps: steps, minLrRatio: 0.1 }), s + 1);
  params = out.params; opt = out.opt; const lv = (await out.loss.data())[0]; lossAcc += lv; const gn = (await out.gradNorm.data())[0]; for (const a of out.aux) a.dispose();
  if ((s + 1) % 50 === 0 || !Number.isFinite(lv)) console.log(`  step ${s + 1} loss ${lv.toFixed(3)} gn ${gn.toFixed(2)}`);
  if (!Number.isFinite(lv)) { console.log("NaN: stop"); process.exit(1); }
  if ((s + 1) % every === 0 || s + 1 === steps) {
    const sec = (Date.now() - t0) / 1000;
    const pr = await stage0Probes(params, model, tok, { seed: 0, envs: cfg.envs, stage0: { probes: 100 }, cards });
    console.log(`step ${s + 1} ${sec.toFixed(0)}s loss ${(lossAcc / every).toFixed(3)} tok/s ${((s + 1) * B * T / sec).toFixed(0)} | arith ${pr.arithmetic} rule ${pr.rule} ruleId ${pr.ruleId} ruleOod ${pr.ruleOod} m24Id ${pr.make24Id} m24Ood ${pr.make24Ood}`);
    if (s + 1 === steps) console.log(pr.examples.join("\n"));
    if (process.env.SAVE) await saveCheckpoint(process.env.SAVE.replace(".safetensors", `-${s + 1}.safetensors`), { params }, { step: s + 1, state: {} });
    lossAcc = 0;
  }
}
if (process.env.SAVE) await saveCheckpoint(process.env.SAVE, { params }, { step: steps, state: {} });
process.exit(0);
