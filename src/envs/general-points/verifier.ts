/**
 * The GeneralPoints verifier ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, App. A.3; released
 * `utils_rl.step_rewards`), step by step:
 *  1. vision only: recognised cards != true cards (as multisets) -> -1.5 `you recognized wrong cards`;
 *  2. any character outside `\d+|[+\-*\/()]` (a space included) -> -3 `illegal characters`;
 *  3. syntax scan: each misplaced token adds -3 (penalties accumulate);
 *  4. numbers vs card values: invalid or overused -> -2, plus unused -> another -2;
 *  5. if still 0: value == target -> +5 `Correct solution`; if evaluation fails and a stored solution starts with
 *     the formula -> +1 `partial solution`;
 *  6. otherwise -1 at the first token prefix that is not a prefix of any stored solution;
 *  7. messages joined with ", " and ended with ".".
 * Rewards: +5 / +1 / -1 / -1.5 / -2 / -3 (code `REWARD_FN`). Formulas are never executed (see `formula.ts`).
 */
import type { Hand } from "./cards.js";
import { canonicalNumber, evaluateFormula, fractionEquals, tokenize, type Token } from "./formula.js";
import { parseAnswer, type ParsedAnswer } from "./parse.js";
import { solutionsFor } from "./solver.js";

/** Reward constants of the released code. */
export const GP_REWARDS = {
  CORRECT_SOLUTION: 5,
  PARTIAL_SOLUTION: 1,
  NO_SOLUTION: -1,
  STEP_LIMIT: -1,
  INCORRECT_VISION: -1.5,
  INCORRECT_NUMBER: -2,
  ILLEGAL_FORMULA: -3,
} as const;

/** Reward and feedback of one graded formula. */
export type ScoreResult = {
  reward: number;
  /** The messages joined with ", " and ending with "." (the text after "You failed this trial because "). */
  feedback: string;
  messages: string[];
};

/** Python `repr` of an int list, e.g. `[10, 1]`. */
function pyIntList(xs: readonly string[]): string {
  return "[" + xs.join(", ") + "]";
}

function finish(reward: number, messages: string[]): ScoreResult {
  return { reward, messages, feedback: messages.join(", ") + "." };
}

/** Inputs of `scoreFormula`. */
export type ScoreInput = {
  /** The formula text (already cut at "="). */
  formula: string;
  /** Card values under the rule, e.g. [1, 3, 10, 6]. */
  values: readonly number[];
  /** Every solution string of the solver (see `solve`). */
  solutions: readonly string[];
  target: number;
};

