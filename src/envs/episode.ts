/**
 * Shared environment and episode types for the multi-turn "sequential revision" protocol of
 * "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, §3 "Sequential revision", App. A.3, B.3): turn 0 is the task
 * prompt; after each failed answer the model's answer and `You failed this trial because {feedback}` are appended
 * and the model answers again, up to the environment's verification limit (5 for GeneralPoints, 2 per point for
 * navigation). No system message is used, as in the released code.
 */
import type { Rng } from "../util/rng.js";

/** A chat message. `image` (PNG bytes) is attached to user messages of the vision variants. */
export type Message = { role: "system" | "user" | "assistant"; content: string; image?: Uint8Array };

/** Any model: takes the conversation, returns the answer text. */
export type Policy = (messages: Message[]) => Promise<string>;

/**
 * What the environment shows next. `kind: "prompt"` starts a fresh conversation with `text` (a new task or a new
 * navigation point); `kind: "feedback"` continues the current one (`text` is the verifier's user message).
 */
export type Observation = { text: string; image?: Uint8Array; kind: "prompt" | "feedback" };

/** Result of one `step`. */
export type StepResult = {
  observation: Observation;
  reward: number;
  /** The episode is over (solved, route finished, or verification limit exceeded). */
  done: boolean;
  info: StepInfo;
};

/** Common step information; environments add their own fields. */
export type StepInfo = {
  /** The verifier's message (without the "You failed this trial because" prefix). */
  feedback: string;
  /** This step's answer matched the expert (GP: reward +5; navigation: correct action). */
  correct: boolean;
  /** The episode ended by exceeding the verification limit. */
  truncated: boolean;
  /** The task is solved (GP: a +5 was given; navigation: stop() at the destination). */
  success: boolean;
  /** Graded attempts left at the current point before the limit (0: the next step is the -1 limit step). */
  attemptsLeft: number;
  [k: string]: unknown;
};

/** A text (optionally visual) environment with verifiable rewards. */
export interface Env {
  /** Short environment name ("general-points", "navigation"). */
  readonly name: string;
  /** Start a new episode; the same seed gives the same task. */
  reset(seed: number): Observation;
  /** Grade one raw model answer. */
  step(answerText: string): StepResult;
  /** An answer the expert would give now (the oracle policy). */
  expertAnswer(): string;
  /** A uniformly random well-formed answer (the random-policy baseline). */
  randomAnswer(rng: Rng): string;
}

/** One graded turn of an episode. */
export type Turn = { answer: string; reward: number; feedback: string; correct: boolean };

/** Everything about one finished episode. */
export type EpisodeResult = {
  success: boolean;
  truncated: boolean;
  /** Sum of rewards, including the -1 of the limit step when it happened. */
  totalReward: number;
  turns: Turn[];
  /** Graded steps that matched the expert / all graded steps (navigation's per-step accuracy). */
  correctSteps: number;
  gradedSteps: number;
  /** Every conversation of the episode (navigation starts a fresh one at each new point). */
  conversations: Message[][];
};

/** Options for `runEpisode`. */
export type RunEpisodeOptions = {
  /** Safety cap on policy calls (default 1000). */
  maxPolicyCalls?: number;
  /** Called after every graded turn. */
  onTurn?: (turn: Turn, index: number) => void;
};

/**
 * Run one episode: reset with `seed`, ask the policy, step, and either continue the conversation with the
 * verifier's feedback or start a fresh one, until the environment says done. When no graded attempt is left the
 * episode is closed with the environment's limit step (reward -1) without calling the policy again.
 */
export async function runEpisode(env: Env, policy: Policy, seed: number, opts: RunEpisodeOptions = {}): Promise<EpisodeResult> {
  const { maxPolicyCalls = 1000, onTurn } = opts;
  const first = env.reset(seed);
  const userMsg = (o: Observation): Message => (o.image ? { role: "user", content: o.text, image: o.image } : { role: "user", content: o.text });
  let conv: Message[] = [userMsg(first)];
  const conversations: Message[][] = [conv];
  const turns: Turn[] = [];
  let total = 0;
  let correctSteps = 0;
  let attemptsLeft = Infinity;
  for (let calls = 0; calls < maxPolicyCalls; calls++) {
    if (attemptsLeft <= 0) {
      const end = env.step("");
      total += end.reward;
      return { success: end.info.success, truncated: true, totalReward: total, turns, correctSteps, gradedSteps: turns.length, conversations };
    }
    const answer = await policy(conv.map((m) => ({ ...m })));
    const r = env.step(answer);
    total += r.reward;
    const turn: Turn = { answer, reward: r.reward, feedback: r.info.feedback, correct: r.info.correct };
    turns.push(turn);
    if (r.info.correct) correctSteps++;
    onTurn?.(turn, turns.length - 1);
    conv.push({ role: "assistant", content: answer });
    if (r.done) {
      return { success: r.info.success, truncated: r.info.truncated, totalReward: total, turns, correctSteps, gradedSteps: turns.length, conversations };
    }
    attemptsLeft = r.info.attemptsLeft;
    if (r.observation.kind === "prompt") {
      conv = [userMsg(r.observation)];
      conversations.push(conv);
    } else if (attemptsLeft > 0) conv.push(userMsg(r.observation));
  }
  return { success: false, truncated: true, totalReward: total, turns, correctSteps, gradedSteps: turns.length, conversations };
}

/** Binomial standard error sqrt(p(1-p)/n) (paper App. C.3). */
export function binomialStdErr(successes: number, n: number): number {
  if (n <= 0) return 0;
  const p = successes / n;
  return Math.sqrt((p * (1 - p)) / n);
}
