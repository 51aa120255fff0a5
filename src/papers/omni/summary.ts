/**
 * The omni experiment's summary: what `run` returns (and the runner saves as summary.json), what
 * the claims judge and what the report reads. Both sides import these types from here, so the
 * experiment never imports the report.
 */
import type { DataKind } from "./sequences.js";

/** The text-only backbone LM (the "pretrained LLM") and its text evaluation. */
export type TextLmSummary = {
  status: string;
  steps: number;
  params: number;
  finalLoss: number;
  /** Held-out text NLL per token. */
  textNll: number;
  /** Written-question accuracy (one-word answers: chance 10 %) and the number of questions. */
  textQaAcc: number;
  textQaN: number;
};

/** One tokenizer arm (T1 reconstruction only, T2 + frozen-LM transcript loss). */
export type TokArmSummary = {
  status: string;
  steps: number;
  finalMelLoss: number;
  transcriptLoss: number;
  /** Held-out mel L1 (normalised log-mel units) decoding with the first k layers, k = 1..8. */
  reconL1ByLayers: number[];
  /** The same per held-out utterance: [k − 1][utterance] (frame counts in `TokenizerBaseline`). */
  reconL1PerUtterance: number[][];
  usage: { used: number; perplexity: number }[];
  /** T2 only: the frozen LM's transcript loss per token on held-out speech with the true codes vs another utterance's codes. */
  transcriptSanity?: { trueNll: number; shuffledNll: number; n: number };
  bitrate: number;
  frameRate: number;
};

/** What an untrained tokenizer would score: the mean training frame, repeated. */
export type TokenizerBaseline = {
  /** Held-out mel L1 of predicting every frame as the mean training frame. */
  meanFrameL1: number;
  /** Valid 100 Hz frames of each held-out utterance (the weights of the pooled L1). */
  evalFrames: number[];
};

/** A recogniser trained on the codes of the first `layers` RVQ layers. */
export type ProbeSummary = {
  status: string;
  steps: number;
  layers: number;
  finalLoss: number;
  /** Character error rate on held-out voices (total edits / total reference characters). */
  cer: number;
  evalUtterances: number;
  /** Per held-out utterance: character edits and reference characters (same order for every probe). */
  edits: number[];
  refChars: number[];
  examples: { ref: string; hyp: string }[];
};

/** What a recogniser that ignores the audio would score. */
export type ProbeBaseline = {
  /** The single training transcript with the lowest CER on the training transcripts... */
  constantText: string;
  /** ...and its CER on the held-out references. */
  constantCer: number;
};

/** Evaluation of one omni model (a stage's output). */
export type OmniEval = {
  textNll: number;
  textQaAcc: number;
  textQaN: number;
  captionAcc: number;
  omniAcc: number;
  s2tAcc: number;
  s2tAccHeldOutQ: number;
  s2sTextAcc: number;
  s2sTextAccHeldOutQ: number;
  s2sAudioAcc: number;
  /** Spoken evaluation questions (held-out voices). */
  nSpokenQuestions: number;
  /** Greedy ASR word accuracy (1 − word error rate) on held-out voices; NaN where not measured. */
  asrWordAcc: number;
  nAsrUtterances: number;
  /** Predicted caption word for the first 16 test digits (label, prediction). */
  captionSamples: { label: number; pred: string }[];
};

/** The digit-word judge of spoken answers: accuracy on training voices and on held-out voices. */
export type JudgeSummary = { layers: number; trainAcc: number; trainN: number; heldOutAcc: number; heldOutN: number };

/** The vision tower's MNIST pretraining (`vision-pretrain.ts`). */
export type VisionPretrainSummary = {
  status: string;
  steps: number;
  finalLoss: number;
  /** Classification accuracy on held-out training-split digits (disjoint from the omni evaluation digits). */
  heldOutAcc: number;
  heldOutN: number;
  trainN: number;
};

/** One line on the tower (log, report): "MNIST accuracy x % after n steps (held-out digits)". */
export function visionTowerText(s: VisionPretrainSummary | { steps: 0 } | undefined): string {
  if (!s || !("heldOutAcc" in s)) return "random (not pretrained: omni.visionPretrain.steps = 0)";
  return `MNIST accuracy ${(100 * s.heldOutAcc).toFixed(1)} % after ${s.steps} steps (${s.heldOutN} held-out digits)`;
}

/** One trained stage (S1's seven, or S2's joint stage). */
export type StageSummary = OmniEval & {
  status: string;
  steps: number;
  stage: string;
  paperStage: string;
  trained: string[];
  groupLr: Record<string, number>;
  /** The stage's data mix (weights). */
  mix: Partial<Record<DataKind, number>>;
  finalLoss: number;
  droppedAudioRows: number;
};

/** A further independently trained staging seed (the experiment trains one today). */
export type StagingSeedRun = { seed: number; textLm: TextLmSummary; s1Final: StageSummary; s2: StageSummary; s1NoReplay?: StageSummary };
/** A further seed of the joint control S2 alone (same text LM and data, another data order and head init): its spread is the staging floor. */
export type ControlSeedRun = { seed: number; s2: StageSummary };

/** Audio and image samples written by the experiment into `<run>/samples/` (the report embeds them). */
export type SampleFile = { file: string; caption: string };

export type OmniSummary = {
  data: { utterances: number; speechSeconds: number; evalUtterances: number };
  textLm: TextLmSummary;
  /**
   * The tokenizer the stages read (T2). The T1-vs-T2 study, its probes and its claims moved to the
   * `omni-tokenizer` entry; summaries written before that also hold T1, `probes` and `probeBaseline`.
   */
  tokenizers: { T2: TokArmSummary; T1?: TokArmSummary };
  tokenizerBaseline: TokenizerBaseline;
  probes?: Record<string, ProbeSummary>;
  probeBaseline?: ProbeBaseline;
  /** Absent in summaries written before issue 17. */
  judge?: JudgeSummary;
  /** The vision tower the stages start from: MNIST-pretrained, or `{ steps: 0 }` (random); absent before issue 17's vision item (random). */
  visionPretrain?: VisionPretrainSummary | { steps: 0 };
  s1: Record<string, StageSummary>;
  s2: StageSummary;
  /** The final stage of S1 without text replay (issue 17's second staging control). */
  s1NoReplay?: StageSummary;
  stagingSeeds?: StagingSeedRun[];
  /** Further seeds of S2 alone (the control's seed spread); absent or empty: one seed. */
  controlSeeds?: ControlSeedRun[];
  paramGroups: readonly string[];
  samples: { audio: SampleFile[]; generated: SampleFile[]; digits: SampleFile | null };
  /** Added by the runner. */
  wallSeconds?: number;
  armWallSeconds?: Record<string, number>;
};
