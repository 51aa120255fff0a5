/**
 * The two language tasks of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, §4) as the experiment sees them:
 * an `EnvSpec` says how to build the environment of a rule split, how to tag a first answer, which row of metrics
 * an evaluation gives, the headline metric (§5.1, Fig. 6: episode success for GeneralPoints, per-step accuracy for
 * V-IRL) and the paper's numbers. The experiment's stages (SFT init, PPO branch, SFT branch, evaluation, results)
 * take a spec instead of being hard-wired to one task.
 *
 * - GeneralPoints-language (§4.1): ID rule J/Q/K = 10, OOD rule J/Q/K = 11/12/13, verify_iter 5.
 * - Navigation, language only (§4.2, our V-IRL-L analogue in `src/envs/navigation`): ID = absolute action space
 *   (`turn_direction(north)` ...), OOD = relative action space (`turn_direction(left)` ...), verify_iter 2 per point
 *   (App. B.3). Per-step accuracy counts verification retries as separate samples (App. C.3).
 *
 * Context (navigation, stated in the README): the model's context is 256 tokens and 24 are kept for the answer (an
 * expert answer is at most 20 tokens + `<|end|>`). A rendered rail-point prompt is at most 230 tokens with our
 * tokenizer (measured over 2,000 routes per split: mean 113 ID / 105 OOD, p99 197 / 191), so it fits the
 * remaining 232 unshortened. Safety net for longer routes (never triggered in those measurements): a prompt over
 * the budget loses its oldest completed `O_i`/`A_i` pairs of the observation/action history (the labels of the rest
 * keep their numbers; the instruction, the action space and the current observation are always kept).
 */
import {
  ABSOLUTE_DIRECTIONS,
  binomialStdErr,
  GeneralPointsEnv,
  NavigationEnv,
  parseAnswer,
  readField,
  RELATIVE_DIRECTIONS,
  type CardCount,
  type RuleWording,
  type Env,
  type Observation,
  type StepResult,
} from "../../envs/index.js";
import type { Rng } from "../../util/rng.js";
import { vlSettings, type ExperimentEnv, type SftVsRlConfig } from "./config.js";
import type { LMEvalResult, SamplingConfig } from "./rollout.js";
import { ASSISTANT, END, USER, type PhraseTokenizer } from "./tokenizer.js";
import { cardImage, IMAGE_TEXT, recognizesCards, VL_RENDER_SIZE } from "./vision.js";

export const SPLITS = ["id", "ood"] as const;
/** The rule splits of both tasks: in distribution and rule OOD. */
export type GPSplit = (typeof SPLITS)[number];
export type RuleSplit = GPSplit;
/** Every evaluation split: the rule splits, and GP-VL's visual OOD (red suits, ID rule). */
export type EvalSplit = GPSplit | "visual-ood";
/** Metrics-row prefix of a split (`visual-ood` → `vis`). */
export const splitKey = (s: EvalSplit): string => (s === "visual-ood" ? "vis" : s);

/** The paper's numbers (§5.1, Fig. 6, GP-L rule OOD; success rate in %). */
export const PAPER_GP_L = { init: 11.5, rl: 15.0, sft: 3.4 } as const;
/** The paper's numbers for GP-VL (§5.1 Fig. 6 rule OOD; §5.2 Fig. 7 visual OOD; success rate in %). */
export const PAPER_GP_VL = { init: 11.2, rl: 14.2, sft: 5.6, visual: { init: 23.6, rl: 41.2, sft: 13.7 } } as const;
/** The paper's numbers (§5.1, Fig. 6, V-IRL-L rule OOD; per-step accuracy in %): RL +11.0, SFT −79.5. */
export const PAPER_VIRL_L = { init: 80.8, rl: 91.8, sft: 1.3 } as const;

// ---- GeneralPoints ----------------------------------------------------------------------------------------------

/** The environment of a split (language variant), with `cards` cards per hand (paper: 4). */
export function gpEnv(split: EvalSplit, verifyIter: number, cards: CardCount = 4, ruleWording: RuleWording = "paper"): Env {
  return new GeneralPointsEnv({ split, variant: "language", verifyIter, cards, ruleWording });
}

