/**
 * Config handling shared by every experiment: presets, `--set key=value` overrides on dotted
 * paths, and validation once at the boundary with a one-line error that names the field, the
 * value and what is allowed.
 */
import { z } from "zod";
import { CORPORA } from "../data/corpus.js";

export class ConfigError extends Error {
  override name = "ConfigError";
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Parse a `--set` value: JSON when it parses (numbers, booleans, arrays), else the raw string. */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Apply `key.path=value` overrides to a deep copy of `base`; unknown keys are errors. */
export function applyOverrides<T>(base: T, sets: string[]): T {
  const out = structuredClone(base);
  if (!isPlainObject(out)) throw new ConfigError("--set: the config is not an object");
  for (const s of sets) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--set: expected key=value, got "${s}"`);
    const path = s.slice(0, eq).split(".");
    const value = parseValue(s.slice(eq + 1));
    let node: Record<string, unknown> = out;
    for (let i = 0; i < path.length; i++) {
      const k = path[i];
      if (!(k in node)) {
        const where = path.slice(0, i).join(".") || "config";
        throw new ConfigError(`--set ${path.join(".")}: unknown key "${k}" in ${where}; allowed: ${Object.keys(node).join(", ")}`);
      }
      if (i === path.length - 1) node[k] = value;
      else {
        if (!isPlainObject(node[k])) throw new ConfigError(`--set ${path.join(".")}: ${path.slice(0, i + 1).join(".")} is not a section`);
        node = node[k] as Record<string, unknown>;
      }
    }
  }
  return out;
}

function describeIssue(issue: z.ZodIssue, input: unknown): string {
  const path = issue.path.join(".") || "config";
  let got: unknown = input;
  for (const k of issue.path) got = isPlainObject(got) || Array.isArray(got) ? (got as Record<string, unknown>)[k as string] : undefined;
  const gotStr = got === undefined ? "nothing" : JSON.stringify(got);
  let allowed = issue.message;
  if (issue.code === "invalid_enum_value") allowed = `one of ${issue.options.map((o) => JSON.stringify(o)).join(", ")}`;
  else if (issue.code === "invalid_type") allowed = `a ${issue.expected}`;
  else if (issue.code === "too_small") allowed = `a value ${issue.inclusive ? ">=" : ">"} ${String(issue.minimum)}`;
  else if (issue.code === "too_big") allowed = `a value ${issue.inclusive ? "<=" : "<"} ${String(issue.maximum)}`;
  else if (issue.code === "unrecognized_keys") return `config: unknown key(s) ${issue.keys.join(", ")} in ${path}`;
  return `config: ${path} is ${gotStr}; expected ${allowed}`;
}

/** Validate `input` against `schema`; throws a one-line ConfigError on the first problem. */
export function validateConfig<S extends z.ZodTypeAny>(schema: S, input: unknown): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ConfigError(describeIssue(r.error.issues[0], input));
  return r.data;
}

/** Choose a preset by name with a clear error. */
export function pickPreset<T>(presets: Record<string, T>, name: string): T {
  const p = presets[name];
  if (!p) throw new ConfigError(`--preset: "${name}" is not a preset${didYouMean(name, Object.keys(presets))}; allowed: ${Object.keys(presets).join(", ")}`);
  return structuredClone(p);
}

const posInt = z.number().int().positive();
/**
 * Zod pieces shared by experiments. A text-corpus section is written field by field from
 * `corpus`, `textFile` and `valFraction` (so each config keeps its own key order and extra
 * fields); `optim` is the whole optimizer section (steps, AdamW, schedule, eval and checkpoints).
 */
export const zodParts = {
  posInt,
  seed: z.number().int().min(0).max(2 ** 31 - 1),
  /** A built-in text corpus by name. */
  corpus: z.enum(CORPORA),
  /** A user text file that overrides `corpus` (null: use the corpus). */
  textFile: z.string().nullable(),
  /** Fraction of the text held out for validation, in (0, 0.5). */
  valFraction: z.number().gt(0).lt(0.5),
  lmModel: z
    .object({
      vocabSize: posInt,
      dModel: posInt,
      nLayers: posInt,
      nHeads: posInt,
      contextLength: posInt,
      norm: z.enum(["rms", "layer"]),
      pos: z.enum(["rope", "learned"]),
      mlp: z.enum(["gelu", "swiglu"]),
      mlpRatio: z.number().positive(),
      tiedHead: z.boolean(),
      bias: z.boolean(),
      mlpMultipleOf: posInt.optional(),
      seqMultipleOf: posInt.optional(),
    })
    .strict()
    .refine((m) => m.dModel % m.nHeads === 0, { message: "model.dModel must be divisible by model.nHeads", path: ["nHeads"] }),
  optim: z
    .object({
      steps: posInt,
      batchSize: posInt,
      lr: z.number().positive().max(1),
      warmupSteps: z.number().int().min(0),
      minLrRatio: z.number().min(0).max(1),
      weightDecay: z.number().min(0),
      beta1: z.number().min(0).lt(1),
      beta2: z.number().min(0).lt(1),
      clip: z.number().min(0),
      evalEvery: posInt,
      evalBatches: posInt,
      checkpointEvery: posInt,
    })
    .strict(),
};

/** Levenshtein distance (small strings: option values, names). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** ` (did you mean "fp4-training"?)` for a near miss among `known` (a prefix, or a few edits away), else "". */
export function didYouMean(name: string, known: readonly string[]): string {
  const n = name.toLowerCase();
  const prefix = known.filter((k) => k.startsWith(n) || n.startsWith(k));
  const close = known.map((k) => [k, editDistance(n, k)] as const).filter(([k, d]) => d <= Math.max(2, Math.floor(k.length / 3))).sort((x, y) => x[1] - y[1]);
  const best = prefix.length === 1 ? prefix[0] : close[0]?.[0];
  return best ? ` (did you mean "${best}"?)` : "";
}
