// Pilot (issues 24 and 25, after scripts/pilots/kernel-audit.mts found sft-vs-rl's head matmuls at 14-19 GFLOP/s): a
// training step of sft-vs-rl's stage-0 shape (d 128, 2 layers, 4 heads, GeLU MLP 4x, RMSNorm, RoPE, tied head, batch
// 32, 128 positions) with its phrase-byte vocabulary of 483 against 484, 488 and 512, in interleaved rounds in one
// process, 1 wasm thread: ms per step (median of 10 after 3 warm-up steps). Tokens are drawn below 483 in every
// variant, so the larger vocabularies only add head rows no target uses.
// Usage: TINYFOUNDRY_THREADS=1 [VOCABS=483,484] npx tsx scripts/pilots/speed-vocab.mts [rounds]
import { initEngine, np, crossEntropy, type Array } from "../../src/engine/index.js";
import { defaultLMConfig, initLM, lmForward, type LMConfig, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { Rng } from "../../src/util/rng.js";

await initEngine();
const rounds = Number(process.argv[2] ?? 3);
const vocabs = (process.env.VOCABS ?? "483,484,488,512").split(",").map(Number);
const B = 32;
const T = 128;
const setups = vocabs.map((V) => {
  const cfg: LMConfig = { ...defaultLMConfig, vocabSize: V, dModel: 128, nLayers: 2, nHeads: 4, contextLength: 256, norm: "rms", pos: "rope", mlp: "gelu", mlpRatio: 4, tiedHead: true, bias: false };
  let params = initLM(cfg, 0);
  let opt = adamwInit(params);
  const { step } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
  const rng = new Rng(0, "pilot");
  const batch = () => [0, 1].map(() => np.array(Int32Array.from({ length: B * T }, () => rng.int(483)), { dtype: np.int32 }).reshape([B, T]));
  let i = 0;
  const run = async () => {
    const [x, y] = batch();
    const o = step(params, opt, [x, y], 1e-3, ++i);
    params = o.params;
    opt = o.opt;
    await o.loss.data();
    o.gradNorm.dispose();
  };
  return { label: `vocab ${V}`, run };
});
const ms: Record<string, number[]> = Object.fromEntries(setups.map((s) => [s.label, []]));
for (let r = 0; r < rounds; r++)
  for (const s of setups) {
    if (r === 0) for (let w = 0; w < 3; w++) await s.run();
    const t: number[] = [];
    for (let k = 0; k < 10; k++) {
      const t0 = performance.now();
      await s.run();
      t.push(performance.now() - t0);
    }
    t.sort((a, b) => a - b);
    ms[s.label].push(t[5]);
  }
for (const [k, v] of Object.entries(ms)) console.log(`${k}: ${v.map((x) => x.toFixed(1)).join(" / ")} ms per step`);
