/**
 * Exhaustive exact solver for GeneralPoints ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, App. A.3;
 * released `GeneralPointEnv.solve`): every distinct permutation of the four numbers x all 4^3 operator choices
 * x the seven bracket patterns of the released solver, computed with exact fractions. It returns every solution
 * string; the verifier's "partially correct" feedback walks prefixes of these strings, so their spelling matters:
 * numbers and operators without spaces, brackets only where the pattern puts them, e.g. `(1+3)*(10-4)`.
 *
 * The seven patterns for a op b op c op d: none; (a b) c d; (a b c) d; a (b c) d; a (b c d); a b (c d);
 * (a b) (c d). Nested brackets are not generated, exactly as in the released solver.
 */
import { evaluateFormula, fractionEquals, tokenize } from "./formula.js";

const OPS = ["+", "-", "*", "/"] as const;

/**
 * Bracket patterns as [open, close] insertion points over the token list a,op,b,op,c(,op,d) (released solver): for
 * four numbers its seven patterns; for three (our `cards: 3` option) the same rule gives none, (a b) c and a (b c).
 */
function bracketPatterns(n: number): number[][] {
  const exprLen = 2 * n - 1;
  const out: number[][] = [[]];
  for (let x = 0; x < exprLen; x += 2) {
    for (let y = x + 4; y < exprLen + 2; y += 2) if (!(x === 0 && y === exprLen + 1)) out.push([x, y]);
  }
  if (n === 4) out.push([0, 4, 6, 10]);
  return out;
}

/** A compiled (operators, brackets) template: the token list with leaf slots, and its RPN program. */
type Template = { parts: (number | string)[]; rpn: (number | string)[] };

function compileTemplates(n: number): Template[] {
  const templates: Template[] = [];
  const opLists: string[][] = [[]];
  for (let i = 1; i < n; i++) opLists.splice(0, opLists.length, ...opLists.flatMap((l) => OPS.map((o) => [...l, o])));
  for (const ops of opLists) {
    for (const b of bracketPatterns(n)) {
      const parts: (number | string)[] = [0];
      ops.forEach((o, i) => parts.push(o, i + 1));
      for (let k = 0; k < b.length; k++) parts.splice(b[k], 0, k % 2 === 0 ? "(" : ")");
      templates.push({ parts, rpn: toRpn(parts) });
    }
  }
  return templates;
}

function toRpn(parts: (number | string)[]): (number | string)[] {
  const prec: Record<string, number> = { "+": 1, "-": 1, "*": 2, "/": 2 };
  const out: (number | string)[] = [];
  const st: string[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (p === "(") st.push(p);
    else if (p === ")") {
      while (st[st.length - 1] !== "(") out.push(st.pop()!);
      st.pop();
    } else {
      while (st.length && st[st.length - 1] !== "(" && prec[st[st.length - 1]] >= prec[p]) out.push(st.pop()!);
      st.push(p);
    }
  }
  while (st.length) out.push(st.pop()!);
  return out;
}

const TEMPLATES = new Map<number, Template[]>();
function templates(n: number): Template[] {
  let t = TEMPLATES.get(n);
  if (!t) TEMPLATES.set(n, (t = compileTemplates(n)));
  return t;
}

function gcdNum(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

// Small exact fractions as number pairs: with four numbers of at most two digits every numerator and
// denominator stays far below 2^53, so this is exact and much faster than BigInt.
function evalRpn(rpn: (number | string)[], xs: readonly number[], target: number): boolean {
  const n: number[] = [];
  const d: number[] = [];
  for (const p of rpn) {
    if (typeof p === "number") {
      n.push(xs[p]);
      d.push(1);
      continue;
    }
    const bn = n.pop()!;
    const bd = d.pop()!;
    const an = n.pop()!;
    const ad = d.pop()!;
    let rn: number;
    let rd: number;
    if (p === "+") [rn, rd] = [an * bd + bn * ad, ad * bd];
    else if (p === "-") [rn, rd] = [an * bd - bn * ad, ad * bd];
    else if (p === "*") [rn, rd] = [an * bn, ad * bd];
    else {
      if (bn === 0) return false; // ZeroDivisionError: skipped
      [rn, rd] = [an * bd, ad * bn];
      if (rd < 0) [rn, rd] = [-rn, -rd];
    }
    const g = gcdNum(rn, rd) || 1;
    n.push(rn / g);
    d.push(rd / g);
  }
  return n[0] === target * d[0];
}

function distinctPermutations(xs: readonly number[]): number[][] {
  const out: number[][] = [];
  const seen = new Set<string>();
  const rec = (prefix: number[], rest: number[]): void => {
    if (rest.length === 0) {
      const k = prefix.join(",");
      if (!seen.has(k)) {
        seen.add(k);
        out.push(prefix);
      }
      return;
    }
    for (let i = 0; i < rest.length; i++) rec([...prefix, rest[i]], [...rest.slice(0, i), ...rest.slice(i + 1)]);
  };
  rec([], [...xs]);
  return out.sort((a, b) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  });
}

function checkValues(values: readonly number[], target: number): void {
  if ((values.length !== 3 && values.length !== 4) || values.some((v) => !Number.isInteger(v) || v < 0 || v > 99)) {
    throw new Error(`solver: values must be 3 or 4 integers in 0..99, got ${JSON.stringify(values)}`);
  }
  if (!Number.isInteger(target) || Math.abs(target) > 1e9) {
    throw new Error(`solver: target must be an integer with |target| <= 1e9, got ${target}`);
  }
}

/**
 * Every distinct solution string for three or four card values and a target, in a fixed order (sorted permutations,
 * operators in `+ - * /` order, the seven bracket patterns). Empty when the hand is unsolvable.
 */
export function solve(values: readonly number[], target = 24): string[] {
  checkValues(values, target);
  const sols: string[] = [];
  const seen = new Set<string>();
  for (const perm of distinctPermutations(values)) {
    for (const t of templates(values.length)) {
      if (!evalRpn(t.rpn, perm, target)) continue;
      const s = t.parts.map((p) => (typeof p === "number" ? String(perm[p]) : p)).join("");
      if (!seen.has(s)) {
        seen.add(s);
        sols.push(s);
      }
    }
  }
  return sols;
}

const SOLUTION_CACHE = new Map<string, string[]>();
const CACHE_LIMIT = 20_000;

/** `solve` memoised by the sorted multiset of values (solutions do not depend on card order). */
export function solutionsFor(values: readonly number[], target = 24): string[] {
  const key = `${target}:${[...values].sort((a, b) => a - b).join(",")}`;
  let s = SOLUTION_CACHE.get(key);
  if (!s) {
    s = solve(values, target);
    if (SOLUTION_CACHE.size >= CACHE_LIMIT) SOLUTION_CACHE.clear();
    SOLUTION_CACHE.set(key, s);
  }
  return s;
}

/** True when at least one formula of the released solver's form equals the target. */
export function isSolvable(values: readonly number[], target = 24): boolean {
  return solutionsFor(values, target).length > 0;
}

/** Check a solution string independently with the BigInt evaluator (used by tests and the oracle). */
export function checkSolution(formula: string, target = 24): boolean {
  const t = tokenize(formula);
  if (!t.clean) return false;
  const r = evaluateFormula(t.tokens);
  return r.ok && fractionEquals(r.value, target);
}
