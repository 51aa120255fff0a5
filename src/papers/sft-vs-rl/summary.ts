/**
 * The summary of an `sft-vs-rl` run ("SFT Memorizes, RL Generalizes", arXiv 2501.17161): what the experiment
 * returns (the runner saves it as summary.json), what the claims judge and what the report reads. Plain JSON:
 * numbers, strings and rows of evaluation metrics. Rates are fractions in [0, 1].
 */
import type { ExperimentEnv } from "./config.js";
import type { EvalSplit } from "./tasks.js";

/**
 * One evaluation's metrics row (`EnvSpec.evalRow`): `${split}Success`, `${split}StdErr`, `${split}Parsed`, ...
 * (GeneralPoints), `${split}PerStep`, `${split}PerStepStdErr`, `${split}PromptSpace`, ... (navigation),
 * `${split}Recognition` (GP-VL); `flops` where the row was logged with it.
 */
export type EvalRow = Record<string, number>;

/** A checkpoint of a branch: FLOPs of the branch alone (the SFT init's are not included), its step or update, its row. */
export type EvalPoint = { flops: number; step: number; row: EvalRow };

/** Stage 0 (the "pretrained model"): its loss and the greedy skill probes. */
export type Stage0Summary = {
  seed: number;
  finalLoss: number;
  corpusTokens: number;
  corpusBytesPerToken: number;
  /** Share of probes answered exactly: two-operand expression values, card numbers under a stated rule (absent in navigation-only runs). */
  arithmeticAccuracy?: number;
  ruleReadingAccuracy?: number;
  /** Card numbers under the task's ID and OOD rule sentences; plain-format make-24 solved under each (absent in runs before 3-card hands). */
  ruleIdAccuracy?: number;
  ruleOodAccuracy?: number;
  make24IdSolved?: number;
  make24OodSolved?: number;
  /** With navigation: which direction of a turn sentence the listed action space allows; compass turns. */
  actionSpaceAccuracy?: number;
  compassAccuracy?: number;
  /** Worked next action at turn points under the absolute / relative action space (navigation, issue 24 recipe). */
  nextActionAbsolute?: number;
  nextActionRelative?: number;
  probes: number;
  tokensPerSec: number;
};

/** One task (GP-L, navigation or GP-VL) trained from one seed: its SFT init and the two branches. */
export type TaskSummary = {
  env: ExperimentEnv;
  seed: number;
  /** The paper's task label ("GP-L", "V-IRL-L", "GP-VL") and a heading. */
  label: string;
  title: string;
  /** Arm directories of the SFT init and the two branches. */
  arms: { init: string; ppo: string; sft: string };
  splits: EvalSplit[];
  /** Episodes (routes) per split and evaluation point, and verify_iter. */
  episodes: number;
  /** Episodes per split at the branches' intermediate checkpoints (absent: `episodes`). */
  midEpisodes?: number;
  verifyIter: number;
  /** Headline metric: row keys `${split}${key}` and `${split}${seKey}`, and its name. */
  metric: { key: string; seKey: string; name: string };
  /** OOD-row key of "first answers follow the training rule" (the memorization signature) and its description. */
  trainingRuleKey: string;
  trainingRuleText: string;
  /** The paper's rule-OOD numbers in % (and GP-VL's visual OOD). */
  paper: { init: number; rl: number; sft: number; visual?: { init: number; rl: number; sft: number } };
  /**
   * The SFT init: its FLOPs (6N·D), steps, final loss, mean expert sequence length and evaluation row; `curve`: its
   * evaluations along its own steps (fewer episodes; GeneralPoints with `sftInit.curveEvery`), empty otherwise.
   */
  init: { flops: number; steps?: number; finalLoss: number; meanSeqTokens: number; row: EvalRow; curve?: EvalPoint[]; curveEpisodes?: number };
  /** Branch B (PPO): updates, FLOPs of the branch alone, and its checkpoints (update 0 = the init). */
  ppo: { updates: number; flops: number; status: string; points: EvalPoint[] };
  /**
   * Branch A (more SFT): steps, FLOPs of the branch alone, and its checkpoints at the PPO checkpoints' FLOPs (step 0 =
   * the init); `curve`: its evaluations at `sft.curveSteps` (step = SFT steps from the stage-0 model, init included).
   */
  sft: { steps: number; flops: number; finalLoss: number; points: EvalPoint[]; curve?: EvalPoint[] };
};

/** PPO from the stage-0 model without SFT (§5.4), GeneralPoints ID rule. */
export type NoSftSummary = {
  seed: number;
  updates: number;
  flops: number;
  /** ID episodes of each of its two evaluations (a prefix of the main evaluation's episodes). */
  episodes: number;
  meanStepReward: number;
  rolloutSuccess: number;
  /** The stage-0 model before any update (the no-SFT arm's start) and the arm's last update. */
  start: EvalRow;
  final: EvalRow;
};

/** One arm of the verify_iter sweep (§5.5; `full` only): OOD row after its updates. */
export type SweepSummary = { verifyIter: number; flops: number; row: EvalRow };

export type SftVsRlSummary = {
  /** N of the FLOP formulas (LM parameters). */
  params: number;
  envs: ExperimentEnv[];
  model: { dModel: number; nLayers: number; contextLength: number; vocabSize: number };
  stage0: Stage0Summary;
  /** One entry per trained task and seed, GeneralPoints first. */
  tasks: TaskSummary[];
  /** Empty when the preset trains no such arm. */
  noSft: NoSftSummary[];
  sweep: SweepSummary[];
  /** Added by the runner. */
  wallSeconds?: number;
  armWallSeconds?: Record<string, number>;
};

/** The last checkpoint's row of a branch. */
export const finalRow = (points: readonly EvalPoint[]): EvalRow => points[points.length - 1]?.row ?? {};

/**
 * The SFT curve of a task (issue 24): success along SFT steps counted from the stage-0 model: the init's own
 * evaluations, the init, then the SFT branch's checkpoints and curve points (step = init steps + branch steps), one
 * point per step, sorted; `episodes` per split of each point. Empty without the init's curve.
 */
export function sftCurve(t: TaskSummary): { step: number; episodes: number; row: EvalRow }[] {
  if (!t.init.curve || t.init.curve.length === 0 || t.init.steps === undefined) return [];
  const s0 = t.init.steps;
  const curveEps = t.init.curveEpisodes ?? NaN;
  const mid = t.midEpisodes ?? t.episodes;
  const lastBranch = t.sft.points.at(-1)?.step;
  const byStep = new Map<number, { step: number; episodes: number; row: EvalRow }>();
  for (const p of t.init.curve) byStep.set(p.step, { step: p.step, episodes: curveEps, row: p.row });
  byStep.set(s0, { step: s0, episodes: t.episodes, row: t.init.row });
  for (const p of t.sft.points) if (p.step > 0) byStep.set(s0 + p.step, { step: s0 + p.step, episodes: p.step === lastBranch ? t.episodes : mid, row: p.row });
  for (const p of t.sft.curve ?? []) if (!byStep.has(p.step)) byStep.set(p.step, { step: p.step, episodes: curveEps, row: p.row });
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The runs of one task (one per trained seed). */
export const taskRuns = (s: SftVsRlSummary, env: ExperimentEnv): TaskSummary[] => s.tasks.filter((t) => t.env === env);
