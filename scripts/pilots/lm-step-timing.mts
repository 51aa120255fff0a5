// Shared by the speed pilots that time one LM training step against variants of its shape (speed-odd-widths,
// speed-vocab): a step closure over its own params, AdamW state and batches, and interleaved timing rounds.
import { np, crossEntropy, type Array } from "../../src/engine/index.js";
import { initLM, lmForward, type LMConfig, type LMParams } from "../../src/nn/transformer.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../../src/optim/adamw.js";
import { makeTrainStep } from "../../src/train/step.js";
import { Rng } from "../../src/util/rng.js";

/** One AdamW training step of `cfg` on random tokens below `tokenBound`, batch [B, T], each call a new batch. */
export function lmStepRunner(cfg: LMConfig, B: number, T: number, tokenBound = cfg.vocabSize): () => Promise<void> {
  let params = initLM(cfg, 0);
  let opt = adamwInit(params);
  const { step } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
  const rng = new Rng(0, "pilot");
  const batch = () => [0, 1].map(() => np.array(Int32Array.from({ length: B * T }, () => rng.int(tokenBound)), { dtype: np.int32 }).reshape([B, T]));
  let i = 0;
  return async () => {
    const [x, y] = batch();
    const o = step(params, opt, [x, y], 1e-3, ++i);
    params = o.params;
    opt = o.opt;
    await o.loss.data();
    o.gradNorm.dispose();
  };
}

/** Time the setups in `rounds` interleaved rounds (3 warm-up steps each first): per round the median of 10 steps, printed per setup. */
export async function timeInterleaved(setups: { label: string; run: () => Promise<void> }[], rounds: number): Promise<void> {
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
}
