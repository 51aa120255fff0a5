// Pilot (issue 25, found by scripts/pilots/kernel-audit.mts on the tokenizer study's reader LM): a training step of
// omni's text-LM shape (d 64, 2 layers, 4 heads, SwiGLU, RMSNorm, RoPE, vocab 64, batch 32) whose MLP hidden width
// is 171 (64 × 8/3 rounded, the presets') against 172 and 176, and whose sequence is 43 or 44 tokens, in interleaved
// rounds in one process, 1 wasm thread: ms per step (median of 10 after 3 warm-up steps). Odd widths fall off jax-js's
// SIMD matmul kernels (tiles of 4 outputs or 4 reduction steps).
// Usage: TINYFOUNDRY_THREADS=1 [VARIANTS=171x43,176x44] npx tsx scripts/pilots/speed-odd-widths.mts [rounds]
import { initEngine, np, crossEntropy, type Array } from "../../src/engine/index.js";
import { defaultLMConfig, initLM, lmForward, type LMConfig, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { Rng } from "../../src/util/rng.js";

await initEngine();
const rounds = Number(process.argv[2] ?? 3);
// VARIANTS="171x43,176x44" picks other widths × sequence lengths; a trailing "p" ("172x43p") sets the model's
// seqMultipleOf to 4 (the forward pads 43 to 44 and slices the padding off).
const variants = (process.env.VARIANTS ?? "171x43,172x43,176x44,171x44,172x43p").split(",").map((s) => {
  const [H, T] = s.replace("p", "").split("x").map(Number);
  const pad = s.endsWith("p");
  return { label: `H ${H}, T ${T}${pad ? " padded to 4" : ""}`, H, T, pad };
});
const setups = variants.map((v) => {
  const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 64, dModel: 64, nLayers: 2, nHeads: 4, contextLength: 48, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: v.H / 64, ...(v.pad ? { seqMultipleOf: 4 } : {}) };
  let params = initLM(cfg, 0);
  let opt = adamwInit(params);
  const { step } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
  const rng = new Rng(0, "pilot");
  const B = 32;
  const batch = () => [0, 1].map(() => np.array(Int32Array.from({ length: B * v.T }, () => rng.int(64)), { dtype: np.int32 }).reshape([B, v.T]));
  let i = 0;
  const run = async () => {
    const [x, y] = batch();
    const o = step(params, opt, [x, y], 1e-3, ++i);
    params = o.params;
    opt = o.opt;
    await o.loss.data();
    o.gradNorm.dispose();
  };
  return { ...v, run };
});
const ms: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.label, []]));
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
