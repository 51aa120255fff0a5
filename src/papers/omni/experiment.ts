/**
 * `tinyfoundry run omni`: the tiny Baichuan-Omni-1.5 experiment (arXiv 2501.15368). The arms, in
 * order (each a resumable run under `<run>/arms/`, trained through `runArm`):
 *
 *   0. data     espeak-ng speech (training / held-out voices, held-out sentences), Whisper
 *               log-mel, MNIST digits, the fixed-vocabulary text corpus            (`prepare.ts`)
 *   1. text-lm  the text-only backbone LM (the "pretrained LLM")                    (`text-lm.ts`)
 *   1b. whisper-pretrain (only with `tokenizer.pretrainEncoder.steps` > 0): the tokenizer's encoder
 *               trained as a recogniser first                                   (`whisper-experiment.ts`)
 *   2. tokenizer-T2: the 12.5 Hz 8-layer RVQ tokenizer with the frozen-LM transcript loss, the
 *               one the stages read (the T1-vs-T2 study is `omni-tokenizer`) (`tokenizer-experiment.ts`)
 *   3. judge    a digit-word classifier on T2's codes, scored on held-out voices  (`judge.ts`)
 *      vision-pretrain: the ViT + a linear head on MNIST classification; the stages start from
 *               its tower (skipped with `omni.visionPretrain.steps = 0`)       (`vision-pretrain.ts`)
 *   4. s1-*     the paper's stages in order, each starting from the previous one; s1nr-*: the
 *               same stages without text replay; s2-joint: one joint stage from the text LM on
 *               the union of S1's data. All read T2's codes             (`stage-experiment.ts`)
 *   5. samples  WAVs and a digit grid for the report                             (`samples.ts`)
 *
 * `run` returns the summary (`summary.ts`); the claims (`claims.ts`) and the report (`report.ts`)
 * read it. The runner owns status, wall time, summary.json, verdicts.json and the report.
 */
import { disposeTree } from "../../engine/index.js";
import { initLM } from "../../nn/transformer.js";
import { loadRunParams } from "../../train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../train/experiment.js";
import { checkOmniConfig, type OmniExperimentConfig } from "./config.js";
import { codebookAudioEmbed, initOmni, PARAM_GROUPS, type OmniParams } from "./model.js";
import type { Codes } from "./sequences.js";
import { jointStage, PAPER_STAGES, withoutReplay, type StageSpec } from "./stages.js";
import { judgeAccuracy, judgePredict, trainJudge, type DigitJudge } from "./judge.js";
import { DIGITS } from "./world.js";
import { dataSummary, lmConfigOf, makePools, omniConfigOf, prepareOmniData, type OmniData, type Pools } from "./prepare.js";
import { trainTextLM } from "./text-lm.js";
import { encodeAll, loadTokenizer, meanFrameBaseline, tokConfig, trainTokenizer } from "./tokenizer-experiment.js";
import { pretrainedEncoder, recogniserProjection, trainWhisper } from "./whisper-experiment.js";
import type { EncoderNet } from "./tokenizer.js";
import { trainStage } from "./stage-experiment.js";
import { trainVisionPretrain, withPretrainedVision } from "./vision-pretrain.js";
import { generatedSamples, writeAudioSamples, writeDigitGrid } from "./samples.js";
import { visionTowerText, type ControlSeedRun, type JudgeSummary, type OmniSummary, type StageSummary } from "./summary.js";

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The arm name of S1's stage `i` (0-based). */
export const s1ArmName = (i: number) => `s1-${i + 1}-${PAPER_STAGES[i].name}`;
/** The arm name of stage `i` of S1 without text replay. */
export const noReplayArmName = (i: number) => `s1nr-${i + 1}-${PAPER_STAGES[i].name}`;

/** How many leading stages two schedules share exactly (same mix; they then share arms). */
export function sharedPrefix(a: StageSpec[], b: StageSpec[]): number {
  let i = 0;
  while (i < Math.min(a.length, b.length) && JSON.stringify(a[i]) === JSON.stringify(b[i])) i++;
  return i;
}

