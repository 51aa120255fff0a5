/**
 * Parsing of model output for GeneralPoints ("SFT Memorizes, RL Generalizes", arXiv 2501.17161; released
 * `utils_general.re_match` and `robust_str_to_list`): try JSON first (`JSON.parse(text)[key]`), else the regexes
 * `"formula": "(.*?)"`, `"cards": \[([^\]]+)\]`, `"number": \[([^\]]+)\]`; a failed match gives the string "None".
 * The formula is cut at the first `=`. The cards list is normalised by stripping `[`, `]`, `'` and spaces and
 * splitting on commas, and must have exactly as many items as the hand has cards (4 in the paper) (else `[]`).
 *
 * The regex searches are written as linear scans (no backtracking regex over untrusted text), and only the first
 * `MAX_ANSWER_CHARS` characters of an answer are considered, so any input parses in bounded time.
 */

/** Characters of an answer considered by the parser (model answers are a few hundred tokens). */
export const MAX_ANSWER_CHARS = 16_384;

/** What the verifier reads from one answer. */
export type ParsedAnswer = {
  /** The formula before the first `=`, or "None" when no formula was found. */
  formula: string;
  /** Recognised card names, exactly the hand size, or [] when missing or malformed. */
  cards: string[];
  /** Where the fields came from. */
  source: "json" | "regex";
};

function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `re.search('"key": "(.*?)"', text).group(1)` as a linear scan (`.` excludes only `\n`, as in Python). */
export function matchQuotedField(text: string, key: string): string | null {
  const lit = `"${key}": "`;
  let from = 0;
  for (;;) {
    const p = text.indexOf(lit, from);
    if (p < 0) return null;
    const s = p + lit.length;
    const q = text.indexOf('"', s);
    if (q < 0) return null; // no closing quote after this or any later occurrence
    const nl = text.indexOf("\n", s);
    if (nl < 0 || q < nl) return text.slice(s, q);
    from = p + 1;
  }
}

/** `re.search('"key": \[([^\]]+)\]', text).group(1)` as a linear scan. */
export function matchListField(text: string, key: string): string | null {
  const lit = `"${key}": [`;
  let from = 0;
  for (;;) {
    const p = text.indexOf(lit, from);
    if (p < 0) return null;
    const s = p + lit.length;
    const q = text.indexOf("]", s);
    if (q < 0) return null;
    if (q > s) return text.slice(s, q);
    from = p + 1;
  }
}

/** `robust_str_to_list`: strip `[`, `]`, `'`, spaces; split on commas; exactly `n` items (the hand size, 4 in the paper) or []. */
export function normaliseCardList(s: string, n = 4): string[] {
  const items = s.replace(/[[\]' ]/g, "").split(",");
  return items.length === n ? items : [];
}

/** Parse one raw model answer. Never throws. */
export function parseAnswer(raw: string, cardCount = 4): ParsedAnswer {
  const text = typeof raw === "string" ? raw.slice(0, MAX_ANSWER_CHARS) : "";
  const obj = parseJsonObject(text);
  let formula: string;
  let cards: string[];
  let source: ParsedAnswer["source"] = "regex";
  if (obj && "formula" in obj) {
    // JSON path. A non-string formula is treated as missing (the released code would crash on it).
    formula = typeof obj.formula === "string" ? obj.formula : "None";
    source = "json";
  } else {
    formula = matchQuotedField(text, "formula") ?? "None";
  }
  if (obj && "cards" in obj) {
    const v = obj.cards;
    // A JSON list is joined back to text before normalising (the released code turns it into [] by accident).
    cards = Array.isArray(v) ? normaliseCardList(v.map((x) => String(x)).join(","), cardCount) : typeof v === "string" ? normaliseCardList(v, cardCount) : [];
  } else {
    const m = matchListField(text, "cards");
    cards = m === null ? [] : normaliseCardList(m, cardCount);
  }
  const eq = formula.indexOf("=");
  if (eq >= 0) formula = formula.slice(0, eq);
  return { formula, cards, source };
}
