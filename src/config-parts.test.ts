/**
 * The shared config parts (`zodParts` in src/train/config.ts) as the presets use them: every preset
 * of the configs built from them parses to itself, key order included (config.json is written from
 * the parsed config), and the shared fields reject what they rejected when each config spelled
 * them out.
 */
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { applyOverrides, validateConfig } from "./train/config.js";
import { lmExperimentSchema, lmPresets } from "./lm/config.js";
import { fp4TrainingSchema, fp4TrainingPresets } from "./papers/fp4-training/config.js";
import { momSchema, momPresets } from "./papers/mixture-of-mamba/config.js";

const configs: [string, z.ZodTypeAny, Record<string, unknown>][] = [
  ["lm", lmExperimentSchema, lmPresets],
  ["fp4-training", fp4TrainingSchema, fp4TrainingPresets],
  ["mixture-of-mamba", momSchema, momPresets],
];

describe("shared config parts", () => {
  it.each(configs)("every %s preset parses to itself, key order included", (_, schema, presets) => {
    for (const preset of Object.values(presets)) expect(JSON.stringify(validateConfig(schema, preset))).toBe(JSON.stringify(preset));
  });
  it.each(configs)("%s: the corpus and optimizer fields keep their limits and messages", (_, schema, presets) => {
    const bad = (set: string) => () => validateConfig(schema, applyOverrides(presets.tiny, [set]));
    expect(bad("data.valFraction=0.5")).toThrow("config: data.valFraction is 0.5; expected a value < 0.5");
    expect(bad("data.valFraction=0")).toThrow("config: data.valFraction is 0; expected a value > 0");
    expect(bad("data.corpus=nope")).toThrow('config: data.corpus is "nope"; expected one of "moby-dick", "sotu"');
    expect(bad("data.file=3")).toThrow("config: data.file is 3; expected a string");
    expect(bad("train.lr=2")).toThrow("config: train.lr is 2; expected a value <= 1");
    expect(bad("train.beta2=1")).toThrow("config: train.beta2 is 1; expected a value < 1");
    expect(() => validateConfig(schema, applyOverrides(presets.tiny, ['data.file="my.txt"', "data.corpus=sotu"]))).not.toThrow();
  });
});
