// Pilot driver for issue 24: SFT init from a stage-0 checkpoint, ID/OOD success at the steps in AT. Usage: [CARDS=4] [T=96] AT=25,50 npx tsx scripts/pilots/sft-vs-rl-sft.mts CKPT D L LR B EPISODES.
import { initEngine, np } from "../../src/engine/index.js";
import { initLM, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { Rng } from "../../src/util/rng.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup, evaluateSplits } from "../../src/papers/sft-vs-rl/arms.js";
import { expertDataset } from "../../src/papers/sft-vs-rl/sft.js";
import { sftExample, sftLoss } from "../../src/papers/sft-vs-rl/model.js";
import { gpEvalRow, gpSpec } from "../../src/papers/sft-vs-rl/tasks.js";
const [ck, _d, _L, lr, B, episodes] = process.argv.slice(2);
const checkpoints = (process.env.AT ?? "0,25,50,100,200,400").split(",").map(Number);
await initEngine();
const q = sftVsRlPresets.quick;
const cfg = { ...q, cards: (process.env.CARDS === "4" ? 4 : q.cards) as 3 | 4, eval: { ...q.eval, episodes: +episodes } };
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
const T = +(process.env.T ?? 80);
console.log(`expert pairs ${data.length}, longest ${Math.max(...data.map((e) => e.prompt.length + e.response.length))} tokens, longest answer ${Math.max(...data.map((e) => e.response.length))}`);
const ex = data.map((e) => sftExample(e.prompt, e.response, T));
let params = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const mask = defaultDecayMask(params);
let opt = adamwInit(params);
const step = makeTrainStep<LMParams>((p, x, y, m) => sftLoss(p, model, x, y, m), { adamw: { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 }, clip: 1, decayMask: mask });
const rng = Rng.stream(0, "sft");
const nB = +B;
const t0 = Date.now();
let loss = 0, n = 0;
const evalAt = async (s: number) => {
  const ev = await evaluateSplits(params, model, tok, cfg, { episodes: +episodes, keepRecords: process.env.SHOW ? 3 : 0 });
  if (process.env.SHOW) for (const sp of ["id", "ood"]) for (const r of (ev as any)[sp].records) console.log(`--- ${sp}\n` + r.conversations[0].slice(0, 3).map((m: any) => m.content).join("\n>>\n"));
  const row = gpEvalRow(ev as never);
  const f = (x: number) => (100 * x).toFixed(1);
  console.log(`sft step ${s} (${((Date.now() - t0) / 1000).toFixed(0)}s) loss ${(loss / Math.max(n, 1)).toFixed(3)} | ID ${f(row.idSuccess)}±${f(row.idStdErr)} parsed ${f(row.idParsed)} rule ${f(row.idPromptRule)} | OOD ${f(row.oodSuccess)}±${f(row.oodStdErr)} parsed ${f(row.oodParsed)} rule ${f(row.oodPromptRule)} trainingRule ${f(row.oodTrainingRule)}`);
  loss = 0; n = 0;
};
const maxS = Math.max(...checkpoints);
if (checkpoints.includes(0)) await evalAt(0);
for (let s = 1; s <= maxS; s++) {
  const x = new Int32Array(nB * T), y = new Int32Array(nB * T), m = new Float32Array(nB * T);
  for (let b = 0; b < nB; b++) { const e = ex[rng.int(ex.length)]; x.set(e.x, b * T); y.set(e.y, b * T); m.set(e.mask, b * T); }
  const out = step.step(params, opt, [np.array(x, { dtype: np.int32 }).reshape([nB, T]), np.array(y, { dtype: np.int32 }).reshape([nB, T]), np.array(m).reshape([nB, T])], +lr, s);
  params = out.params; opt = out.opt; loss += (await out.loss.data())[0]; n++; out.gradNorm.dispose(); for (const a of out.aux) a.dispose();
  if (checkpoints.includes(s)) await evalAt(s);
  if (process.env.SAVE && s === +(process.env.SAVE_AT ?? maxS)) await saveCheckpoint(process.env.SAVE, { params }, { step: s, state: {} });
}
process.exit(0);
