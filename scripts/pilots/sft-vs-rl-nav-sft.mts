// Issue 24 navigation pilot: SFT init on ID (absolute) expert answers from a stage-0 checkpoint; at the steps in AT,
// per-step accuracy ID/OOD and the share of first OOD answers in the relative action space. Usage:
// AT=0,25,50,100 LEGS=2 npx tsx scripts/pilots/sft-vs-rl-nav-sft.mts CKPT LR B EPISODES
import { initEngine, np } from "../../src/engine/index.js";
import { initLM, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { Rng } from "../../src/util/rng.js";
import { sftVsRlPresets } from "../../src/papers/sft-vs-rl/config.js";
import { setup, evaluateSplits } from "../../src/papers/sft-vs-rl/arms.js";
import { expertDataset } from "../../src/papers/sft-vs-rl/sft.js";
import { sftExample, sftLoss } from "../../src/papers/sft-vs-rl/model.js";
import { navSpec } from "../../src/papers/sft-vs-rl/tasks.js";
const [ck, lr, B, episodes] = process.argv.slice(2);
const at = (process.env.AT ?? "0,25,50,100").split(",").map(Number);
await initEngine();
const q = sftVsRlPresets.quick;
const legs = Number(process.env.LEGS ?? 2);
const cfg = { ...q, envs: ["navigation"] as "navigation"[], navigation: { ...q.navigation, routeLegs: [legs, legs] as [number, number], sftInit: { ...q.navigation.sftInit, dataSize: 2000 } } };
const { tok, model } = setup(cfg);
const spec = navSpec(cfg, tok, model.contextLength);
const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
const longest = Math.max(...data.map((e) => e.prompt.length + e.response.length));
const T = Math.min(256, 8 * Math.ceil((longest + 1) / 8));
console.log(`expert pairs ${data.length}, longest ${longest} tokens, T ${T}`);
const ex = data.map((e) => sftExample(e.prompt, e.response, T));
let params = loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams;
const mask = defaultDecayMask(params);
let opt = adamwInit(params);
const step = makeTrainStep<LMParams>((p, x, y, m) => sftLoss(p, model, x, y, m), { adamw: { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 }, clip: 1, decayMask: mask });
const rng = Rng.stream(0, "sft");
const nB = +B;
const t0 = Date.now();
let loss = 0, n = 0;
const f = (x: number) => (100 * x).toFixed(1);
const evalAt = async (s: number) => {
  const ev = await evaluateSplits(params, model, tok, cfg, { episodes: +episodes, env: spec, keepRecords: process.env.SHOW ? 2 : 0 });
  if (process.env.SHOW) for (const sp of ["id", "ood"]) for (const r of ev[sp as "id" | "ood"].records ?? []) console.log(`--- ${sp}\n${JSON.stringify(r).slice(0, 2000)}`);
  const row = spec.evalRow(ev as never);
  console.log(`sft step ${s} (${((Date.now() - t0) / 1000).toFixed(0)}s) loss ${(loss / Math.max(n, 1)).toFixed(3)} | ID per-step ${f(row.idPerStep)}±${f(row.idPerStepStdErr)} success ${f(row.idSuccess)} parsed ${f(row.idParsed)} | OOD per-step ${f(row.oodPerStep)}±${f(row.oodPerStepStdErr)} success ${f(row.oodSuccess)} parsed ${f(row.oodParsed)} first answers: in the prompt's space ${f(row.oodPromptSpace)}, relative turns ${f(row.oodPromptTurn)} (ID: absolute turns ${f(row.idPromptTurn)}), absolute turns ${f(row.oodTrainingSpace)}, correct ${f(row.oodFirstCorrect)}`);
  loss = 0; n = 0;
};
if (at.includes(0)) await evalAt(0);
for (let s = 1; s <= Math.max(...at); s++) {
  const x = new Int32Array(nB * T), y = new Int32Array(nB * T), m = new Float32Array(nB * T);
  for (let b = 0; b < nB; b++) { const e = ex[rng.int(ex.length)]; x.set(e.x, b * T); y.set(e.y, b * T); m.set(e.mask, b * T); }
  const out = step.step(params, opt, [np.array(x, { dtype: np.int32 }).reshape([nB, T]), np.array(y, { dtype: np.int32 }).reshape([nB, T]), np.array(m).reshape([nB, T])], +lr, s);
  params = out.params; opt = out.opt; loss += (await out.loss.data())[0]; n++; out.gradNorm.dispose(); for (const a of out.aux) a.dispose();
  if (at.includes(s)) await evalAt(s);
}
process.exit(0);