/** Tags for the first answer of a GP episode: parsed, and which rule its "number" list follows. */
export function gpAnswerTags(env: Env, answer: string): string[] {
  const e = env as GeneralPointsEnv;
  const tags: string[] = [];
  if (parseAnswer(answer).formula !== "None") tags.push("parsed");
  const m = /"number": \[([^\]]*)\]/.exec(answer);
  if (m) {
    const nums = m[1].split(",").map((s) => Number(s.trim()));
    const hand = e.currentHand;
    const same = (xs: number[]) => xs.length === nums.length && xs.every((v, i) => v === nums[i]);
    const idVals = hand.cards.map((c) => Math.min(c.rank, 10));
    if (same(hand.values)) tags.push("numbers-follow-prompt-rule");
    if (hand.rule === "ood" && same(idVals)) tags.push("numbers-follow-training-rule");
  }
  return tags;
}

/** Metrics row of a GP evaluation (success ± SE, mean reward, first-answer tag rates). */
export function gpEvalRow(r: Record<string, LMEvalResult>): Record<string, number> {
  const row: Record<string, number> = {};
  for (const [split, e] of Object.entries(r)) {
    row[`${split}Success`] = e.successRate;
    row[`${split}StdErr`] = e.stdErr;
    row[`${split}MeanReward`] = e.meanReward;
    row[`${split}Parsed`] = (e.firstAnswerTags.parsed ?? 0) / e.episodes;
    row[`${split}PromptRule`] = (e.firstAnswerTags["numbers-follow-prompt-rule"] ?? 0) / e.episodes;
    if (split === "ood") row.oodTrainingRule = (e.firstAnswerTags["numbers-follow-training-rule"] ?? 0) / e.episodes;
  }
  return row;
}

// ---- GeneralPoints-VL -------------------------------------------------------------------------------------------

/**
 * GeneralPoints-VL (the environment's vision variant, black suits; `visual-ood`: red suits): the prompt text is the
 * VL template preceded by the image placeholders, and `image()` is the current hand's grayscale card band.
 */
export class VisionGPEnv implements Env {
  readonly name = "general-points-vl";
  readonly inner: GeneralPointsEnv;
  private img: Float32Array | null = null;
  constructor(split: EvalSplit, verifyIter: number) {
    this.inner = new GeneralPointsEnv({ split, variant: "vision", verifyIter, imageSize: VL_RENDER_SIZE });
  }
  reset(seed: number): Observation {
    const o = this.inner.reset(seed);
    this.img = null;
    return { ...o, text: IMAGE_TEXT + o.text };
  }
  /** The image the policy sees: [36 × 112] grayscale of the current hand. */
  image(): Float32Array {
    return (this.img ??= cardImage(this.inner.currentHand.cards));
  }
  step(answerText: string): StepResult {
    return this.inner.step(answerText);
  }
  expertAnswer(): string {
    return this.inner.expertAnswer();
  }
  randomAnswer(rng: Rng): string {
    return this.inner.randomAnswer(rng);
  }
}

/** Tags for the first answer of a GP-VL episode: GeneralPoints' tags plus "cards-recognized" (§5.3). */
export function gpVlAnswerTags(env: Env, answer: string): string[] {
  const e = (env as VisionGPEnv).inner;
  const tags = gpAnswerTags(e, answer);
  if (recognizesCards(e.currentHand, answer)) tags.push("cards-recognized");
  return tags;
}

/** GP-VL metrics row: GeneralPoints' row per split (visual OOD under `vis`) plus card-recognition accuracy. */
export function gpVlEvalRow(r: Record<string, LMEvalResult>): Record<string, number> {
  const row: Record<string, number> = {};
  for (const [split, e] of Object.entries(r)) {
    const k = splitKey(split as EvalSplit);
    const base = gpEvalRow({ [k]: e });
    Object.assign(row, base);
    row[`${k}Recognition`] = (e.firstAnswerTags["cards-recognized"] ?? 0) / e.episodes;
    row[`${k}RecognitionStdErr`] = binomialStdErr(e.firstAnswerTags["cards-recognized"] ?? 0, e.episodes);
  }
  return row;
}

