// Pilot (issue 25, found by scripts/pilots/kernel-audit.mts on the tokenizer study's reader LM): a training step of
// omni's text-LM shape (d 64, 2 layers, 4 heads, SwiGLU, RMSNorm, RoPE, vocab 64, batch 32) whose MLP hidden width
// is 171 (64 × 8/3 rounded, the presets') against 172 and 176, and whose sequence is 43 or 44 tokens, in interleaved
// rounds in one process, 1 wasm thread: ms per step (median of 10 after 3 warm-up steps). Odd widths fall off jax-js's
// SIMD matmul kernels (tiles of 4 outputs or 4 reduction steps).
// Usage: TINYFOUNDRY_THREADS=1 [VARIANTS=171x43,176x44] npx tsx scripts/pilots/speed-odd-widths.mts [rounds]
import { initEngine } from "../../src/engine/index.js";
import { defaultLMConfig, type LMConfig } from "../../src/nn/transformer.js";
import { lmStepRunner, timeInterleaved } from "./lm-step-timing.mjs";

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
  return { label: v.label, run: lmStepRunner(cfg, 32, v.T) };
});
await timeInterleaved(setups, rounds);
