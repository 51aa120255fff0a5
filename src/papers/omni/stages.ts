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
 * | omni             | all (4e-6)                                           | -                            | image+speech QA, speech QA s->t and s->s,|
 * |                  |                                                      |                              | ASR/TTS, captions, text                  |
 * | sft-1            | all but audio head (not given; we use 1e-5)          | audio head                   | speech QA s->t and s->s, ASR,            |
 * |                  |                                                      |                              | image+speech QA, captions, text          |
 * | sft-2            | audio head (not given; 1e-5) + audio embedding (1e-6)| everything else              | speech generation: TTS, speech QA s->s   |
 *
 * The audio tokenizer is a separate model and never trained here. Our learning rates keep the
 * paper's order and within-stage ratios with a compressed range: lr = base · (paperLR / 1e-3)^γ
 * (γ = `lrExponent`; γ = 1 gives the paper's exact ratios). Speech->speech examples sit in the omni
 * and SFT 4.1 mixes too (the paper's audio stage II mixes include them), where the LM still learns
 * them; SFT 4.2's audio embeddings move at a tenth of the head's rate (our choice, issue 17).
 *
 * The staging controls: `jointStage` (S2, one joint stage on the union of S1's data) and
 * `withoutReplay` (S1 with pure text removed from every mix).
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
    // More ASR than before (0.1 → 0.25) and spoken questions (0.25 → 0.3), as route 5's one-stage pilot mixed them (README, route 5 in the chain).
    mix: { omni: 0.15, "sqa-st": 0.2, "sqa-ss": 0.1, asr: 0.25, tts: 0.05, caption: 0.05, text: 0.2 },
  },
  {
    name: "sft-1",
    paperName: "SFT 4.1 (omni understanding)",
    paperLr: { lm: 1e-5, vision: 1e-5, projector: 1e-5, audioEmbed: 1e-5 },
    // ASR stays in the mix: without it this stage (the LM trained, no transcripts) erased the ASR that audio stage II taught (issue 17 pilot).
    // ASR 0.3 (was 0.2 of a mix summing to 1.2), text 0.15: the route-5 chain pilot's mix.
    mix: { "sqa-st": 0.3, "sqa-ss": 0.1, asr: 0.3, omni: 0.1, caption: 0.05, text: 0.15 },
    lrNotGiven: true,
  },
  // The audio embeddings keep 1/10 of the head's rate so SFT 4.2 does not erase what the earlier stages taught them (issue 17).
  { name: "sft-2", paperName: "SFT 4.2 (speech generation)", paperLr: { audioHead: 1e-5, audioEmbed: 1e-6 }, mix: { "sqa-ss": 0.6, tts: 0.4 }, lrNotGiven: true },
];

/** Normalised copy of a mix (weights sum to 1). */
export function normaliseMix(mix: Partial<Record<DataKind, number>>): Partial<Record<DataKind, number>> {
  const sum = Object.values(mix).reduce((a, b) => a + (b ?? 0), 0);
  return Object.fromEntries(Object.entries(mix).filter(([, w]) => (w ?? 0) > 0).map(([k, w]) => [k, w! / sum]));
}

/**
 * The data S1 sees over all its stages: each stage's normalised mix weighted by its steps. S2 trains
 * on exactly this mix (the union of S1's data in the same proportions), so only the staging differs.
 */
export function unionMix(stages: StageSpec[], steps: Record<string, number>): Partial<Record<DataKind, number>> {
  const total = stages.reduce((a, s) => a + steps[s.name], 0);
  const out: Partial<Record<DataKind, number>> = {};
  for (const s of stages) for (const [k, w] of Object.entries(normaliseMix(s.mix))) out[k as DataKind] = (out[k as DataKind] ?? 0) + (w! * steps[s.name]) / total;
  return out;
}

/**
 * S2 control: one joint stage from the text LM on S1's union mix (text replay included), every
 * group trained at the largest rate S1 ever gives it (so S2 is not favoured or handicapped by its rate).
 */
export function jointStage(stages: StageSpec[], steps: Record<string, number>): StageSpec {
  const paperLr: Partial<Record<ParamGroup, number>> = {};
  for (const s of stages) for (const [g, lr] of Object.entries(s.paperLr)) paperLr[g as ParamGroup] = Math.max(paperLr[g as ParamGroup] ?? 0, lr!);
  return { name: "joint", paperName: "(control) one joint stage, S1's data mix", paperLr, mix: unionMix(stages, steps) };
}

/** S1-without-replay control: the same stage, pure text removed from its mix (a text-only stage keeps its mix). */
export function withoutReplay(s: StageSpec): StageSpec {
  const rest = Object.fromEntries(Object.entries(s.mix).filter(([k]) => k !== "text")) as Partial<Record<DataKind, number>>;
  return Object.keys(rest).length === 0 || !("text" in s.mix) ? s : { ...s, paperName: `${s.paperName}, no text replay`, mix: normaliseMix(rest) };
}

/** Our learning rate for a paper LR: base · (paperLR / 1e-3)^γ. */
export function scaledLr(paperLr: number, base: number, gamma: number): number {
  return base * Math.pow(paperLr / 1e-3, gamma);
}

/** Absolute learning rate per group for one stage. */
export function stageGroupLr(s: StageSpec, base: number, gamma: number): Record<string, number> {
  return Object.fromEntries(Object.entries(s.paperLr).map(([g, lr]) => [g, scaledLr(lr!, base, gamma)]));
}