// ---- navigation -------------------------------------------------------------------------------------------------

const HISTORY_HEAD = "[Observations and actions sequence]\n";

/** Tokens `renderChat` spends on a single-message task prompt. */
function promptTokens(tok: PhraseTokenizer, text: string): number {
  return tok.encode(USER + text + END).length + tok.encode(ASSISTANT).length;
}

/**
 * Shorten a navigation prompt to at most `maxTokens` rendered tokens by dropping the oldest completed
 * `O_i: ...\nA_i: ...\n` pairs of its history (the current `O_k`/`A_k: ` pair, the instruction, the action space
 * and the output format stay). Returns the text and how many pairs were dropped; throws when even the shortest
 * form does not fit.
 */
export function fitNavigationPrompt(tok: PhraseTokenizer, text: string, maxTokens: number): { text: string; dropped: number } {
  if (promptTokens(tok, text) <= maxTokens) return { text, dropped: 0 };
  const at = text.indexOf(HISTORY_HEAD);
  if (at < 0) throw new Error("fitNavigationPrompt: the prompt has no observation/action history section");
  const head = text.slice(0, at + HISTORY_HEAD.length);
  let rest = text.slice(at + HISTORY_HEAD.length);
  let dropped = 0;
  for (;;) {
    const m = /^O_\d+: [^\n]*\nA_\d+: [^\n]+\n/.exec(rest); // a completed pair (its action is not empty)
    if (!m) throw new Error(`fitNavigationPrompt: the prompt does not fit in ${maxTokens} tokens even without its history (${promptTokens(tok, head + rest)} tokens)`);
    rest = rest.slice(m[0].length);
    dropped++;
    if (promptTokens(tok, head + rest) <= maxTokens) return { text: head + rest, dropped };
  }
}

/**
 * The navigation environment with prompts that fit the model's context (see the deviation at the top of this file).
 * Grading, rewards, expert and random answers are the inner environment's; only the prompt text shown is shortened.
 */
export class FittedNavigationEnv implements Env {
  readonly name = "navigation";
  readonly inner: NavigationEnv;
  /** Prompts shown so far and how many of them were shortened. */
  prompts = 0;
  shortened = 0;
  constructor(
    split: GPSplit,
    verifyIter: number,
    private readonly tok: PhraseTokenizer,
    private readonly maxPromptTokens: number,
    legs?: readonly [number, number],
  ) {
    this.inner = new NavigationEnv({ split, verifyIter, route: legs ? { minLegs: legs[0], maxLegs: legs[1] } : {} });
  }
  private fit(o: Observation): Observation {
    this.prompts++;
    const f = fitNavigationPrompt(this.tok, o.text, this.maxPromptTokens);
    if (f.dropped > 0) this.shortened++;
    return { ...o, text: f.text };
  }
  reset(seed: number): Observation {
    return this.fit(this.inner.reset(seed));
  }
  step(answerText: string): StepResult {
    const r = this.inner.step(answerText);
    return r.observation.kind === "prompt" ? { ...r, observation: this.fit(r.observation) } : r;
  }
  expertAnswer(): string {
    return this.inner.expertAnswer();
  }
  randomAnswer(rng: Rng): string {
    return this.inner.randomAnswer(rng);
  }
}

/** A navigation environment of a split whose prompts fit `maxPromptTokens` rendered tokens. */
export function navEnv(split: GPSplit, verifyIter: number, tok: PhraseTokenizer, maxPromptTokens: number, legs?: readonly [number, number]): FittedNavigationEnv {
  return new FittedNavigationEnv(split, verifyIter, tok, maxPromptTokens, legs);
}

const ABS = ABSOLUTE_DIRECTIONS as readonly string[];
const REL = RELATIVE_DIRECTIONS as readonly string[];

/**
 * Tags for the first answer of a navigation episode (the start point, whose expert action is always a turn):
 * parsed (an "action" field), the action is in the prompt's action space (any action; and a turn in it: the
 * expert's first action is always a turn), it is in the training (absolute) space
 * although the prompt asks for relative actions (the memorization signature), it is the expert action.
 */
