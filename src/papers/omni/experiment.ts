/**
 * `tinyfoundry run omni`: the tiny Baichuan-Omni-1.5 experiment (arXiv 2501.15368). The arms, in
 * order (each a resumable run under `<run>/arms/`, trained through `runArm`):
 *
 *   0. data     espeak-ng speech (training / held-out voices, held-out sentences), Whisper
 *               log-mel, MNIST digits, the fixed-vocabulary text corpus            (`prepare.ts`)
 *   1. text-lm  the text-only backbone LM (the "pretrained LLM")                    (`text-lm.ts`)
 *   2. tokenizer-T1 (reconstruction only) and tokenizer-T2 (+ frozen-LM transcript loss): the
 *               12.5 Hz 8-layer RVQ tokenizer                        (`tokenizer-experiment.ts`)
 *   3. probe-<T>-k<n>: a recogniser on the first n layers' codes (CER) (`probe-experiment.ts`)
 *   4. s1-*     the paper's stages in order, each starting from the previous one; s2-joint: one
 *               joint stage from the text LM. Both read T2's codes     (`stage-experiment.ts`)
 *   5. samples  WAVs and a digit grid for the report                             (`samples.ts`)
 *
 * `run` returns the summary (`summary.ts`); the claims (`claims.ts`) and the report (`report.ts`)
 * read it. The runner owns status, wall time, summary.json, verdicts.json and the report.
 */
import { disposeTree } from "../../engine/index.js";
import { initLM } from "../../nn/transformer.js";
import { loadRunParams } from "../../train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import type { OmniExperimentConfig } from "./config.js";
import { initOmni, PARAM_GROUPS } from "./model.js";
import type { Codes } from "./sequences.js";
import { JOINT_STAGE, PAPER_STAGES } from "./stages.js";
import type { TokParams } from "./tokenizer.js";
import { dataSummary, lmConfigOf, makePools, omniConfigOf, prepareOmniData } from "./prepare.js";
import { trainTextLM } from "./text-lm.js";
import { encodeAll, loadTokenizer, meanFrameBaseline, tokConfig, trainTokenizer, type TokArm } from "./tokenizer-experiment.js";
import { constantTranscriptBaseline, makeRecogniser, trainProbe } from "./probe-experiment.js";
import { trainStage } from "./stage-experiment.js";
import { generatedSamples, writeAudioSamples, writeDigitGrid } from "./samples.js";
import type { OmniSummary, ProbeSummary, StageSummary, TokArmSummary } from "./summary.js";

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const ARMS_T = ["T1", "T2"] as const;

/** The arm name of S1's stage `i` (0-based). */
export const s1ArmName = (i: number) => `s1-${i + 1}-${PAPER_STAGES[i].name}`;