/** Train the digit-word judge on training voices' answers; score it on held-out voices' digit words. */
export function buildJudge(cfg: OmniExperimentConfig, data: OmniData, P: Pools): { judge: DigitJudge; summary: JudgeSummary } {
  const labelled = (role: string) => (P.byRole[role] ?? []).map((u) => ({ codes: P.codes.get(u)!, label: DIGITS.indexOf(data.utts[u].text as (typeof DIGITS)[number]) }));
  const train = labelled("answer");
  const test = labelled("eval-answer");
  const jcfg = { ...cfg.judge, codebookSizes: cfg.tokenizer.codebookSizes };
  const judge = trainJudge(train, DIGITS.length, jcfg);
  const tr = judgeAccuracy(judge, train);
  const te = judgeAccuracy(judge, test);
  return { judge, summary: { layers: jcfg.layers, trainAcc: tr.acc, trainN: tr.n, heldOutAcc: te.n ? te.acc : NaN, heldOutN: te.n } };
}

/**
 * Everything the stage chains read, trained (or reused) in order: data, text LM, the recogniser (when on), T2 and
 * its codes, the judge, the vision tower. Shared by `runOmni` and the chain pilot (`scripts/pilots/omni-chain.mts`).
 */
export async function omniSetup(cfg: OmniExperimentConfig, ctx: ExperimentContext) {
  checkOmniConfig(cfg);
  const run = ctx.run;
  const data = await prepareOmniData(cfg, run, ctx.log);
  const lmCfg = lmConfigOf(cfg, data.tok);
  const armDir = (a: string) => run.path("arms", a);
  const text = await runArm(ctx, "text-lm", cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, "text-lm"));
  ctx.log(`text-lm: held-out text NLL ${text.textNll.toFixed(3)}, written QA accuracy ${pct(text.textQaAcc)}`);

  // The tokenizer the stages read: T2 (reconstruction + frozen-LM transcript loss), one seed. The
  // T1-vs-T2 study with its probes and claims is the `omni-tokenizer` entry.
  // With `tokenizer.pretrainEncoder.steps` > 0 its encoder is first trained as a recogniser (`whisper-pretrain`, the paper's
  // Whisper-large encoder in small; route 4 of the README).
  const pre = cfg.tokenizer.pretrainEncoder;
  let encoder: EncoderNet | undefined;
  if (pre.steps > 0) {
    const w = await runArm(ctx, "whisper-pretrain", { pre, tok: tokConfig(cfg, "T2") }, (r) => trainWhisper(cfg, data, tokConfig(cfg, "T2"), r, ctx, ctx.log));
    ctx.log(`whisper-pretrain: word accuracy held-out voices ${pct(w.heldOutWordAcc)}, training utterances ${pct(w.trainWordAcc)} after ${w.steps} steps`);
    encoder = pretrainedEncoder(cfg, data, tokConfig(cfg, "T2"), armDir("whisper-pretrain"));
  }
  const t2 = await runArm(ctx, "tokenizer-T2", tokConfig(cfg, "T2"), (r) => trainTokenizer(cfg, data, "T2", r, ctx, armDir("text-lm"), encoder ? { encoder, encLrScale: pre.encLrScale } : {}));
  if (encoder) disposeTree(encoder);
  ctx.log(`tokenizer-T2: mel L1 with 1/8 layers ${t2.reconL1ByLayers[0].toFixed(3)}/${t2.reconL1ByLayers.at(-1)!.toFixed(3)}`);
  const tokParamsT2 = loadTokenizer(cfg, data, "T2", armDir("tokenizer-T2"));
  const allIdx = [...data.trainIdx, ...data.evalIdx];
  const codesT2 = await encodeAll(tokParamsT2, tokConfig(cfg, "T2"), data, allIdx, cfg.tokenizer.train.batchSize);
  const allCodes = { T2: new Map(allIdx.map((u, i) => [u, codesT2[i]])) };
  const tokParams = { T2: tokParamsT2 };

  // The judge of spoken answers: a digit-word classifier on T2's codes (training voices), scored on
  // digit words spoken by held-out voices.
  const P = makePools(data, cfg, allCodes.T2);
  const { judge: digitJudge, summary: judgeSummary } = buildJudge(cfg, data, P);
  ctx.log(`judge: digit words of held-out voices classified ${pct(judgeSummary.heldOutAcc)} right (${judgeSummary.heldOutN} utterances)`);
  const recognise = async (codes: Codes[]) => judgePredict(digitJudge, codes).map((d) => DIGITS[d]);

  // The vision tower the stages start from: pretrained on MNIST classification (the paper starts from
  // a trained NaViT), or random with `omni.visionPretrain.steps = 0` (the ablation).
  const ocfg = omniConfigOf(cfg, data);
  const vision = cfg.omni.visionPretrain.steps > 0 ? await runArm(ctx, "vision-pretrain", { ...cfg.omni.visionPretrain, vision: cfg.omni.vision }, (r) => trainVisionPretrain(cfg, r, ctx, "vision-pretrain")) : null;
  ctx.log(vision ? `vision-pretrain: ${visionTowerText(vision)}` : "vision tower: random (omni.visionPretrain.steps = 0)");
  const visionDir = vision ? armDir("vision-pretrain") : null;

  const tokT2 = { p: tokParams.T2, cfg: tokConfig(cfg, "T2") };
  // `omni.audioEmbedInit: "codebooks"`: every fresh model's audio embeddings start as T2's codebooks through the recogniser's projection.
  const audioProj = cfg.omni.audioEmbedInit === "codebooks" ? recogniserProjection(cfg, data, tokConfig(cfg, "T2"), armDir("whisper-pretrain")) : null;
  const withAudioInit = (p: OmniParams): OmniParams => (audioProj ? { ...p, audioEmbed: codebookAudioEmbed(p.audioEmbed.tables, tokParamsT2.vq.embed, audioProj) } : p);
  /** A fresh omni model (text LM, vision tower, audio embeddings as set) for `seed`'s init of the modules the text LM lacks. */
  const freshOmniSeed = (seed: number) => () => withAudioInit(withPretrainedVision(initOmni(ocfg, loadRunParams(armDir("text-lm"), initLM(lmCfg, cfg.seed)), seed), visionDir, ocfg.vision));
  const dispose = () => {
    for (const t of Object.values(tokParams)) disposeTree(t);
    if (audioProj) disposeTree(audioProj);
  };
  return { data, armDir, text, t2, allCodes, tokParams, tokT2, P, judgeSummary, recognise, vision, freshOmniSeed, dispose };
}

