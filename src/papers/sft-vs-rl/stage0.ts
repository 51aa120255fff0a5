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
import { actionSpaceProbes, arithmeticProbes, compassProbes, make24Probes, make24Solved, mixFor, NAV_MIX, nextActionProbes, ruleProbes, stage0Corpus, type Probe } from "./corpus.js";
import type { Stage0Summary } from "./summary.js";
import type { PhraseTokenizer } from "./tokenizer.js";

/** The stage-0 skill probes (greedy): shares in [0, 1]. */
export type Stage0Probes = {
  /** Two-operand expression values (these six: only when a GeneralPoints task is trained). */
  arithmetic?: number;
  /** Card numbers under a stated rule with random values (3 cards, at least one face card). */
  rule?: number;
  /** The same under the task's ID rule (10) and OOD rule (11/12/13). */
  ruleId?: number;
  ruleOod?: number;
  /** Plain-format make-24 (numbers then a formula reaching 24) under the ID and the OOD rule, hands dealt as the task deals. */
  make24Id?: number;
  make24Ood?: number;
  actionSpace?: number;
  compass?: number;
  /** Worked next action at turn points under the absolute and the relative action space (issue 24's navigation recipe). */
  nextActionAbsolute?: number;
  nextActionRelative?: number;
  examples: string[];
};

/**
 * Greedy-completion probes of a stage-0 model: with a GeneralPoints task (GP-L or GP-VL) expression values, rule
 * reading (random, ID and OOD rules) and plain make-24; with navigation action-space reading (which of a turn
 * sentence's two directions the listed action space allows), compass turns and the worked next action. Each family
 * draws its probes from its own stream, so a navigation-only run (which no GeneralPoints gate reads) skips the
 * GeneralPoints probes and keeps the navigation probes' values (stage0.test.ts).
 */
export async function stage0Probes(lm: LMParams, model: LMConfig, tok: PhraseTokenizer, cfg: Pick<SftVsRlConfig, "seed" | "envs"> & { stage0: { probes: number }; cards?: 3 | 4 }): Promise<Stage0Probes> {
  const rng = Rng.stream(cfg.seed, "stage0-probes");
  const n = cfg.stage0.probes;
  const complete = async (prompts: string[], maxNewTokens: number, stop: RegExp): Promise<string[]> => {
    const out: string[] = [];
    const ids = prompts.map((p) => tok.encode(p));
    for (let i = 0; i < ids.length; i += 64) {
      const r = await generate(lm, model, ids.slice(i, i + 64), { maxNewTokens, temperature: 0, batchedPrefill: true, prefillBucket: 32, stopWhen: (g) => stop.test(tok.decode(g)) });
      for (const t of r.tokens) out.push(tok.decode(t));
    }
    return out;
  };
  const examples: string[] = [];
  const score = async (probes: Probe[]) => {
    const got = await complete(probes.map((p) => p.prompt), 16, /[\n\]]/);
    let ok = 0;
    got.forEach((g0, k) => {
      const g = g0.split("\n")[0];
      const want = probes[k].answer;
      if (g === want || (g.startsWith(want) && /^\D?$/.test(g.slice(want.length)))) ok++;
      if (k < 3) examples.push(`${probes[k].prompt.split("\n").slice(-1)[0]}${g}    (expected ${want})`);
    });
    return ok / probes.length;
  };
  const make24 = async (which: "id" | "ood") => {
    const cards = cfg.cards ?? 3;
    const probes = make24Probes(rng, n, which, cards);
    const got = await complete(probes.map((p) => p.prompt), cards === 4 ? 40 : 24, /(?:formula|Make 24|Solution): [^\n]*\n/);
    got.slice(0, 3).forEach((g, k) => examples.push(`${probes[k].prompt.split("\n").slice(-2).join(" / ")}${g.trim().replace(/\n/g, " / ")}`));
    return got.filter((g, k) => make24Solved(g, probes[k].values)).length / n;
  };
  const withGp = cfg.envs.includes("general-points") || cfg.envs.includes("general-points-vl");
  const base = withGp
    ? {
        arithmetic: await score(arithmeticProbes(rng, n)),
        rule: await score(ruleProbes(rng, n)),
        ruleId: await score(ruleProbes(rng, n, "id")),
        ruleOod: await score(ruleProbes(rng, n, "ood")),
        make24Id: await make24("id"),
        make24Ood: await make24("ood"),
      }
    : {};
  if (!cfg.envs.includes("navigation")) return { ...base, examples };
  const nrng = Rng.stream(cfg.seed, "stage0-probes-navigation");
  const nav = { actionSpace: await score(actionSpaceProbes(nrng, n)), compass: await score(compassProbes(nrng, n)) };
  const narng = Rng.stream(cfg.seed, "stage0-probes-next-action");
  return { ...base, ...nav, nextActionAbsolute: await score(nextActionProbes(narng, n, "absolute")), nextActionRelative: await score(nextActionProbes(narng, n, "relative")), examples };
}

/** Pretrain (or keep) the stage-0 model in arm `stage0` and probe its skills. One stage-0 model serves every task. */
export async function runStage0(cfg: SftVsRlConfig, ctx: ExperimentContext, tok: PhraseTokenizer, model: LMConfig): Promise<Stage0Summary> {
  const withNav = cfg.envs.includes("navigation");
  // A 4-card task changes the corpus and the make-24 probes: the arm's config says so (3 cards: as before).
  const s0 = cfg.cards === 4 ? { ...cfg.stage0, cards: 4 } : cfg.stage0;
  const armConfig = withNav ? { ...s0, envs: cfg.envs, navigationCorpusShare: cfg.navigation.corpusShare, navigationMix: NAV_MIX } : s0;
  return runArm<Stage0Summary>(ctx, "stage0", armConfig, async (run, resume) => {
    const text = stage0Corpus(Rng.stream(cfg.seed, "stage0-corpus"), cfg.stage0.corpusChars, mixFor(cfg.envs, cfg.navigation.corpusShare), cfg.cards);
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
    const nav = probes.actionSpace === undefined ? {} : { actionSpaceAccuracy: probes.actionSpace, compassAccuracy: probes.compass, nextActionAbsolute: probes.nextActionAbsolute, nextActionRelative: probes.nextActionRelative };
    return {
      seed: cfg.seed,
      finalLoss: res.lastLoss,
      corpusTokens: ids.length,
      corpusBytesPerToken: text.length / ids.length,
      arithmeticAccuracy: probes.arithmetic,
      ruleReadingAccuracy: probes.rule,
      ruleIdAccuracy: probes.ruleId,
      ruleOodAccuracy: probes.ruleOod,
      make24IdSolved: probes.make24Id,
      make24OodSolved: probes.make24Ood,
      ...nav,
      probes: cfg.stage0.probes,
      tokensPerSec: res.tokensPerSec,
    };
  });
}
