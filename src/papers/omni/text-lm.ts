/**
 * The text-only backbone (the paper's "pretrained LLM", here trained from scratch on the world's
 * statements and written questions) and the text evaluation every omni model gets: held-out text
 * NLL per token and written-question accuracy (one-word answers, chance 10 %).
 */
import { crossEntropy, disposeTree, jit, refTree, type Array } from "../../engine/index.js";
import { lmForward, initLM, paramCount, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { trainLoop } from "../../train/loop.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { formats, type Formats } from "./sequences.js";
import { cachedJit, lmConfigOf, packText, pickText, sched, textExample, type OmniData } from "./prepare.js";
import type { TextLmSummary } from "./summary.js";

/** Held-out text NLL (per token) and written-question accuracy of an LM. */
export async function evalText(lm: LMParams, lmCfg: LMConfig, data: OmniData, f: Formats, B: number, T: number): Promise<{ textNll: number; textQaAcc: number; textQaN: number }> {
  const fwd = cachedJit(["text", lmCfg], () => jit((p: LMParams, tokens: Array) => lmForward(p, lmCfg, tokens).logits));
  let nll = 0;
  let n = 0;
  let correct = 0;
  let nq = 0;
  const items = data.textEval;
  for (let i = 0; i < items.length; i += B) {
    const chunk = items.slice(i, i + B);
    const exs = chunk.map((x) => textExample(f, x));
    while (exs.length < B) exs.push(exs[0]);
    const { tokens, tgt, mask } = packText(exs, B, T);
    tgt.dispose();
    mask.dispose();
    const logits = (await fwd(refTree(lm), tokens).data()) as Float32Array;
    const V = lmCfg.vocabSize;
    chunk.forEach((x, b) => {
      const e = exs[b];
      e.textTgt.forEach((y, t) => {
        if (y < 0) return;
        const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
        let mx = -Infinity;
        let arg = 0;
        for (let v = 0; v < V; v++) if (row[v] > mx) [mx, arg] = [row[v], v];
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(row[v] - mx);
        nll += Math.log(z) - (row[y] - mx);
        n++;
        if (x.q && e.ids[t] === data.tok.id("<answer>")) {
          nq++;
          if (arg === y) correct++;
        }
      });
    });
  }
  return { textNll: nll / Math.max(1, n), textQaAcc: correct / Math.max(1, nq), textQaN: nq };
}

/** Weight decay only on linear weights named `w` (the foundation's rule); `p` is disposed. */
export function decayMaskOf(p: unknown): unknown {
  const mask = (x: unknown, key: string): unknown => {
    if (x && typeof x === "object" && "shape" in x && !Array.isArray(x)) return key === "w";
    if (Array.isArray(x)) return x.map((y) => mask(y, key));
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mask(v, k)]));
    return false;
  };
  const m = mask(p, "");
  disposeTree(p);
  return m;
}

/**
 * Train an LM from scratch on `nextBatch` (tokens, targets, mask) with the text LM's recipe: AdamW (β 0.9/0.95,
 * weight decay 0.1 on matrices), clip 1, `sched(train)`, one checkpoint at the end; shared by the text LM and the
 * tokenizer study's reader LM. Returns the loop's result (params and optimizer state, to dispose) and the size.
 */
export async function trainLmFromScratch(
  lmCfg: LMConfig,
  seed: number,
  train: { steps: number; lr: number; warmupSteps: number; batchSize: number },
  tokensPerStep: number,
  stream: string,
  nextBatch: (rng: Rng) => Array[],
  run: RunDir,
  ctx: ExperimentContext,
  arm: string,
) {
  const lossFn = (p: LMParams, x: Array, y: Array, m: Array) => crossEntropy(lmForward(p, lmCfg, x).logits, y, m);
  const probe = initLM(lmCfg, seed);
  const nParams = paramCount(probe);
  disposeTree(probe);
  const step = makeTrainStep(lossFn, { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1, decayMask: decayMaskOf(initLM(lmCfg, seed)) });
  const res = await trainLoop<LMParams>({
    run,
    totalSteps: train.steps,
    init: () => {
      const params = initLM(lmCfg, seed);
      return { params, opt: adamwInit(params) };
    },
    trainStep: step,
    rngs: { data: Rng.stream(seed, stream) },
    nextBatch: (_s, rngs) => nextBatch(rngs.data),
    lr: sched(train),
    tokensPerStep,
    evalEvery: train.steps,
    checkpointEvery: train.steps,
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, arm),
  });
  step.dispose();
  return { res, nParams };
}

/** Train the text LM (arm `text-lm`) and evaluate it on held-out text. */
export async function trainTextLM(cfg: OmniExperimentConfig, data: OmniData, run: RunDir, ctx: ExperimentContext, arm: string): Promise<TextLmSummary> {
  const lmCfg = lmConfigOf(cfg, data.tok);
  const f = formats(data.tok, { ...cfg.omni.vision, image: 28 });
  const B = cfg.textLm.train.batchSize;
  const T = cfg.textLm.seqLen;
  const { res, nParams } = await trainLmFromScratch(lmCfg, cfg.seed, cfg.textLm.train, B * T, "data:text-lm", (rng) => {
    const exs = Array.from({ length: B }, () => textExample(f, pickText(data, rng)));
    const { tokens, tgt, mask } = packText(exs, B, T);
    return [tokens, tgt, mask];
  }, run, ctx, arm);
  const ev = await evalText(res.params, lmCfg, data, f, B, T);
  disposeTree(res.params);
  disposeTree(res.opt);
  return { status: res.status, steps: res.step, params: nParams, finalLoss: res.lastLoss, ...ev };
}