export type OmniSetup = Awaited<ReturnType<typeof omniSetup>>;

/**
 * One chain of stages, each an arm starting from the previous one (the first from a fresh model). The last stage
 * writes generated speech (`tokT2`) and, with `withSamples`, scores it with the judge. With `scoreOnlyLast` the
 * stages before the last are trained but not evaluated (S1 without replay: only its final model is read). `after`
 * sees each stage's summary (pilots print it).
 */
export async function runStageChain(
  cfg: OmniExperimentConfig,
  ctx: ExperimentContext,
  S: OmniSetup,
  stages: StageSpec[],
  name: (i: number) => string,
  withSamples: boolean,
  after?: (i: number, s: StageSummary) => void,
  scoreOnlyLast = false,
): Promise<Record<string, StageSummary>> {
  const out: Record<string, StageSummary> = {};
  const steps = cfg.omni.stageSteps;
  const freshOmni = S.freshOmniSeed(cfg.seed);
  for (const [i, stage] of stages.entries()) {
    const from = i > 0 ? name(i - 1) : null;
    const last = i === stages.length - 1;
    out[stage.name] = await runArm(ctx, name(i), { stage, steps: steps[stage.name] }, (r) =>
      trainStage(cfg, S.data, S.P, stage, steps[stage.name], () => (from ? loadRunParams(S.armDir(from), freshOmni()) : freshOmni()), r, ctx, name(i), last ? S.tokT2 : null, last && withSamples ? S.recognise : null, undefined, last || !scoreOnlyLast),
    );
    const o = out[stage.name];
    ctx.log(Number.isFinite(o.textQaAcc) ? `${name(i)}: written QA ${pct(o.textQaAcc)}, ASR ${pct(o.asrWordAcc)}, s->t ${pct(o.s2tAcc)}, caption ${pct(o.captionAcc)}` : `${name(i)}: trained (scored only at the last stage)`);
    after?.(i, out[stage.name]);
  }
  return out;
}

