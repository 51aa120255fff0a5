/** What `omni-tokenizer` measures: the shape of its summary.json (the claims and the report read it). */
import type { ProbeBaseline, ProbeSummary, TokArmSummary, TokenizerBaseline } from "./summary.js";
import type { WhisperSummary } from "./whisper-experiment.js";

export type ReaderLmSummary = {
  status: string;
  steps: number;
  params: number;
  finalLoss: number;
  /** Share of read-back sequences in its pretraining. */
  readBack: number;
  /** Most slots one word fills in a read-back prefix. */
  readBackRepeats: number;
  /** Transcript NLL per token after a read-back prefix of the same vs another held-out statement (text only). */
  readBackSanity: { trueNll: number; shuffledNll: number; n: number };
};

/** One tokenizer arm and its probes (`k<layers>` keys). */
export type TokWithProbes = { tokenizer: TokArmSummary; probes: Record<string, ProbeSummary> };

/** One seed of the main comparison: T1 and T2 (at the main transcript weight) trained from the same seed. */
export type TokStudyRun = { seed: number; weight: number; T1: TokWithProbes; T2: TokWithProbes };

export type TokStudySummary = {
  data: { utterances: number; speechSeconds: number; evalUtterances: number };
  /** The ranges drawn for the acoustic nuisance, and the corpus length after it. */
  nuisance: { speed: [number, number]; gainDb: [number, number]; snrDb: [number, number]; seconds: number };
  readerLm: ReaderLmSummary;
  tokenizerBaseline: TokenizerBaseline;
  probeBaseline: ProbeBaseline;
  probeLayers: number[];
  runs: TokStudyRun[];
  /** T2 at further transcript-loss weights. */
  weights: { weight: number; runs: ({ seed: number } & TokWithProbes)[] }[];
  /** With `tokenizer.pretrainEncoder.steps` > 0: the recogniser every tokenizer's encoder started from, and that encoder's rate scale. */
  whisperPretrain?: WhisperSummary & { encLrScale: number };
};
