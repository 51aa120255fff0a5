/**
 * Stage 0 of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161): the "pretrained model".
 * The paper starts from Llama-3.2-11B; we pretrain a tiny LM on the synthetic skills corpus (`corpus.ts`: arithmetic
 * over 1..13, rule sentences with random face-card values, and with navigation compass turns and action-space
 * binding; never the task itself), then probe the skills greedily. Arm `stage0`.
 */
import { writeFileSync } from "node:fs";
import { crossEntropy, disposeTree, np } from "../../engine/index.js";
import { generate } from "../../nn/generate.js";
import { initLM, lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { warmupCosine } from "../../optim/schedule.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { trainLoop } from "../../train/loop.js";
import { makeTrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import type { SftVsRlConfig } from "./config.js";
import { actionSpaceProbes, arithmeticProbes, compassProbes, mixFor, ruleProbes, stage0Corpus } from "./corpus.js";
import type { Stage0Summary } from "./summary.js";
import type { PhraseTokenizer } from "./tokenizer.js";

type Probe = { prompt: string; answer: string };

/**
 * Greedy-completion probes of the stage-0 model: expression values and rule reading; with navigation also
 * action-space reading (which of a turn sentence's two directions the listed action space allows) and compass turns.
 */
async function stage0Probes(lm: LMParams, model: LMConfig, tok: PhraseTokenizer, cfg: SftVsRlConfig): Promise<{ arithmetic: number; rule: number; actionSpace?: number; compass?: number; examples: string[] }> {
  const rng = Rng.stream(cfg.seed, "stage0-probes");
  const score = async (probes: Probe[]) => {
    const prompts = probes.map((p) => tok.encode(p.prompt));
    let ok = 0;
    const ex: string[] = [];
    for (let i = 0; i < prompts.length; i += 64) {
      const chunk = prompts.slice(i, i + 64);
      const r = await generate(lm, model, chunk, { maxNewTokens: 16, temperature: 0, batchedPrefill: true, prefillBucket: 32, stopWhen: (g) => /[\n\]]/.test(tok.decode(g)) });
      r.tokens.forEach((t, k) => {
        const got = tok.decode(t).split("\n")[0];
        const p = probes[i + k];
        const want = p.answer;
        if (got === want || (got.startsWith(want) && /^\D?$/.test(got.slice(want.length)))) ok++;
        if (ex.length < 6) ex.push(`${p.prompt.split("\n").slice(-1)[0]}${got}    (expected ${want})`);
      });
    }
    return { acc: ok / probes.length, ex };
  };
  const a = await score(arithmeticProbes(rng, cfg.stage0.probes));
  const r = await score(ruleProbes(rng, cfg.stage0.probes));
  if (!cfg.envs.includes("navigation")) return { arithmetic: a.acc, rule: r.acc, examples: [...a.ex, ...r.ex] };
  const nrng = Rng.stream(cfg.seed, "stage0-probes-navigation");
  const s = await score(actionSpaceProbes(nrng, cfg.stage0.probes));
  const c = await score(compassProbes(nrng, cfg.stage0.probes));
  return { arithmetic: a.acc, rule: r.acc, actionSpace: s.acc, compass: c.acc, examples: [...a.ex, ...r.ex, ...s.ex, ...c.ex] };
}

/** Pretrain (or keep) the stage-0 model in arm `stage0` and probe its skills. One stage-0 model serves every task. */
export async function runStage0(cfg: SftVsRlConfig, ctx: ExperimentContext, tok: PhraseTokenizer, model: LMConfig): Promise<Stage0Summary> {
  const withNav = cfg.envs.includes("navigation");
  const armConfig = withNav ? { ...cfg.stage0, envs: cfg.envs, navigationCorpusShare: cfg.navigation.corpusShare } : cfg.stage0;
  return runArm<Stage0Summary>(ctx, "stage0", armConfig, async (run, resume) => {
    const text = stage0Corpus(Rng.stream(cfg.seed, "stage0-corpus"), cfg.stage0.corpusChars, mixFor(cfg.envs, cfg.navigation.corpusShare));
    const ids = Int32Array.from(tok.encode(text));
    writeFileSync(`${run.samplesDir}/corpus-head.txt`, text.slice(0, 3000));
    const B = cfg.stage0.batchSize;
    const T = cfg.stage0.seqLen;
    const probe = initLM(model, cfg.seed);
    const mask = defaultDecayMask(probe);
    disposeTree(probe);
    const step = makeTrainStep<LMParams>((p, x, y) => crossEntropy(lmForward(p, model, x).logits, y), { adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: cfg.stage0.clip, decayMask: mask });
    const res = await trainLoop<LMParams>({
      run,
      totalSteps: cfg.stage0.steps,
      init: () => {
        const params = initLM(model, cfg.seed);
        return { params, opt: adamwInit(params) };
      },
      trainStep: step,
      rngs: { data: Rng.stream(cfg.seed, "stage0-data") },
      nextBatch: (_s, rngs) => {
        const x = new Int32Array(B * T);
        const y = new Int32Array(B * T);
        for (let b = 0; b < B; b++) {
          const o = rngs.data.int(ids.length - T - 1);
          x.set(ids.subarray(o, o + T), b * T);
          y.set(ids.subarray(o + 1, o + T + 1), b * T);
        }
        return [np.array(x, { dtype: np.int32 }).reshape([B, T]), np.array(y, { dtype: np.int32 }).reshape([B, T])]; // [B, T] each
      },
      lr: (s) => warmupCosine(s, { lr: cfg.stage0.lr, warmupSteps: cfg.stage0.warmupSteps, totalSteps: cfg.stage0.steps, minLrRatio: cfg.stage0.minLrRatio }),
      tokensPerStep: B * T,
      evalEvery: cfg.stage0.steps,
      checkpointEvery: Math.min(cfg.stage0.steps, 100),
      resume,
      signal: ctx.signal,
      onProgress: (e) => ctx.onProgress(e, "stage0"),
    });
    step.dispose();
    const probes = await stage0Probes(res.params, model, tok, cfg);
    writeFileSync(`${run.samplesDir}/probes.txt`, probes.examples.join("\n") + "\n");
    disposeTree(res.params);
    disposeTree(res.opt);
    const nav = probes.actionSpace === undefined ? {} : { actionSpaceAccuracy: probes.actionSpace, compassAccuracy: probes.compass };
    return {
      seed: cfg.seed,
      finalLoss: res.lastLoss,
      corpusTokens: ids.length,
      corpusBytesPerToken: text.length / ids.length,
      arithmeticAccuracy: probes.arithmetic,
      ruleReadingAccuracy: probes.rule,
      ...nav,
      probes: cfg.stage0.probes,
      tokensPerSec: res.tokensPerSec,
    };
  });
}
