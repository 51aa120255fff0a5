/**
 * Study (A), the paper's §3.1 / Fig. 2 at CPU scale: the same small GPT trained on cfg3f sentences
 * with a plain input (baseline), with hierarchical 2+3-gram inputs (over-encoding, no hashing) and
 * with a next-2-token output (our over-decoding arm: a factorised head, App. C's MTP approximation,
 * not the joint n-gram output vocabulary of Fig. 2). Held-out next-token loss per arm, the trivial
 * baselines of the held-out split, and a grammar check of sampled completions.
 */
import type { ExperimentContext } from "../../train/experiment.js";
import { CFG_VOCAB } from "./cfg3f.js";
import type { OverTokenizedExperimentConfig } from "./config.js";
import { cfgData, trivialBaselines } from "./data.js";
import { studyArm } from "./train-arm.js";
import type { ArmResult, TrivialBaselines } from "./summary.js";

/** cfg3f's terminals {1, 2, 3}: the uniform baseline is ln 3 (BOS/EOS add one pair per sentence). */
const CFG_TERMINALS = 3;

export async function runCfgStudy(c: OverTokenizedExperimentConfig, ctx: ExperimentContext): Promise<{ arms: ArmResult[]; baselines: TrivialBaselines }> {
  const { data, valSentences } = cfgData(c);
  const gen = { sentences: valSentences.slice(0, c.cfg.generation.prompts), cut: c.cfg.generation.cut, temperature: c.cfg.generation.temperature };
  const arms: ArmResult[] = [];
  for (const spec of c.cfg.arms) arms.push(await studyArm(ctx, c, "cfg", spec, c.cfg.model, c.cfg.train, data, gen));
  return { arms, baselines: trivialBaselines(data, CFG_VOCAB, CFG_TERMINALS) };
}
