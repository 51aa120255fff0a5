/**
 * Generation benchmark for the SFT-vs-RL experiment (issue 8): generated tokens/s of batched KV-cache sampling on
 * the quick preset's model (d 64, 2 layers, context 256, phrase-byte vocabulary) with real GeneralPoints prompts
 * (~60-110 tokens), 48 new tokens, temperature 0.2, comparing in one process run
 *   - the batched prefill (`generate(..., {batchedPrefill: true})`, one forward pass over the prompts), and
 *   - the step-by-step prefill (one decode step per prompt token): the baseline,
 * at batch 1, 16 and 64 (after a warm-up call per shape, so compile time is excluded and reported separately).
 * Run alone: `npx tsx bench/sft-vs-rl.ts`.
 */
import { pathToFileURL } from "node:url";
import { initEngine, tree } from "../src/engine/index.js";
import { GeneralPointsEnv } from "../src/envs/index.js";
import { generate } from "../src/nn/generate.js";
import { initLM } from "../src/nn/transformer.js";
import { renderChat, setup, sftVsRlPresets } from "../src/papers/sft-vs-rl/index.js";
import { Rng } from "../src/util/rng.js";
import type { BenchFigure, BenchFn } from "./types.js";

export const bench: BenchFn = async () => {
  await initEngine();
  const cfg = sftVsRlPresets.quick;
  const { tok, model } = setup(cfg);
  const params = initLM(model, 0);
  const newTokens = cfg.sampling.maxNewTokens;
  const figures: BenchFigure[] = [];
  for (const B of [1, 16, 64]) {
    const prompts = Array.from({ length: B }, (_, i) => {
      const env = new GeneralPointsEnv({ split: i % 2 ? "ood" : "id" });
      return renderChat(tok, [{ role: "user", content: env.reset(1000 + i).text }], model.contextLength - newTokens);
    });
    const time = async (batchedPrefill: boolean) => {
      const opts = { maxNewTokens: newTokens, temperature: 0.2, rng: new Rng(0, "bench"), batchedPrefill, prefillBucket: 32 };
      let t0 = performance.now();
      await generate(params, model, prompts, opts);
      const firstMs = performance.now() - t0;
      t0 = performance.now();
      const r = await generate(params, model, prompts, opts);
      const ms = performance.now() - t0;
      const generated = r.tokens.reduce((s, t) => s + t.length, 0);
      return { tokS: (generated / ms) * 1000, firstMs, ms };
    };
    const step = await time(false);
    const pre = await time(true);
    const meanPrompt = prompts.reduce((s, p) => s + p.length, 0) / B;
    figures.push({ bench: "sft-vs-rl", metric: `generate tokens/s, batched prefill, B=${B}`, value: pre.tokS, unit: "tokens/s", baseline: "step-by-step prefill", ratio: pre.tokS / step.tokS, promptTokens: meanPrompt, newTokens, callMs: pre.ms, firstCallMs: pre.firstMs });
    figures.push({ bench: "sft-vs-rl", metric: `generate tokens/s, step-by-step prefill, B=${B}`, value: step.tokS, unit: "tokens/s", promptTokens: meanPrompt, newTokens, callMs: step.ms, firstCallMs: step.firstMs });
  }
  tree.dispose(params);
  return figures;
};

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of await bench()) console.log(JSON.stringify(f));
  process.exit(0);
}