export async function runOmni(cfg: OmniExperimentConfig, ctx: ExperimentContext): Promise<OmniSummary> {
  const run = ctx.run;
  const data = await prepareOmniData(cfg, run, ctx.log);
  const lmCfg = lmConfigOf(cfg, data.tok);
  const armDir = (a: string) => run.path("arms", a);
  const text = await runArm(ctx, "text-lm", cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, "text-lm"));
  ctx.log(`text-lm: held-out text NLL ${text.textNll.toFixed(3)}, written QA accuracy ${pct(text.textQaAcc)}`);

  // Tokenizer study: T1 vs T2, then the codes of every utterance under each, then the probes.
  const toks = {} as Record<TokArm, TokArmSummary>;
  for (const arm of ARMS_T) {
    toks[arm] = await runArm(ctx, `tokenizer-${arm}`, tokConfig(cfg, arm), (r) => trainTokenizer(cfg, data, arm, r, ctx, armDir("text-lm")));
    ctx.log(`tokenizer-${arm}: mel L1 with 1/8 layers ${toks[arm].reconL1ByLayers[0].toFixed(3)}/${toks[arm].reconL1ByLayers.at(-1)!.toFixed(3)}`);
  }
  const tokParams = {} as Record<TokArm, TokParams>;
  const allCodes = {} as Record<TokArm, Map<number, Codes>>;
  const allIdx = [...data.trainIdx, ...data.evalIdx];
  for (const arm of ARMS_T) {
    tokParams[arm] = loadTokenizer(cfg, data, arm, armDir(`tokenizer-${arm}`));
    const codes = await encodeAll(tokParams[arm], tokConfig(cfg, arm), data, allIdx, cfg.tokenizer.train.batchSize);
    allCodes[arm] = new Map(allIdx.map((u, i) => [u, codes[i]]));
  }
  const probes: Record<string, ProbeSummary> = {};
  for (const arm of ARMS_T)
    for (const k of cfg.probe.layers) {
      const label = `probe-${arm}-k${k}`;
      probes[label] = await runArm(ctx, label, { ...cfg.probe, tokenizer: arm, layers: k }, (r) => trainProbe(cfg, data, allCodes[arm], cfg.tokenizer.codebookSizes, k, r, ctx, label));
      ctx.log(`${label}: held-out CER ${pct(probes[label].cer)}`);
    }

  // Staging study: S1 (the paper's seven stages) and S2 (one joint stage), on T2's codes. The T2
  // all-layer probe, reloaded from its arm, transcribes the generated speech.
  const P = makePools(data, cfg, allCodes.T2);
  const recognise = makeRecogniser(cfg, data, armDir);
  const tokT2 = { p: tokParams.T2, cfg: tokConfig(cfg, "T2") };
  const ocfg = omniConfigOf(cfg, data);
  const freshOmni = () => initOmni(ocfg, loadRunParams(armDir("text-lm"), initLM(lmCfg, cfg.seed)), cfg.seed);
  const s1: Record<string, StageSummary> = {};
  for (const [i, stage] of PAPER_STAGES.entries()) {
    const label = s1ArmName(i);
    const from = i > 0 ? s1ArmName(i - 1) : null;
    const steps = cfg.omni.stageSteps[stage.name];
    const last = i === PAPER_STAGES.length - 1;
    s1[stage.name] = await runArm(ctx, label, { stage, steps }, (r) =>
      trainStage(cfg, data, P, stage, steps, () => (from ? loadRunParams(armDir(from), freshOmni()) : freshOmni()), r, ctx, label, last ? tokT2 : null, recognise),
    );
    ctx.log(`${label}: text NLL ${s1[stage.name].textNll.toFixed(3)}, s->t ${pct(s1[stage.name].s2tAcc)}, caption ${pct(s1[stage.name].captionAcc)}`);
  }
  const jointSteps = cfg.omni.jointSteps || PAPER_STAGES.reduce((s, st) => s + cfg.omni.stageSteps[st.name], 0);
  const s2 = await runArm(ctx, "s2-joint", { stage: JOINT_STAGE, steps: jointSteps }, (r) => trainStage(cfg, data, P, JOINT_STAGE, jointSteps, freshOmni, r, ctx, "s2-joint", tokT2, recognise));

  // Listening and viewing material for the report.
  const finalS1 = s1[PAPER_STAGES[PAPER_STAGES.length - 1].name];
  const samples = {
    audio: await writeAudioSamples(cfg, data, run, tokParams, allCodes),
    generated: generatedSamples(run, s1ArmName(PAPER_STAGES.length - 1)),
    digits: writeDigitGrid(data, run, finalS1.captionSamples),
  };
  for (const t of Object.values(tokParams)) disposeTree(t);
  return {
    data: dataSummary(data),
    textLm: text,
    tokenizers: toks,
    tokenizerBaseline: meanFrameBaseline(data),
    probes,
    probeBaseline: constantTranscriptBaseline(data),
    s1,
    s2,
    paramGroups: PARAM_GROUPS,
    samples,
  };
}
