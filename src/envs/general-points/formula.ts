/**
 * Formula tokenising and exact evaluation for the GeneralPoints verifier ("SFT Memorizes, RL Generalizes",
 * arXiv 2501.17161, App. A.3). The released verifier calls Python `eval`; we never evaluate code: formulas are
 * tokenised (`\d+|[+\-*\/()]`, ASCII digits only), converted with the shunting-yard algorithm (no recursion)
 * and computed with exact BigInt fractions.
 *
 * `evaluateFormula` fails in the cases where Python's `eval` raises on a token sequence that passed the
 * verifier's syntax scan: unclosed `(`, a trailing operator, division by zero, a number with a leading zero
 * (`010` is a SyntaxError in Python 3), and parentheses nested deeper than Python's parser allows (200).
 */

/** Token kinds of the verifier's grammar. */
export type TokenKind = "number" | "operator" | "open_paren" | "close_paren";
export type Token = { kind: TokenKind; text: string };

/** Python's parser rejects parentheses nested deeper than this ("too many nested parentheses"). */
export const MAX_PAREN_DEPTH = 200;

/** Exact rational number n/d with d > 0 (not necessarily reduced). */
export type Fraction = { n: bigint; d: bigint };

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Split `formula` into tokens, as `re.findall(r'\d+|[+\-*\/()]', formula)` with ASCII digits; other characters are
 * skipped and reported through `clean` (true when the tokens concatenate back to the whole formula).
 */
export function tokenize(formula: string): { tokens: Token[]; clean: boolean } {
  const tokens: Token[] = [];
  let clean = true;
  let i = 0;
  while (i < formula.length) {
    const c = formula.charCodeAt(i);
    if (isDigit(c)) {
      let j = i + 1;
      while (j < formula.length && isDigit(formula.charCodeAt(j))) j++;
      tokens.push({ kind: "number", text: formula.slice(i, j) });
      i = j;
      continue;
    }
    const ch = formula[i];
    if (ch === "+" || ch === "-" || ch === "*" || ch === "/") tokens.push({ kind: "operator", text: ch });
    else if (ch === "(") tokens.push({ kind: "open_paren", text: ch });
    else if (ch === ")") tokens.push({ kind: "close_paren", text: ch });
    else clean = false;
    i++;
  }
  return { tokens, clean };
}

/** Decimal digit string without leading zeros ("007" -> "7", "000" -> "0"). */
export function canonicalNumber(digits: string): string {
  const s = digits.replace(/^0+/, "");
  return s === "" ? "0" : s;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Reduce a fraction to lowest terms. */
export function reduce(f: Fraction): Fraction {
  const g = gcd(f.n, f.d);
  return g === 0n || g === 1n ? f : { n: f.n / g, d: f.d / g };
}

function apply(op: string, a: Fraction, b: Fraction): Fraction | null {
  switch (op) {
    case "+":
      return { n: a.n * b.d + b.n * a.d, d: a.d * b.d };
    case "-":
      return { n: a.n * b.d - b.n * a.d, d: a.d * b.d };
    case "*":
      return { n: a.n * b.n, d: a.d * b.d };
    default: {
      if (b.n === 0n) return null;
      const n = a.n * b.d;
      const d = a.d * b.n;
      return d < 0n ? { n: -n, d: -d } : { n, d };
    }
  }
}

const PREC: Record<string, number> = { "+": 1, "-": 1, "*": 2, "/": 2 };

/** Result of `evaluateFormula`: a value, or the reason Python's `eval` would have raised. */
export type EvalResult = { ok: true; value: Fraction } | { ok: false; error: string };

/** Options for `evaluateFormula`. */
export type EvaluateOptions = {
  /** Refuse formulas with more tokens than this (bounded time and memory). Default 4096. */
  maxTokens?: number;
  /** Refuse numbers longer than this many digits. Default 1000. */
  maxDigits?: number;
};

/**
 * Evaluate an infix formula over non-negative integers with `+ - * /` and parentheses, exactly, with the usual
 * precedence and left associativity (binary operators only: no unary minus, as in the verifier's grammar).
 * Never throws.
 */
export function evaluateFormula(formula: string | Token[], opts: EvaluateOptions = {}): EvalResult {
  const { maxTokens = 4096, maxDigits = 1000 } = opts;
  let tokens: Token[];
  if (typeof formula === "string") {
    const t = tokenize(formula);
    if (!t.clean) return { ok: false, error: "illegal characters" };
    tokens = t.tokens;
  } else tokens = formula;
  if (tokens.length > maxTokens) return { ok: false, error: `formula longer than ${maxTokens} tokens` };
  const values: Fraction[] = [];
  const ops: string[] = [];
  let depth = 0;
  let expectOperand = true;
  const reduceTop = (): string | null => {
    const op = ops.pop()!;
    const b = values.pop();
    const a = values.pop();
    if (a === undefined || b === undefined) return "syntax error";
    const r = apply(op, a, b);
    if (r === null) return "division by zero";
    values.push(r);
    return null;
  };
  for (const tok of tokens) {
    if (tok.kind === "number") {
      if (!expectOperand) return { ok: false, error: "syntax error" };
      if (tok.text.length > 1 && tok.text[0] === "0" && /[1-9]/.test(tok.text)) {
        return { ok: false, error: "leading zeros in decimal integer literals are not permitted" };
      }
      if (tok.text.length > maxDigits) return { ok: false, error: `number longer than ${maxDigits} digits` };
      values.push({ n: BigInt(tok.text), d: 1n });
      expectOperand = false;
    } else if (tok.kind === "open_paren") {
      if (!expectOperand) return { ok: false, error: "syntax error" };
      if (++depth > MAX_PAREN_DEPTH) return { ok: false, error: "too many nested parentheses" };
      ops.push("(");
    } else if (tok.kind === "close_paren") {
      if (expectOperand) return { ok: false, error: "syntax error" };
      while (ops.length > 0 && ops[ops.length - 1] !== "(") {
        const e = reduceTop();
        if (e) return { ok: false, error: e };
      }
      if (ops.length === 0) return { ok: false, error: "unmatched ')'" };
      ops.pop();
      depth--;
    } else {
      if (expectOperand) return { ok: false, error: "syntax error" };
      const p = PREC[tok.text];
      while (ops.length > 0 && ops[ops.length - 1] !== "(" && PREC[ops[ops.length - 1]] >= p) {
        const e = reduceTop();
        if (e) return { ok: false, error: e };
      }
      ops.push(tok.text);
      expectOperand = true;
    }
  }
  if (expectOperand) return { ok: false, error: "unexpected end of formula" };
  while (ops.length > 0) {
    if (ops[ops.length - 1] === "(") return { ok: false, error: "'(' was never closed" };
    const e = reduceTop();
    if (e) return { ok: false, error: e };
  }
  if (values.length !== 1) return { ok: false, error: "syntax error" };
  return { ok: true, value: values[0] };
}

/** True when the fraction equals the integer `target`. */
export function fractionEquals(f: Fraction, target: number): boolean {
  return f.n === BigInt(target) * f.d;
}

/** Decimal rendering of a fraction ("7/2", "24"). */
export function formatFraction(f: Fraction): string {
  const r = reduce(f);
  return r.d === 1n ? r.n.toString() : `${r.n}/${r.d}`;
}
