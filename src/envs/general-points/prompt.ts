/**
 * GeneralPoints prompts ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.1, App. A.3, Fig. 12), laid out as
 * the released `Q_GeneralPoint_EQN_L` (language) and `Q_GeneralPoint_EQN_VL` (vision) templates, and the
 * expert answer in the SFT target format (`ResponseEqn`, not strict JSON: single quotes and a trailing comma).
 */
import { faceCardMessage, type Hand, type Rule, type RuleWording } from "./cards.js";

/** Python list rendering of card names: `['A', '3', 'K', '6']`. */
export function pythonList(items: readonly (string | number)[]): string {
  return "[" + items.map((x) => (typeof x === "number" ? String(x) : `'${x}'`)).join(", ") + "]";
}

/** Options for `generalPointsPrompt`. */
export type PromptOptions = {
  /** `language`: the cards are listed in the text; `vision`: the cards are only in the image. */
  variant?: "language" | "vision";
  /** How the ID rule is worded (default `paper`; see `RuleWording`). */
  ruleWording?: RuleWording;
};

/** The task prompt for a hand (the first user message of an episode). */
export function generalPointsPrompt(hand: Pick<Hand, "names" | "rule" | "target">, opts: PromptOptions = {}): string {
  const { variant = "language", ruleWording = "paper" } = opts;
  const msg = faceCardMessage(hand.rule, ruleWording);
  const t = hand.target;
  const n = hand.names.length;
  const word = n === 3 ? "three" : "four";
  const intro = variant === "language" ? `You will receive a set of ${n} cards.` : `You are observing these ${word} cards in the image.`;
  const xs = ["x", "y", "z", "w"].slice(0, n);
  const as = ["a", "b", "c", "d"].slice(0, n);
  const lines = [
    "[Task Description]",
    `You are an expert ${t} points card game player. ${intro}`,
    `Note that ${msg}, and each card must be used once.`,
    `Your goal is to output a formula that evaluates to ${t} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.`,
    "",
  ];
  if (variant === "language") lines.push("[Input]", `Cards: ${pythonList(hand.names)}`, "");
  lines.push("[Output]");
  if (variant === "vision") lines.push("Your response should be a valid json file in the following format:");
  lines.push(
    "{",
    `  "cards": [${xs.join(", ")}], where ${msg},`,
    `  "number": [${as.join(", ")}], where ${as.slice(0, -1).join(", ")}, and ${as[n - 1]} are the numbers on the cards,`,
    `  "formula": 'an equation that equals ${t}',`,
    "}",
  );
  return lines.join("\n");
}

/** The expert answer for a hand and one solution formula (the SFT target format). */
export function expertAnswer(hand: Pick<Hand, "names" | "values" | "target">, formula: string): string {
  return [
    "{",
    `  "cards": ${pythonList(hand.names)},`,
    `  "number": ${pythonList(hand.values)},`,
    `  "formula": "${formula}=${hand.target}",`,
    "}",
  ].join("\n");
}

/** Rule sentence for a rule (re-exported for callers building their own prompts). */
export function ruleSentence(rule: Rule, wording: RuleWording = "paper"): string {
  return faceCardMessage(rule, wording) + ".";
}
