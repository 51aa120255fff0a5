/**
 * GeneralPoints as a multi-turn environment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.1, App. A.3;
 * released `GeneralPointEnv`, `verify_iter = 5`): `reset(seed)` deals a solvable hand and returns the prompt (and the
 * table image in the vision variant); each `step(answer)` grades one answer; a +5 ends the episode; after
 * `verifyIter` graded attempts the next step returns -1 (`step_limit_reached`) and ends it as truncated.
 *
 * Splits (the paper's evaluation scripts):
 * | split        | rule          | sampler          | suits (language / vision) |
 * | `id`         | J,Q,K = 10    | 4 uniform ranks  | mixed / black             |
 * | `ood`        | J,Q,K = 11-13 | >= 1 face card   | mixed / black             |
 * | `visual-ood` | J,Q,K = 10    | 4 uniform ranks  | red (vision only)         |
 */
import { Rng } from "../../util/rng.js";
import type { Env, Observation, StepResult } from "../episode.js";
import { CARD_COUNTS, dealHand, RULE_WORDINGS, type CardCount, type RuleWording, type Hand, type Rule, type Sampler, type SuitColor } from "./cards.js";
import { expertAnswer, generalPointsPrompt } from "./prompt.js";
import { renderHand } from "./render.js";
import { solutionsFor } from "./solver.js";
import { GP_REWARDS, verifyAnswer } from "./verifier.js";

export type GeneralPointsSplit = "id" | "ood" | "visual-ood";
export const GP_SPLITS: readonly GeneralPointsSplit[] = ["id", "ood", "visual-ood"];
export type GeneralPointsVariant = "language" | "vision";

/** Rule, sampler and suit colour of a split. */
export function splitSettings(split: GeneralPointsSplit, variant: GeneralPointsVariant): { rule: Rule; sampler: Sampler; color: SuitColor; vision: boolean } {
  if (split === "visual-ood") return { rule: "id", sampler: "id", color: "red", vision: true };
  const vision = variant === "vision";
  return { rule: split, sampler: split, color: vision ? "black" : "mixed", vision };
}

/** Options of `GeneralPointsEnv`. */
export type GeneralPointsOptions = {
  split?: GeneralPointsSplit;
  /** `language` (GP-L) or `vision` (GP-VL); `visual-ood` is always vision. Default language. */
  variant?: GeneralPointsVariant;
  /** Target points (the paper fixes 24). */
  target?: number;
  /** Graded attempts per episode (paper: 5). */
  verifyIter?: number;
  /** Table image side in pixels for the vision variant (released: 1200). */
  imageSize?: number;
  /** Cards per hand: 4 (paper) or 3 (a smaller search for small models; the prompt says "a set of 3 cards"). */
  cards?: CardCount;
  /** How the prompt words the ID rule: `paper` (default) or `uniform` (the OOD rule's words with the ID values). */
  ruleWording?: RuleWording;
};

