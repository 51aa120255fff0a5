/**
 * Study (A), the paper's §3.1 / Fig. 2 at CPU scale: the same small GPT trained on cfg3f sentences
 * with a plain input (baseline), with hierarchical 2+3-gram inputs (over-encoding, no hashing) and
 * with a next-2-token output (our over-decoding arm: a factorised head, App. C's MTP approximation,
 * not the joint n-gram output vocabulary of Fig. 2). Held-out next-token loss per arm, the trivial
 * baselines of the held-out split, and a grammar check of sampled completions.
 */
import type { ExperimentContext } from "../../train/experiment.js";
import { Rng } from "../../util/rng.js";
import { CFG_VOCAB, cfg3fEntropyFloor } from "./cfg3f.js";
import type { OverTokenizedExperimentConfig } from "./config.js";
import { cfgData, trivialBaselines } from "./data.js";
import { studyArm } from "./train-arm.js";
import type { ArmResult, TrivialBaselines } from "./summary.js";

/** cfg3f's terminals {1, 2, 3}: the uniform baseline is ln 3 (BOS/EOS add one pair per sentence). */
const CFG_TERMINALS = 3;

export async function runCfgStudy(c: OverTokenizedExperimentConfig, ctx: ExperimentContext): Promise<{ arms: ArmResult[]; baselines: TrivialBaselines }> {
  const { data, valSentences } = cfgData(c);
  const gen = { sentences: valSentences.slice(0, c.cfg.generation.prompts), cut: c.cfg.generation.cut, temperature: c.cfg.generation.temperature, root: c.cfg.root };
  const arms: ArmResult[] = [];
  for (const spec of c.cfg.arms) arms.push(await studyArm(ctx, c, "cfg", spec, c.cfg.model, c.cfg.train, data, gen));
  const base = c.cfg.arms.find((a) => !a.oe && !a.od && !a.mtp);
  for (let k = 1; base && k <= c.cfg.extraBaselineSeeds; k++) arms.push(await studyArm(ctx, c, "cfg", base, c.cfg.model, c.cfg.train, data, gen, c.seed + k));
  const f = cfg3fEntropyFloor(Rng.stream(c.seed, "cfg3f-floor"), c.cfg.root, c.cfg.floorSamples);
  const entropyFloor = { perToken: f.perToken, se: f.se, samples: f.samples, meanLength: f.meanLength, root: c.cfg.root };
  return { arms, baselines: { ...trivialBaselines(data, CFG_VOCAB, CFG_TERMINALS), entropyFloor } };
}