export function navAnswerTags(env: Env, answer: string): string[] {
  const e = env instanceof FittedNavigationEnv ? env.inner : (env as NavigationEnv);
  const tags: string[] = [];
  const action = readField(answer, "action");
  if (action !== "None") tags.push("parsed");
  const dir = /^turn_direction\((.*)\)$/.exec(action)?.[1];
  const space = e.actionSpace === "absolute" ? ABS : REL;
  if (action === "forward()" || action === "stop()" || (dir !== undefined && space.includes(dir))) tags.push("action-in-prompt-space");
  if (dir !== undefined && space.includes(dir)) tags.push("turn-in-prompt-space");
  if (e.actionSpace === "relative" && dir !== undefined && ABS.includes(dir)) tags.push("action-in-training-space");
  if (action === e.expertAction()) tags.push("correct");
  return tags;
}

/** Metrics row of a navigation evaluation: per-step accuracy ± SE, route success ± SE, first-answer tag rates. */
export function navEvalRow(r: Record<string, LMEvalResult>): Record<string, number> {
  const row: Record<string, number> = {};
  for (const [split, e] of Object.entries(r)) {
    row[`${split}PerStep`] = e.perStepAccuracy;
    row[`${split}PerStepStdErr`] = binomialStdErr(Math.round(e.perStepAccuracy * e.gradedSteps), e.gradedSteps);
    row[`${split}GradedSteps`] = e.gradedSteps;
    row[`${split}Success`] = e.successRate;
    row[`${split}StdErr`] = e.stdErr;
    row[`${split}MeanReward`] = e.meanReward;
    row[`${split}Parsed`] = (e.firstAnswerTags.parsed ?? 0) / e.episodes;
    row[`${split}PromptSpace`] = (e.firstAnswerTags["action-in-prompt-space"] ?? 0) / e.episodes;
    row[`${split}FirstCorrect`] = (e.firstAnswerTags.correct ?? 0) / e.episodes;
    if (split === "ood") row.oodTrainingSpace = (e.firstAnswerTags["action-in-training-space"] ?? 0) / e.episodes;
    // A turn in the prompt's space (the first expert action is always a turn; forward()/stop() are not counted here).
    row[`${split}PromptTurn`] = (e.firstAnswerTags["turn-in-prompt-space"] ?? 0) / e.episodes;
  }
  return row;
}

// ---- the description the experiment takes ------------------------------------------------------------------------

/** Everything the experiment needs to know about one task. */
export type EnvSpec = {
  name: ExperimentEnv;
  /** Short label of the paper's task ("GP-L", "V-IRL-L"). */
  label: string;
  /** Long name for headings. */
  title: string;
  /** Arm directory name of a stage ("sft-init" → "sft-init" for GP, "nav-sft-init" for navigation). */
  arm: (stage: "sft-init" | "ppo" | "sft") => string;
  /** PPO settings (verify_iter, answer key, updates, cosine length of this task). */
  ppo: SftVsRlConfig["ppo"];
  /** Sampling settings (this task's answer budget). */
  sampling: SamplingConfig;
  /** SFT-init settings (this task's steps, data size, padded length). */
  sftInit: SftVsRlConfig["sftInit"];
  /** Episodes per split and evaluation point. */
  episodes: number;
  makeEnv: (split: EvalSplit, verifyIter: number) => Env;
  /** Evaluation splits (default: ID and rule OOD). */
  splits?: readonly EvalSplit[];
  /** Image input (GP-VL): the image an environment currently shows. */
  image?: (env: Env) => Float32Array;
  answerTags: (env: Env, answer: string) => string[];
  evalRow: (r: Record<string, LMEvalResult>) => Record<string, number>;
  /** Headline metric: row keys `${split}${key}` and `${split}${seKey}`, and its name. */
  metric: { key: string; seKey: string; name: string };
  /** First-answer tag key (in the OOD row) of "answers follow the training rule", and its description. */
  trainingRuleKey: string;
  trainingRuleText: string;
  paper: { init: number; rl: number; sft: number; visual?: { init: number; rl: number; sft: number } };
  /** Host RNG stream name of the expert data's episode `i`, and of the eval sampler of a split. */
  dataStream: (i: number) => string;
  evalStream: (split: EvalSplit) => string;
};

