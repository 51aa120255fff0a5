/**
 * Study (A), the paper's §3.1 / Fig. 2 at CPU scale: a GPT trained on cfg3f sentences with a plain
 * input (baseline), with hierarchical 2+3-gram inputs (over-encoding, no hashing) and with the joint
 * next-3-gram output vocabulary (over-decoding), at the preset's model size and at each of
 * `cfg.extraSizes` (Fig. 2 compares a small and a large model), every size on the same sentences.
 * Held-out next-token loss per arm, the trivial baselines of the held-out split and the grammar's
 * entropy floor, and a grammar check of sampled completions.
 */
import type { ExperimentContext } from "../../train/experiment.js";
import { Rng } from "../../util/rng.js";
import { CFG_VOCAB, cfg3fEntropyFloor } from "./cfg3f.js";
import type { ArmSpec, OverTokenizedExperimentConfig } from "./config.js";
import { cfgData, trivialBaselines } from "./data.js";
import { studyArm } from "./train-arm.js";
import type { ArmResult, TrivialBaselines } from "./summary.js";

/** cfg3f's terminals {1, 2, 3}: the uniform baseline is ln 3 (BOS/EOS add one pair per sentence). */
const CFG_TERMINALS = 3;

export async function runCfgStudy(c: OverTokenizedExperimentConfig, ctx: ExperimentContext): Promise<{ arms: ArmResult[]; baselines: TrivialBaselines }> {
  const { data, valSentences } = cfgData(c);
  const gen = { sentences: valSentences.slice(0, c.cfg.generation.prompts), cut: c.cfg.generation.cut, temperature: c.cfg.generation.temperature, root: c.cfg.root };
  const arms: ArmResult[] = [];
  const sizes = [{ name: "", model: c.cfg.model, train: c.cfg.train }, ...c.cfg.extraSizes];
  for (const size of sizes) {
    const named = (spec: ArmSpec): ArmSpec => (size.name ? { ...spec, name: `${size.name}-${spec.name}` } : spec);
    for (const spec of c.cfg.arms) arms.push(await studyArm(ctx, c, "cfg", named(spec), size.model, size.train, data, gen));
    const base = c.cfg.arms.find((a) => !a.oe && !a.od && !a.mtp);
    for (let k = 1; base && k <= c.cfg.extraBaselineSeeds; k++) arms.push(await studyArm(ctx, c, "cfg", named(base), size.model, size.train, data, gen, c.seed + k));
  }
  const f = cfg3fEntropyFloor(Rng.stream(c.seed, "cfg3f-floor"), c.cfg.root, c.cfg.floorSamples);
  const entropyFloor = { perToken: f.perToken, se: f.se, samples: f.samples, meanLength: f.meanLength, root: c.cfg.root };
  return { arms, baselines: { ...trivialBaselines(data, CFG_VOCAB, CFG_TERMINALS), entropyFloor } };
}