export async function runOmni(cfg: OmniExperimentConfig, ctx: ExperimentContext): Promise<OmniSummary> {
  const S = await omniSetup(cfg, ctx);
  const { data, P, tokT2 } = S;
  // Staging study on T2's codes: S1 (the paper's seven stages), S1 without text replay (the same
  // stages, pure text removed; stages without text are shared with S1), and S2 (one joint stage
  // on the union of S1's data, S1's total steps). Every arm starts from the same vision tower.
  const steps = cfg.omni.stageSteps;
  const nStages = PAPER_STAGES.length;
  const freshOmni = S.freshOmniSeed(cfg.seed);
  const s1 = await runStageChain(cfg, ctx, S, PAPER_STAGES, s1ArmName, true);
  const noReplay = PAPER_STAGES.map(withoutReplay);
  const shared = sharedPrefix(PAPER_STAGES, noReplay);
  // Only the final model of S1 without replay is read (the staging claim, the stages table's last rows): its earlier stages are not scored.
  const s1NoReplayStages = await runStageChain(cfg, ctx, S, noReplay, (i) => (i < shared ? s1ArmName(i) : noReplayArmName(i)), false, undefined, true);
  const s1NoReplay = s1NoReplayStages[PAPER_STAGES[nStages - 1].name];
  const joint = jointStage(PAPER_STAGES, steps);
  const jointSteps = cfg.omni.jointSteps || PAPER_STAGES.reduce((a, st) => a + steps[st.name], 0);
  const s2 = await runArm(ctx, "s2-joint", { stage: joint, steps: jointSteps }, (r) => trainStage(cfg, data, P, joint, jointSteps, freshOmni, r, ctx, "s2-joint", tokT2, null));
  ctx.log(`s2-joint: written QA ${pct(s2.textQaAcc)}, s->t ${pct(s2.s2tAcc)}; s1 without replay: written QA ${pct(s1NoReplay.textQaAcc)}`);
  // Further seeds of the control S2 alone: another data order and another init of the modules the
  // text LM lacks (the text LM and the pretrained vision tower are shared), so the staging claim has a seed floor.
  const controlSeeds: ControlSeedRun[] = [];
  for (let k = 1; k <= cfg.omni.controlSeeds; k++) {
    const seed = cfg.seed + k;
    const label = `s2-joint-seed${seed}`;
    const scfg = { ...cfg, seed };
    const fresh = S.freshOmniSeed(seed);
    const r = await runArm(ctx, label, { stage: joint, steps: jointSteps, seed }, (rd) => trainStage(scfg, data, P, joint, jointSteps, fresh, rd, ctx, label, null, null));
    controlSeeds.push({ seed, s2: r });
    ctx.log(`${label}: written QA ${pct(r.textQaAcc)}, s->t ${pct(r.s2tAcc)}`);
  }

  // Listening and viewing material for the report.
  const finalS1 = s1[PAPER_STAGES[PAPER_STAGES.length - 1].name];
  const samples = {
    audio: await writeAudioSamples(cfg, data, ctx.run, S.tokParams, S.allCodes),
    generated: generatedSamples(ctx.run, s1ArmName(PAPER_STAGES.length - 1)),
    digits: writeDigitGrid(data, ctx.run, finalS1.captionSamples),
  };
  S.dispose();
  return {
    data: dataSummary(data),
    textLm: S.text,
    tokenizers: { T2: S.t2 },
    tokenizerBaseline: meanFrameBaseline(data),
    judge: S.judgeSummary,
    visionPretrain: S.vision ?? { steps: 0 },
    s1,
    s1NoReplay,
    s2,
    controlSeeds,
    paramGroups: PARAM_GROUPS,
    samples,
  };
}
