/**
 * GeneralPoints cards, rules and samplers ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §4.1, App. A.3;
 * released code `gym_cards/general_points_oneline.py`).
 *
 * - Ranks 1..13 (A, 2..10, J, Q, K). The in-distribution rule counts J, Q, K as 10; the out-of-distribution
 *   rule counts them as 11, 12, 13. Ace is always 1.
 * - ID sampler: 4 independent ranks uniform in 1..13. OOD sampler: 3 ranks in 1..13 plus one in 11..13, shuffled,
 *   so every OOD hand holds at least one face card. Suits are drawn independently per card from the colour's suits
 *   (duplicate identical cards are possible, as in the released code; the paper text says "without replacement").
 * - Hands are re-dealt until the solver finds a formula equal to the target (rejection sampling).
 */
import type { Rng } from "../../util/rng.js";
import { isSolvable } from "./solver.js";

/** Card rank 1..13 (1 = A, 11 = J, 12 = Q, 13 = K). */
export type Rank = number;
/** Suits as in the released code: hearts, spades, diamonds, clubs. */
export type Suit = "H" | "S" | "D" | "C";
export type Card = { rank: Rank; suit: Suit };
/** `id`: J, Q, K count as 10. `ood`: J, Q, K count as 11, 12, 13. */
export type Rule = "id" | "ood";
/** Suit palette: `mixed` (all four), `black` (S, C: training and ID for the vision variant), `red` (H, D: visual OOD). */
export type SuitColor = "mixed" | "black" | "red";

export const RULES: readonly Rule[] = ["id", "ood"];
export const SUIT_COLORS: readonly SuitColor[] = ["mixed", "black", "red"];
export const SUITS_BY_COLOR: Record<SuitColor, readonly Suit[]> = {
  mixed: ["H", "S", "D", "C"],
  red: ["H", "D"],
  black: ["S", "C"],
};
/** Card names accepted on input (T is an alias of 10). */
export const CARD_NAMES: readonly string[] = ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"];

/** Plain card name as written in the prompt: A, 2..10, J, Q, K (10, not T). */
export function cardName(rank: Rank): string {
  return CARD_NAMES[rank - 1] ?? "?";
}

/** Parse a card name (A, 2..10, T, J, Q, K, case-insensitive) or a rank number 1..13; null when invalid. */
export function parseCardName(name: unknown): Rank | null {
  if (typeof name === "number") return Number.isInteger(name) && name >= 1 && name <= 13 ? name : null;
  if (typeof name !== "string") return null;
  const s = name.trim().toUpperCase();
  if (s === "T") return 10;
  const i = CARD_NAMES.indexOf(s);
  if (i >= 0) return i + 1;
  if (/^(1[0-3]|[1-9])$/.test(s)) return Number(s);
  return null;
}

/** The number a card is worth under a rule. */
export function cardValue(rank: Rank, rule: Rule): number {
  return rule === "id" ? Math.min(rank, 10) : rank;
}

/**
 * How the prompt words the ID rule: `paper` as the released code ("... count as '10'"), or `uniform`, the OOD rule's
 * words with the ID values ("... count as '10', '10', and '10' respectively"; our option for small models), so the two
 * prompts differ only in the three values and have the same length.
 */
export type RuleWording = "paper" | "uniform";
export const RULE_WORDINGS: readonly RuleWording[] = ["paper", "uniform"];

/** The rule sentence used twice in the prompt. */
export function faceCardMessage(rule: Rule, wording: RuleWording = "paper"): string {
  if (rule === "id" && wording === "paper") return "'J', 'Q', and 'K' count as '10'";
  const [j, q, k] = [11, 12, 13].map((r) => cardValue(r, rule));
  return `'J', 'Q', and 'K' count as '${j}', '${q}', and '${k}' respectively`;
}

/** Which ranks a sampler draws: `id` = 4 uniform ranks; `ood` = at least one face card. */
export type Sampler = "id" | "ood";

/** Hand sizes: the paper's 4, and 3 (our option for small models; about a quarter of 3-card hands reach 24). */
export const CARD_COUNTS = [3, 4] as const;
export type CardCount = (typeof CARD_COUNTS)[number];

/** Deal `n` cards (default 4) without the solvability check (the raw draw of the released code). */
export function dealRaw(rng: Rng, sampler: Sampler, color: SuitColor = "mixed", n: CardCount = 4): Card[] {
  let ranks: number[];
  if (sampler === "id") {
    ranks = Array.from({ length: n }, () => 1 + rng.int(13));
  } else {
    ranks = Array.from({ length: n - 1 }, () => 1 + rng.int(13));
    ranks.push(11 + rng.int(3));
    rng.shuffle(ranks);
  }
  const suits = SUITS_BY_COLOR[color];
  return ranks.map((rank) => ({ rank, suit: rng.pick(suits) }));
}

/** A dealt hand with everything the verifier needs. */
export type Hand = {
  cards: Card[];
  rule: Rule;
  target: number;
  /** Card values under the rule, in card order. */
  values: number[];
  /** Plain names as in the prompt, e.g. ['A', '3', 'K', '6']. */
  names: string[];
};

/** Build a hand from cards (suits default to spades when only names are given). */
export function makeHand(cards: readonly (Card | Rank)[], rule: Rule, target = 24): Hand {
  const cs: Card[] = cards.map((c) => (typeof c === "number" ? { rank: c, suit: "S" as Suit } : { ...c }));
  return { cards: cs, rule, target, values: cs.map((c) => cardValue(c.rank, rule)), names: cs.map((c) => cardName(c.rank)) };
}

/** Options for `dealHand`. */
export type DealOptions = {
  rule?: Rule;
  sampler?: Sampler;
  color?: SuitColor;
  target?: number;
  /** Cards per hand: 4 (paper) or 3. */
  cards?: CardCount;
  /** Give up after this many raw draws (an unreachable target would loop forever). */
  maxDraws?: number;
};

/** Deal until the hand is solvable (rejection sampling, as in the released `reset`). */
export function dealHand(rng: Rng, opts: DealOptions = {}): Hand {
  const { rule = "id", sampler = rule, color = "mixed", target = 24, cards = 4, maxDraws = 10_000 } = opts;
  for (let i = 0; i < maxDraws; i++) {
    const hand = makeHand(dealRaw(rng, sampler, color, cards), rule, target);
    if (isSolvable(hand.values, target)) return hand;
  }
  throw new Error(`dealHand: no solvable hand in ${maxDraws} draws for target ${target} (field "target"; the paper uses 24)`);
}
