/**
 * The cfg3f synthetic grammar used by the Over-Tokenized Transformer's CFG study (arXiv
 * 2501.16975, §3.1, App. B.2), from Allen-Zhu & Li, "Physics of Language Models, Part 1".
 * Terminals 1, 2, 3; nonterminals 7..22 in six layers; root 22; every rule has 2 or 3 symbols,
 * so sentences have 2^6 = 64 to 3^6 = 729 terminals. Alternatives are chosen uniformly.
 *
 * Token ids for the LM: 0 = BOS (also the n-gram padding token), 1..3 terminals, 4 = EOS; V = 5
 * (the paper's "2 + 3" vocabulary).
 */
import type { Rng } from "../../util/rng.js";

export const CFG3F_ROOT = 22;
export const CFG_BOS = 0;
export const CFG_EOS = 4;
export const CFG_VOCAB = 5;

/** nonterminal -> alternatives (each a list of symbols). */
export const CFG3F_RULES: Readonly<Record<number, readonly (readonly number[])[]>> = {
  22: [[20, 21], [20, 19, 21], [21, 19, 19], [20, 20]],
  21: [[18, 17], [17, 16], [16, 17, 18], [16, 18]],
  20: [[16, 16], [16, 17], [17, 16, 18]],
  19: [[18, 16, 18], [17, 18], [18, 18]],
  18: [[14, 15, 13], [15, 13, 13], [13, 15]],
  17: [[15, 14, 13], [14, 15], [15, 14]],
  16: [[15, 15], [13, 15, 13], [14, 13], [14, 14]],
  15: [[10, 11, 11], [11, 11, 10], [10, 10], [12, 12, 11]],
  14: [[10, 12], [12, 10, 12], [12, 11], [10, 12, 12]],
  13: [[11, 12], [12, 11, 12], [10, 12, 11]],
  12: [[7, 9, 7], [9, 8], [8, 8, 9]],
  11: [[8, 8], [9, 7], [9, 7, 7]],
  10: [[8, 9, 9], [9, 7, 9], [7, 9, 9]],
  9: [[1, 2, 1], [3, 3], [1, 1]],
  8: [[3, 1, 1], [1, 2], [3, 3, 1]],
  7: [[2, 2, 1], [3, 2, 2], [3, 1, 2], [3, 2]],
};

const isTerminal = (s: number) => s >= 1 && s <= 3;

/** Sample one sentence (terminals only) from `symbol` (default the root). */
export function sampleCfg3f(rng: Rng, symbol = CFG3F_ROOT): number[] {
  if (isTerminal(symbol)) return [symbol];
  const alts = CFG3F_RULES[symbol];
  if (!alts) throw new Error(`cfg3f: unknown symbol ${symbol}`);
  const out: number[] = [];
  for (const s of alts[rng.int(alts.length)]) out.push(...sampleCfg3f(rng, s));
  return out;
}

/**
 * Does `symbol` derive exactly `seq`? A memoised CYK-style parse: for each (symbol, start) the
 * set of ends it can reach. Rejects any non-terminal token (BOS/EOS must be stripped).
 */
export function cfg3fDerives(seq: ArrayLike<number>, symbol = CFG3F_ROOT): boolean {
  const n = seq.length;
  for (let i = 0; i < n; i++) if (!isTerminal(seq[i])) return false;
  const memo = new Map<number, Set<number>>();
  const ends = (sym: number, i: number): Set<number> => {
    if (isTerminal(sym)) return i < n && seq[i] === sym ? new Set([i + 1]) : new Set();
    const key = sym * (n + 1) + i;
    const hit = memo.get(key);
    if (hit) return hit;
    const out = new Set<number>();
    for (const alt of CFG3F_RULES[sym]) {
      let frontier = new Set([i]);
      for (const s of alt) {
        const next = new Set<number>();
        for (const j of frontier) for (const e of ends(s, j)) next.add(e);
        frontier = next;
        if (!frontier.size) break;
      }
      for (const e of frontier) out.add(e);
    }
    memo.set(key, out);
    return out;
  };
  if (!CFG3F_RULES[symbol] && !isTerminal(symbol)) throw new Error(`cfg3f: unknown symbol ${symbol}`);
  return ends(symbol, 0).has(n);
}

