// Issue 24 navigation pilot: stage 0 with navigation documents (the recipe's worked next-action records), the
// experiment's probes every EVERY steps. Usage: SHARE=0.6 NEXT=0.5 npx tsx scripts/pilots/sft-vs-rl-nav-stage0.mts STEPS EVERY LR PROBES [SAVE]
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
const [steps, every, lr, probes] = process.argv.slice(2, 6).map(Number);
const save = process.argv[7 - 1];
await initEngine();
const q = sftVsRlPresets.quick;
const cfg = { ...q, envs: ["navigation"] as ("navigation")[], navigation: { ...q.navigation, corpusShare: Number(process.env.SHARE ?? 0.6) } };
const { tok, model } = setup(cfg);
const B = q.stage0.batchSize, T = q.stage0.seqLen;
const text = stage0Corpus(Rng.stream(0, "stage0-corpus"), Math.ceil(steps * B * T * 3), mixFor(cfg.envs, cfg.navigation.corpusShare), 3);
const ids = Int32Array.from(tok.encode(text));
console.log(`model d${model.dModel} L${model.nLayers} vocab ${model.vocabSize}; corpus ${text.length} chars ${ids.length} tokens; nav share ${cfg.navigation.corpusShare}`);
let params = initLM(model, 0);
const mask = defaultDecayMask(params);
let opt = adamwInit(params);
const step = makeTrainStep<LMParams>((p, x, y) => crossEntropy(lmForward(p, model, x).logits, y), { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: mask });
const rng = Rng.stream(0, "stage0-data");
const t0 = Date.now();
let lossAcc = 0;
for (let s = 0; s < steps; s++) {
  const x = new Int32Array(B * T), y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) { const o = rng.int(ids.length - T - 1); x.set(ids.subarray(o, o + T), b * T); y.set(ids.subarray(o + 1, o + T + 1), b * T); }
  const out = step.step(params, opt, [np.array(x, { dtype: np.int32 }).reshape([B, T]), np.array(y, { dtype: np.int32 }).reshape([B, T])], warmupCosine(s, { lr, warmupSteps: 100, totalSteps: steps, minLrRatio: 0.1 }), s + 1);
  params = out.params; opt = out.opt; const lv = (await out.loss.data())[0]; lossAcc += lv; out.gradNorm.dispose(); for (const a of out.aux) a.dispose();
  if (!Number.isFinite(lv)) { console.log("NaN: stop"); process.exit(1); }
  if ((s + 1) % every === 0 || s + 1 === steps) {
    const sec = (Date.now() - t0) / 1000;
    const pr = await stage0Probes(params, model, tok, { seed: 0, envs: cfg.envs, stage0: { probes }, cards: 3 });
    const f = (x?: number) => (100 * (x ?? 0)).toFixed(0);
    console.log(`step ${s + 1} ${sec.toFixed(0)}s loss ${(lossAcc / every).toFixed(3)} | nextAction abs ${f(pr.nextActionAbsolute)} rel ${f(pr.nextActionRelative)} actionSpace ${f(pr.actionSpace)} compass ${f(pr.compass)} | arith ${f(pr.arithmetic)} rule ${f(pr.rule)} m24Id ${f(pr.make24Id)} m24Ood ${f(pr.make24Ood)}`);
    if (s + 1 === steps) console.log(pr.examples.slice(-9).join("\n"));
    if (save) await saveCheckpoint(save.replace(".safetensors", `-${s + 1}.safetensors`), { params }, { step: s + 1, state: {} });
    lossAcc = 0;
  }
}
process.exit(0);
