/**
 * Evaluation harness for the environments of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, App. C.3):
 * run N episodes per split with a policy (oracle, random, or an OpenAI-compatible server), multi-turn with
 * verifier feedback, and report success rate with its binomial standard error √(P(1−P)/N), per-step accuracy
 * (navigation) and transcripts. Quiet library code: progress leaves through `onEpisode`.
 */
import { Rng } from "../util/rng.js";
import { binomialStdErr, runEpisode, type Env, type EpisodeResult, type Message, type Policy } from "./episode.js";
import { GeneralPointsEnv, GP_SPLITS, type GeneralPointsSplit } from "./general-points/env.js";
import { NavigationEnv, NAV_SPLITS, type NavigationSplit } from "./navigation/env.js";

export type EnvName = "general-points" | "navigation";
export const ENV_NAMES: readonly EnvName[] = ["general-points", "navigation"];
export type Split = "id" | "ood" | "visual-ood";
export const SPLITS: readonly Split[] = ["id", "ood", "visual-ood"];
export type PolicyName = "oracle" | "random" | "openai";
export const POLICY_NAMES: readonly PolicyName[] = ["oracle", "random", "openai"];

/** Options to build an environment for a split. */
export type MakeEnvOptions = { vision?: boolean; verifyIter?: number; imageSize?: number };

/** Build the environment of a split (defaults: GP verifyIter 5, navigation 2). */
export function makeEnv(name: EnvName, split: Split, opts: MakeEnvOptions = {}): Env {
  if (name === "general-points") {
    if (!GP_SPLITS.includes(split as GeneralPointsSplit)) throw new Error(`split must be one of ${GP_SPLITS.join(", ")}`);
    return new GeneralPointsEnv({ split, variant: opts.vision ? "vision" : "language", verifyIter: opts.verifyIter ?? 5, imageSize: opts.imageSize ?? 1200 });
  }
  if (name === "navigation") {
    if (!NAV_SPLITS.includes(split as NavigationSplit)) throw new Error(`split must be one of ${NAV_SPLITS.join(", ")}`);
    return new NavigationEnv({ split, vision: opts.vision, verifyIter: opts.verifyIter ?? 2 });
  }
  throw new Error(`env must be one of ${ENV_NAMES.join(", ")}, got ${JSON.stringify(name)}`);
}

/** The oracle: always the expert's answer for the environment's current state. */
export function oraclePolicy(env: Env): Policy {
  return async () => env.expertAnswer();
}

/** The random baseline: a uniformly random well-formed answer (seeded). */
export function randomPolicy(env: Env, seed: number): Policy {
  const rng = Rng.stream(seed, `random-policy/${env.name}`);
  return async () => env.randomAnswer(rng);
}

/** Seed of episode `i` of a split: independent streams per (seed, env, split). */
export function episodeSeed(seed: number, env: EnvName, split: Split, i: number): number {
  return new Rng(seed, `${env}/${split}/episode-${i}`).nextU32();
}

/** One transcript line (JSONL). Images are not stored; `hasImage` marks vision turns. */
export type Transcript = {
  env: EnvName;
  split: Split;
  episode: number;
  seed: number;
  success: boolean;
  truncated: boolean;
  totalReward: number;
  correctSteps: number;
  gradedSteps: number;
  conversations: { role: Message["role"]; content: string; hasImage?: boolean }[][];
};

/** Results of one split. */
export type SplitResult = {
  split: Split;
  episodes: number;
  successes: number;
  successRate: number;
  /** Binomial standard error of the success rate. */
  stdErr: number;
  /** Correct graded steps / graded steps (verification retries count as separate samples, App. C.3). */
  perStepAccuracy: number;
  meanReward: number;
};

/** Options of `evaluate` (the harness). */
export type EvalHarnessOptions = {
  env: EnvName;
  splits: readonly Split[];
  episodes: number;
  seed?: number;
  /** Build the policy for an environment instance. */
  policy: (env: Env) => Policy;
  envOptions?: MakeEnvOptions;
  /** Called after each episode with its transcript and the running split result. */
  onEpisode?: (t: Transcript, running: SplitResult, done: number, total: number) => void;
};

function summarise(split: Split, rs: EpisodeResult[]): SplitResult {
  const n = rs.length;
  const successes = rs.filter((r) => r.success).length;
  const graded = rs.reduce((s, r) => s + r.gradedSteps, 0);
  const correct = rs.reduce((s, r) => s + r.correctSteps, 0);
  return {
    split,
    episodes: n,
    successes,
    successRate: n ? successes / n : 0,
    stdErr: binomialStdErr(successes, n),
    perStepAccuracy: graded ? correct / graded : 0,
    meanReward: n ? rs.reduce((s, r) => s + r.totalReward, 0) / n : 0,
  };
}

/** Evaluate a policy on the given splits; episodes run one after another. */
export async function evaluate(opts: EvalHarnessOptions): Promise<{ results: SplitResult[]; transcripts: Transcript[] }> {
  const { env: envName, splits, episodes, seed = 42, policy, envOptions = {}, onEpisode } = opts;
  if (!Number.isInteger(episodes) || episodes < 1) throw new Error(`episodes must be an integer >= 1, got ${episodes}`);
  const results: SplitResult[] = [];
  const transcripts: Transcript[] = [];
  const total = episodes * splits.length;
  let done = 0;
  for (const split of splits) {
    const env = makeEnv(envName, split, envOptions);
    const pol = policy(env);
    const rs: EpisodeResult[] = [];
    for (let i = 0; i < episodes; i++) {
      const s = episodeSeed(seed, envName, split, i);
      const r = await runEpisode(env, pol, s);
      rs.push(r);
      const t: Transcript = {
        env: envName,
        split,
        episode: i,
        seed: s,
        success: r.success,
        truncated: r.truncated,
        totalReward: r.totalReward,
        correctSteps: r.correctSteps,
        gradedSteps: r.gradedSteps,
        conversations: r.conversations.map((c) => c.map((m) => (m.image ? { role: m.role, content: m.content, hasImage: true } : { role: m.role, content: m.content }))),
      };
      transcripts.push(t);
      done++;
      onEpisode?.(t, summarise(split, rs), done, total);
    }
    results.push(summarise(split, rs));
  }
  return { results, transcripts };
}

/** "id: 73.1% ± 1.4% (n=1000)" */
export function formatSplitResult(r: SplitResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return `${r.split}: success ${pct(r.successRate)} ± ${pct(r.stdErr)} (n=${r.episodes}), per-step accuracy ${pct(r.perStepAccuracy)}, mean reward ${r.meanReward.toFixed(2)}`;
}
