/**
 * Stage 0 of our reproduction of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161): a generic synthetic corpus for
 * a tiny "foundation model". The paper starts from Llama-3.2-Vision-11B, which already knows arithmetic, card values
 * and JSON; it can therefore read a new rule stated in the prompt (§5.1: the OOD rule J/Q/K = 11/12/13). A tiny LM
 * trained from scratch has none of that, so stage 0 teaches the skills (spec §1.7 item 4, §1.8) without the task:
 *
 * 1. Arithmetic: `Value: 3*12-13=23` — expressions of 2-3 numbers in 1..13 (brackets as in the solver's
 *    patterns) and their exact integer values (non-integer results are skipped).
 * 2. Rule binding: a rule sentence in the prompt's wording with *random* face-card values (`'J', 'Q', and 'K' count
 *    as '7'` or `... count as '4', '12', and '9' respectively`), a card list, and a JSON-like record with the cards,
 *    their numbers under that rule and a random formula over them with its true value. The ID rule (10) and the OOD
 *    rule (11/12/13) are two members of this family, neither favoured.
 * 3. Plain records: `{ "cards": [...], "number": [...] }` lists without a rule (Ace = 1, digits = themselves).
 *
 * What stage 0 never contains: the GeneralPoints task prompt, the target 24 as a goal, or chat turns.
 * Documents are separated by a blank line. Everything is generated from a host `Rng`.
 */
import { Rng } from "../../util/rng.js";
import { evaluateFormula, formatFraction } from "../../envs/index.js";

const CARD = ["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"];
const OPS = ["+", "-", "*", "/"];

/** Insert one of the solver's bracket patterns into `a op b op c op d` (or a shorter chain). */
export function randomExpression(rng: Rng, nums: readonly number[]): string {
  const ops = nums.slice(1).map(() => rng.pick(OPS));
  const parts: string[] = [];
  nums.forEach((x, i) => {
    if (i > 0) parts.push(ops[i - 1]);
    parts.push(String(x));
  });
  if (nums.length >= 3 && rng.next() < 0.6) {
    // Bracket a contiguous run of 2..n-1 numbers (indices into `parts` are 2*i).
    const n = nums.length;
    const len = 2 + rng.int(n - 2);
    const start = rng.int(n - len + 1);
    parts.splice(2 * (start + len) - 1, 0, ")");
    parts.splice(2 * start, 0, "(");
  }
  return parts.join("");
}

/** `expr=value` when the value is an integer, else null. */
export function withValue(expr: string): string | null {
  const r = evaluateFormula(expr);
  if (!r.ok) return null;
  const v = formatFraction(r.value);
  return /^-?\d+$/.test(v) ? `${expr}=${v}` : null;
}

/** A rule: values of J, Q, K and its sentence in the prompt's wording. */
export type CardRule = { face: [number, number, number]; sentence: string };

export function randomRule(rng: Rng): CardRule {
  if (rng.next() < 0.5) {
    const v = 1 + rng.int(13);
    return { face: [v, v, v], sentence: `'J', 'Q', and 'K' count as '${v}'` };
  }
  const f: [number, number, number] = [1 + rng.int(13), 1 + rng.int(13), 1 + rng.int(13)];
  return { face: f, sentence: `'J', 'Q', and 'K' count as '${f[0]}', '${f[1]}', and '${f[2]}' respectively` };
}

export function cardNumber(rank: number, rule: CardRule | null): number {
  if (rank <= 10 || !rule) return rank;
  return rule.face[rank - 11];
}

const pyList = (xs: readonly (string | number)[]) => "[" + xs.map((x) => (typeof x === "number" ? String(x) : `'${x}'`)).join(", ") + "]";

function arithmeticDoc(rng: Rng): string {
  for (;;) {
    const n = rng.next() < 0.6 ? 2 : 3; // short expressions: the skill, not a calculator
    const nums = Array.from({ length: n }, () => 1 + rng.int(13));
    const s = withValue(randomExpression(rng, nums));
    if (s) return `Value: ${s}`;
  }
}

function ruleDoc(rng: Rng, withRule: boolean): string {
  const rule = withRule ? randomRule(rng) : null;
  for (;;) {
    const n = 2 + rng.int(4);
    // Face cards are over-represented so the rule matters in most documents.
    const ranks = Array.from({ length: n }, () => (rng.next() < 0.4 ? 11 + rng.int(3) : 1 + rng.int(13)));
    const nums = ranks.map((r) => cardNumber(r, rule));
    const s = withValue(randomExpression(rng, nums));
    if (!s) continue;
    const lines: string[] = [];
    if (rule) lines.push(`Rule: ${rule.sentence}.`);
    lines.push(`[Input]\nCards: ${pyList(ranks.map((r) => CARD[r - 1]))}`);
    lines.push("{", `  "cards": ${pyList(ranks.map((r) => CARD[r - 1]))},`, `  "number": ${pyList(nums)},`, `  "formula": "${s}",`, "}");
    return lines.join("\n");
  }
}

/** Mixture weights of the three document kinds. */
export type CorpusMix = { arithmetic: number; rule: number; plain: number };
export const DEFAULT_MIX: CorpusMix = { arithmetic: 0.25, rule: 0.65, plain: 0.1 };

/** One stage-0 document. */
export function stage0Document(rng: Rng, mix: CorpusMix = DEFAULT_MIX): string {
  const u = rng.next() * (mix.arithmetic + mix.rule + mix.plain);
  if (u < mix.arithmetic) return arithmeticDoc(rng);
  if (u < mix.arithmetic + mix.rule) return ruleDoc(rng, true);
  return ruleDoc(rng, false);
}

/** About `chars` characters of stage-0 text (documents joined by blank lines). */
export function stage0Corpus(rng: Rng, chars: number, mix: CorpusMix = DEFAULT_MIX): string {
  const docs: string[] = [];
  let n = 0;
  while (n < chars) {
    const d = stage0Document(rng, mix);
    docs.push(d);
    n += d.length + 2;
  }
  return docs.join("\n\n") + "\n\n";
}

/** Probes for "can the model evaluate short expressions": `Value: a op b=` prompts with their answers. */
export function arithmeticProbes(rng: Rng, n: number): { prompt: string; answer: string }[] {
  const out: { prompt: string; answer: string }[] = [];
  while (out.length < n) {
    const nums = Array.from({ length: 2 }, () => 1 + rng.int(13));
    const s = withValue(randomExpression(rng, nums));
    if (!s) continue;
    const eq = s.lastIndexOf("=");
    out.push({ prompt: `Value: ${s.slice(0, eq + 1)}`, answer: s.slice(eq + 1) });
  }
  return out;
}

/** Probes for rule reading: a rule and cards; the answer is the "number" list. */
export function ruleProbes(rng: Rng, n: number): { prompt: string; answer: string }[] {
  const out: { prompt: string; answer: string }[] = [];
  for (let i = 0; i < n; i++) {
    const rule = randomRule(rng);
    const ranks = Array.from({ length: 4 }, () => (rng.next() < 0.5 ? 11 + rng.int(3) : 1 + rng.int(13)));
    const names = pyList(ranks.map((r) => CARD[r - 1]));
    out.push({
      prompt: `Rule: ${rule.sentence}.\n[Input]\nCards: ${names}\n{\n  "cards": ${names},\n  "number": [`,
      answer: ranks.map((r) => cardNumber(r, rule)).join(", ") + "]",
    });
  }
  return out;
}