/** Steps 2-7 of the verifier on a formula string. Never throws; time is linear in the formula length. */
export function scoreFormula(input: ScoreInput): ScoreResult {
  const { formula, values, solutions, target } = input;
  let reward = 0;
  const messages: string[] = [];
  const add = (r: number, m: string) => {
    reward += r;
    messages.push(m);
  };
  const { tokens, clean } = tokenize(formula);
  if (!clean) {
    add(GP_REWARDS.ILLEGAL_FORMULA, "illegal characters");
    return finish(reward, messages);
  }
  // 3. syntax scan (unclosed '(' and a trailing operator are not flagged here)
  let prev: Token["kind"] | null = null;
  let open = 0;
  for (const tok of tokens) {
    const k = tok.kind;
    if (k === "number") {
      if (!(prev === null || prev === "operator" || prev === "open_paren")) add(GP_REWARDS.ILLEGAL_FORMULA, "invalid sequence after number");
    } else if (k === "operator") {
      if (!(prev === "number" || prev === "close_paren")) add(GP_REWARDS.ILLEGAL_FORMULA, "invalid sequence after operator");
    } else if (k === "open_paren") {
      if (prev === null || prev === "operator" || prev === "open_paren") open++;
      else add(GP_REWARDS.ILLEGAL_FORMULA, "invalid sequence before '('");
    } else {
      if (prev === "number" || prev === "close_paren") {
        if (open > 0) open--;
        else add(GP_REWARDS.ILLEGAL_FORMULA, "unmatched closing parenthesis");
      } else add(GP_REWARDS.ILLEGAL_FORMULA, "invalid sequence after ')'");
    }
    prev = k;
  }
  // 4. numbers against the card values, as multisets (first-appearance order, as Python's Counter)
  const used = new Map<string, number>();
  for (const tok of tokens) if (tok.kind === "number") {
    const c = canonicalNumber(tok.text);
    used.set(c, (used.get(c) ?? 0) + 1);
  }
  const avail = new Map<string, number>();
  for (const v of values) avail.set(String(v), (avail.get(String(v)) ?? 0) + 1);
  const invalid = [...used.keys()].filter((n) => !avail.has(n));
  const overused = [...used.entries()].filter(([n, c]) => c > (avail.get(n) ?? 0)).map(([n]) => n);
  if (invalid.length > 0) add(GP_REWARDS.INCORRECT_NUMBER, `you used invalid numbers: ${pyIntList(invalid)}`);
  else if (overused.length > 0) add(GP_REWARDS.INCORRECT_NUMBER, `you used numbers: ${pyIntList(overused)} too many times`);
  const unused = [...avail.entries()].filter(([n, c]) => c > (used.get(n) ?? 0)).map(([n]) => n);
  if (unused.length > 0) add(GP_REWARDS.INCORRECT_NUMBER, `you didn't use numbers: ${pyIntList(unused)}`);
  if (reward !== 0) return finish(reward, messages);
  // 5. evaluate exactly (only the hand's numbers can reach this point)
  const ev = evaluateFormula(tokens);
  if (ev.ok) {
    if (fractionEquals(ev.value, target)) {
      add(GP_REWARDS.CORRECT_SOLUTION, "Correct solution");
      return finish(reward, messages);
    }
  } else if (solutions.some((s) => s.startsWith(formula))) {
    add(GP_REWARDS.PARTIAL_SOLUTION, "partial solution");
    return finish(reward, messages);
  }
  // 6. first token prefix that no solution starts with
  const maxLen = solutions.reduce((m, s) => Math.max(m, s.length), 0);
  let register = "";
  for (const tok of tokens) {
    const before = register;
    register += tok.text;
    if (register.length <= maxLen && solutions.some((s) => s.startsWith(register))) continue;
    if (before === "") add(GP_REWARDS.NO_SOLUTION, "your formula does not match any solution");
    else add(GP_REWARDS.NO_SOLUTION, `${before} is partially correct but the full formula does not match any solution`);
    break;
  }
  return finish(reward, messages);
}

/** Inputs of `verifyAnswer`. */
export type VerifyOptions = {
  /** Apply the vision variant's recognition check (cards parsed from the answer, or `recognized`). */
  vision?: boolean;
  /** Cards the model recognised; when given, the recognition check is applied with these instead of the answer's. */
  recognized?: readonly string[];
  /** Precomputed solutions (default: the solver's, memoised). */
  solutions?: readonly string[];
};

/** Full verification result of one raw answer. */
export type VerifyResult = ScoreResult & { parsed: ParsedAnswer; recognizedCorrectly: boolean | null };

/** Verify a raw model answer against a hand. Never throws, for any string. */
export function verifyAnswer(hand: Hand, answer: string, opts: VerifyOptions = {}): VerifyResult {
  const parsed = parseAnswer(typeof answer === "string" ? answer : String(answer), hand.cards.length);
  let recognizedCorrectly: boolean | null = null;
  if (opts.vision || opts.recognized !== undefined) {
    const rec = opts.recognized !== undefined ? [...opts.recognized].map(String) : parsed.cards;
    const a = [...hand.names].sort();
    const b = [...rec].sort();
    recognizedCorrectly = a.length === b.length && a.every((x, i) => x === b[i]);
    if (!recognizedCorrectly) {
      return { ...finish(GP_REWARDS.INCORRECT_VISION, ["you recognized wrong cards"]), feedback: "you recognized wrong cards", parsed, recognizedCorrectly };
    }
  }
  const solutions = opts.solutions ?? solutionsFor(hand.values, hand.target);
  return { ...scoreFormula({ formula: parsed.formula, values: hand.values, solutions, target: hand.target }), parsed, recognizedCorrectly };
}
