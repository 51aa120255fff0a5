// Pilot (issues 24 and 25, after scripts/pilots/kernel-audit.mts found sft-vs-rl's head matmuls at 14-19 GFLOP/s): a
// training step of sft-vs-rl's stage-0 shape (d 128, 2 layers, 4 heads, GeLU MLP 4x, RMSNorm, RoPE, tied head, batch
// 32, 128 positions) with its phrase-byte vocabulary of 483 against 484, 488 and 512, in interleaved rounds in one
// process, 1 wasm thread: ms per step (median of 10 after 3 warm-up steps). Tokens are drawn below 483 in every
// variant, so the larger vocabularies only add head rows no target uses.
// Usage: TINYFOUNDRY_THREADS=1 [VOCABS=483,484] npx tsx scripts/pilots/speed-vocab.mts [rounds]
import { initEngine } from "../../src/engine/index.js";
import { defaultLMConfig, type LMConfig } from "../../src/nn/transformer.js";
import { lmStepRunner, timeInterleaved } from "./lm-step-timing.mjs";

await initEngine();
const rounds = Number(process.argv[2] ?? 3);
const vocabs = (process.env.VOCABS ?? "483,484,488,512").split(",").map(Number);
const setups = vocabs.map((V) => {
  const cfg: LMConfig = { ...defaultLMConfig, vocabSize: V, dModel: 128, nLayers: 2, nHeads: 4, contextLength: 256, norm: "rms", pos: "rope", mlp: "gelu", mlpRatio: 4, tiedHead: true, bias: false };
  return { label: `vocab ${V}`, run: lmStepRunner(cfg, 32, 128, 483) };
});
await timeInterleaved(setups, rounds);