/** The GeneralPoints spec: exactly the settings the experiment used before navigation existed. */
export function gpSpec(cfg: SftVsRlConfig): EnvSpec {
  return {
    name: "general-points",
    label: "GP-L",
    title: "GeneralPoints-language",
    arm: (s) => s,
    ppo: cfg.ppo,
    sampling: cfg.sampling,
    sftInit: cfg.sftInit,
    episodes: cfg.eval.episodes,
    makeEnv: (split, verifyIter) => gpEnv(split, verifyIter, cfg.cards, cfg.ruleWording),
    answerTags: gpAnswerTags,
    evalRow: gpEvalRow,
    metric: { key: "Success", seKey: "StdErr", name: "success rate" },
    trainingRuleKey: "oodTrainingRule",
    trainingRuleText: 'OOD first answers whose "number" list follows the training rule (J/Q/K = 10) instead of the prompt\'s',
    paper: PAPER_GP_L,
    dataStream: (i) => `sft-data-${i}`,
    evalStream: (split) => `eval-sampling/${split}`,
  };
}

/** The navigation spec (V-IRL-L analogue): shared settings with the `navigation` section's sizes. */
export function navSpec(cfg: SftVsRlConfig, tok: PhraseTokenizer, contextLength: number): EnvSpec {
  const n = cfg.navigation;
  const sampling = { ...cfg.sampling, maxNewTokens: n.maxNewTokens };
  return {
    name: "navigation",
    label: "V-IRL-L",
    title: "navigation (V-IRL-L analogue, language)",
    arm: (s) => `nav-${s}`,
    ppo: { ...cfg.ppo, verifyIter: n.verifyIter, answerKey: n.answerKey, updates: n.ppo.updates, lrMaxSteps: n.ppo.lrMaxSteps },
    sampling,
    sftInit: { ...cfg.sftInit, steps: n.sftInit.steps, dataSize: n.sftInit.dataSize, seqLen: n.sftInit.seqLen },
    episodes: n.evalEpisodes,
    makeEnv: (split, verifyIter) => navEnv(split as GPSplit, verifyIter, tok, contextLength - n.maxNewTokens, n.routeLegs),
    answerTags: navAnswerTags,
    evalRow: navEvalRow,
    metric: { key: "PerStep", seKey: "PerStepStdErr", name: "per-step accuracy" },
    trainingRuleKey: "oodTrainingSpace",
    trainingRuleText: "OOD first answers that turn in the training (absolute) action space although the prompt lists relative directions",
    paper: PAPER_VIRL_L,
    dataStream: (i) => `navigation-sft-data-${i}`,
    evalStream: (split) => `eval-sampling/navigation/${split}`,
  };
}

/** The GP-VL spec: GeneralPoints' settings (ID/OOD rules, verify_iter 5), the image, three splits, `vl-` arms. */
export function gpVlSpec(cfg: SftVsRlConfig): EnvSpec {
  return {
    ...gpSpec(cfg),
    name: "general-points-vl",
    label: "GP-VL",
    title: "GeneralPoints-VL (cards shown as an image)",
    arm: (s) => `vl-${s}`,
    sftInit: { ...cfg.sftInit, seqLen: vlSettings(cfg).seqLen },
    makeEnv: (split, verifyIter) => new VisionGPEnv(split, verifyIter),
    splits: ["id", "ood", "visual-ood"],
    image: (env) => (env as VisionGPEnv).image(),
    answerTags: gpVlAnswerTags,
    evalRow: gpVlEvalRow,
    paper: PAPER_GP_VL,
    dataStream: (i) => `vl-sft-data-${i}`,
    evalStream: (split) => `eval-sampling/vl/${split}`,
  };
}

/** The specs of the configured environments, GeneralPoints first. */
export function envSpecs(cfg: SftVsRlConfig, tok: PhraseTokenizer, contextLength: number): EnvSpec[] {
  return cfg.envs.map((e) => (e === "general-points" ? gpSpec(cfg) : e === "navigation" ? navSpec(cfg, tok, contextLength) : gpVlSpec(cfg)));
}
