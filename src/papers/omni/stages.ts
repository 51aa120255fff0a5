/**
 * Baichuan-Omni-1.5's multi-stage training (arXiv 2501.15368, §3.3-3.4, Fig. 5) as data: which
 * parameter groups each stage trains, at what learning rate, on which data mix.
 *
 * | stage            | trained (paper LR)                                   | frozen                       | data (ours)                              |
 * |------------------|------------------------------------------------------|------------------------------|------------------------------------------|
 * | image-1          | projector (1e-3)                                     | LLM, visual encoder          | captions                                 |
 * | image-2          | LLM + projector (1e-5), visual encoder (1e-6)        | -                            | captions 0.6, pure text 0.4 ("40 %")     |
 * | audio-1          | audio embedding + audio head (1e-4)                  | LLM, visual modules          | ASR, TTS                                 |
 * | audio-2          | all except visual encoder (1e-5)                     | visual encoder (+ tokenizer) | audio 0.2, image 0.4, text 0.4           |
 * | omni             | all (4e-6)                                           | -                            | image+speech QA, speech QA, ASR/TTS, ... |
 * | sft-1            | all but audio head (not given; we use 1e-5)          | audio head                   | omni understanding: speech/image QA, text|
 * | sft-2            | audio head + audio embedding (not given; 1e-5)       | everything else              | speech generation: TTS, speech QA s->s   |
 *
 * The audio tokenizer is a separate model and never trained here. Our learning rates keep the
 * paper's order and within-stage ratios with a compressed range: lr = base · (paperLR / 1e-3)^γ
 * (γ = `lrExponent`; γ = 1 gives the paper's exact ratios).
 */
import type { DataKind } from "./sequences.js";
import type { ParamGroup } from "./model.js";

export type StageSpec = {
  name: string;
  paperName: string;
  /** Paper learning rate of each trained group (absent = frozen). */
  paperLr: Partial<Record<ParamGroup, number>>;
  /** Data mix (weights, normalised when sampling). */
  mix: Partial<Record<DataKind, number>>;
  /** True when the paper gives no learning rate (we reuse 1e-5). */
  lrNotGiven?: boolean;
};

export const PAPER_STAGES: StageSpec[] = [
  { name: "image-1", paperName: "Image-text pretrain, Stage I", paperLr: { projector: 1e-3 }, mix: { caption: 1 } },
  { name: "image-2", paperName: "Image-text pretrain, Stage II", paperLr: { lm: 1e-5, projector: 1e-5, vision: 1e-6 }, mix: { caption: 0.6, text: 0.4 } },
  { name: "audio-1", paperName: "Image-audio-text pretrain, Stage I", paperLr: { audioEmbed: 1e-4, audioHead: 1e-4 }, mix: { asr: 0.5, tts: 0.5 } },
  {
    name: "audio-2",
    paperName: "Image-audio-text pretrain, Stage II",
    paperLr: { lm: 1e-5, projector: 1e-5, audioEmbed: 1e-5, audioHead: 1e-5 },
    mix: { asr: 0.1, tts: 0.1, caption: 0.4, text: 0.4 },
  },
  {
    name: "omni",
    paperName: "Omni-modal pretrain",
    paperLr: { lm: 4e-6, vision: 4e-6, projector: 4e-6, audioEmbed: 4e-6, audioHead: 4e-6 },
    mix: { omni: 0.3, "sqa-st": 0.2, asr: 0.1, tts: 0.1, caption: 0.1, text: 0.2 },
  },
  {
    name: "sft-1",
    paperName: "SFT 4.1 (omni understanding)",
    paperLr: { lm: 1e-5, vision: 1e-5, projector: 1e-5, audioEmbed: 1e-5 },
    mix: { "sqa-st": 0.4, omni: 0.2, caption: 0.2, text: 0.2 },
    lrNotGiven: true,
  },
  { name: "sft-2", paperName: "SFT 4.2 (speech generation)", paperLr: { audioHead: 1e-5, audioEmbed: 1e-5 }, mix: { "sqa-ss": 0.6, tts: 0.4 }, lrNotGiven: true },
];

/** S2 ablation: one joint stage from the text LM, everything trained, no text replay. */
export const JOINT_STAGE: StageSpec = {
  name: "joint",
  paperName: "(ablation) one joint stage, no replay",
  paperLr: { lm: 1e-4, vision: 1e-4, projector: 1e-4, audioEmbed: 1e-4, audioHead: 1e-4 },
  mix: { caption: 1, asr: 1, tts: 1, "sqa-st": 1, "sqa-ss": 1, omni: 1 },
};

/** Our learning rate for a paper LR: base · (paperLR / 1e-3)^γ. */
export function scaledLr(paperLr: number, base: number, gamma: number): number {
  return base * Math.pow(paperLr / 1e-3, gamma);
}

/** Absolute learning rate per group for one stage. */
export function stageGroupLr(s: StageSpec, base: number, gamma: number): Record<string, number> {
  return Object.fromEntries(Object.entries(s.paperLr).map(([g, lr]) => [g, scaledLr(lr!, base, gamma)]));
}