/** The GeneralPoints environment; see the file comment. */
export class GeneralPointsEnv implements Env {
  readonly name = "general-points";
  readonly split: GeneralPointsSplit;
  readonly variant: GeneralPointsVariant;
  readonly target: number;
  readonly verifyIter: number;
  readonly imageSize: number;
  readonly cards: CardCount;
  readonly ruleWording: RuleWording;
  private hand: Hand | null = null;
  private solutions: string[] = [];
  private remaining = 0;
  private solved = false;
  constructor(opts: GeneralPointsOptions = {}) {
    const { split = "id", variant = "language", target = 24, verifyIter = 5, imageSize = 1200, cards = 4, ruleWording = "paper" } = opts;
    if (!RULE_WORDINGS.includes(ruleWording)) throw new Error(`general-points: ruleWording must be one of ${RULE_WORDINGS.join(", ")}, got ${JSON.stringify(ruleWording)}`);
    if (!(CARD_COUNTS as readonly number[]).includes(cards)) throw new Error(`general-points: cards must be one of ${CARD_COUNTS.join(", ")}, got ${JSON.stringify(cards)}`);
    if (!GP_SPLITS.includes(split)) throw new Error(`general-points: split must be one of ${GP_SPLITS.join(", ")}, got ${JSON.stringify(split)}`);
    if (variant !== "language" && variant !== "vision") throw new Error(`general-points: variant must be "language" or "vision", got ${JSON.stringify(variant)}`);
    if (!Number.isInteger(verifyIter) || verifyIter < 1) throw new Error(`general-points: verifyIter must be an integer >= 1, got ${verifyIter}`);
    if (!Number.isInteger(target)) throw new Error(`general-points: target must be an integer, got ${target}`);
    this.split = split;
    this.variant = split === "visual-ood" ? "vision" : variant;
    this.target = target;
    this.verifyIter = verifyIter;
    this.imageSize = imageSize;
    this.cards = cards;
    this.ruleWording = ruleWording;
  }
  /** The current hand (after `reset`). */
  get currentHand(): Hand {
    if (!this.hand) throw new Error("general-points: call reset(seed) before using the environment");
    return this.hand;
  }
  get currentSolutions(): readonly string[] {
    return this.solutions;
  }
  reset(seed: number): Observation {
    const s = splitSettings(this.split, this.variant);
    const rng = Rng.stream(seed, `general-points/${this.split}`);
    this.hand = dealHand(rng, { rule: s.rule, sampler: s.sampler, color: s.color, target: this.target, cards: this.cards });
    this.solutions = solutionsFor(this.hand.values, this.target);
    this.remaining = this.verifyIter;
    this.solved = false;
    const text = generalPointsPrompt(this.hand, { variant: this.variant, ruleWording: this.ruleWording });
    return s.vision ? { text, image: renderHand(this.hand.cards, { size: this.imageSize }).toPNG(), kind: "prompt" } : { text, kind: "prompt" };
  }
  step(answerText: string): StepResult {
    const hand = this.currentHand;
    this.remaining--;
    if (this.remaining < 0 || this.solved) {
      const feedback = "step_limit_reached";
      return {
        observation: { text: `You failed this trial because ${feedback}`, kind: "feedback" },
        reward: GP_REWARDS.STEP_LIMIT,
        done: true,
        info: { feedback, correct: false, truncated: true, success: this.solved, attemptsLeft: 0 },
      };
    }
    const v = verifyAnswer(hand, answerText, { vision: this.variant === "vision", solutions: this.solutions });
    const correct = v.reward === GP_REWARDS.CORRECT_SOLUTION;
    if (correct) this.solved = true;
    return {
      observation: { text: `You failed this trial because ${v.feedback}`, kind: "feedback" },
      reward: v.reward,
      done: correct,
      info: {
        feedback: v.feedback,
        correct,
        truncated: false,
        success: correct,
        attemptsLeft: this.remaining,
        formula: v.parsed.formula,
        recognizedCorrectly: v.recognizedCorrectly,
      },
    };
  }
  expertAnswer(): string {
    const hand = this.currentHand;
    return expertAnswer(hand, this.solutions[0] ?? "");
  }
  /** A random formula over the card values: random order, operators and one of the solver's bracket patterns. */
  randomAnswer(rng: Rng): string {
    const hand = this.currentHand;
    const xs = rng.shuffle([...hand.values]);
    const parts: string[] = [String(xs[0])];
    for (const x of xs.slice(1)) parts.push(rng.pick(["+", "-", "*", "/"]), String(x));
    const brackets: number[][] = xs.length === 3 ? [[], [0, 4], [2, 6]] : [[], [0, 4], [0, 6], [2, 6], [2, 8], [4, 8], [0, 4, 6, 10]];
    const b = brackets[rng.int(brackets.length)];
    for (let k = 0; k < b.length; k++) parts.splice(b[k], 0, k % 2 === 0 ? "(" : ")");
    return expertAnswer(hand, parts.join(""));
  }
}