/** Sentences as one token stream: BOS s_1 EOS BOS s_2 EOS ... */
export function cfgStream(sentences: number[][]): Int32Array {
  const len = sentences.reduce((s, x) => s + x.length + 2, 0);
  const out = new Int32Array(len);
  let o = 0;
  for (const s of sentences) {
    out[o++] = CFG_BOS;
    out.set(s, o);
    o += s.length;
    out[o++] = CFG_EOS;
  }
  return out;
}

/**
 * Probability that `symbol` generates exactly `seq` (inside algorithm; every alternative of a
 * nonterminal has probability 1/#alternatives, as `sampleCfg3f` draws them). Sums over every
 * derivation, so an ambiguous sentence gets the total probability of its parses. 0 for a
 * sequence the symbol does not derive.
 */
export function cfg3fProbability(seq: ArrayLike<number>, symbol = CFG3F_ROOT): number {
  const n = seq.length;
  for (let i = 0; i < n; i++) if (!isTerminal(seq[i])) return 0;
  if (!CFG3F_RULES[symbol] && !isTerminal(symbol)) throw new Error(`cfg3f: unknown symbol ${symbol}`);
  const memo = new Map<number, Map<number, number>>();
  // For (sym, i): end -> probability that sym generates seq[i..end).
  const ends = (sym: number, i: number): Map<number, number> => {
    if (isTerminal(sym)) return i < n && seq[i] === sym ? new Map([[i + 1, 1]]) : new Map();
    const key = sym * (n + 1) + i;
    const hit = memo.get(key);
    if (hit) return hit;
    const alts = CFG3F_RULES[sym];
    const out = new Map<number, number>();
    for (const alt of alts) {
      let frontier = new Map([[i, 1 / alts.length]]);
      for (const s of alt) {
        const next = new Map<number, number>();
        for (const [j, pj] of frontier) for (const [e, pe] of ends(s, j)) next.set(e, (next.get(e) ?? 0) + pj * pe);
        frontier = next;
        if (!frontier.size) break;
      }
      for (const [e, p] of frontier) out.set(e, (out.get(e) ?? 0) + p);
    }
    memo.set(key, out);
    return out;
  };
  return ends(symbol, 0).get(n) ?? 0;
}

/**
 * The entropy floor of the cfg3f token stream `BOS s EOS BOS s EOS ...` (sentences drawn
 * independently from `symbol`): the stream's entropy per token is H(S) / (E|S| + 2), where H(S)
 * is the entropy of the sentence distribution (EOS and the next BOS carry no information beyond
 * the sentence itself). H(S) = E[−ln P(S)] is estimated by Monte Carlo over `samples` sentences with
 * exact P(S) (inside algorithm), so `se` is the Monte-Carlo standard error of the per-token floor
 * (E|S| is taken from the same sample). No model that sees the whole past can go below it; a
 * model whose context starts mid-sentence sits above it.
 */
export function cfg3fEntropyFloor(rng: Rng, symbol: number, samples: number): { perToken: number; se: number; sentenceEntropy: number; meanLength: number; samples: number } {
  const nll: number[] = [];
  let len = 0;
  for (let k = 0; k < samples; k++) {
    const s = sampleCfg3f(rng, symbol);
    len += s.length;
    nll.push(-Math.log(cfg3fProbability(s, symbol)));
  }
  const meanLength = len / samples;
  const h = nll.reduce((a, b) => a + b, 0) / samples;
  const sd = Math.sqrt(nll.reduce((a, b) => a + (b - h) ** 2, 0) / Math.max(1, samples - 1));
  return { perToken: h / (meanLength + 2), se: sd / Math.sqrt(samples) / (meanLength + 2), sentenceEntropy: h, meanLength, samples };
}
