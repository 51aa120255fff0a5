/**
 * The staging study: the paper's seven stages in order (S1: freeze table, learning-rate ratios,
 * text replay; `stages.ts`), each a resumable arm starting from the previous one, and S2, one
 * joint stage from the text LM. Both read the T2 tokenizer's codes. Each stage's model is
 * evaluated by `evalOmni` (text retention, captions, spoken questions, generated speech).
 */
import { disposeTree } from "../../engine/index.js";
import { warmupCosine } from "../../optim/schedule.js";
import { trainLoop } from "../../train/loop.js";
import type { ExperimentContext } from "../../train/experiment.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { omniLoss, type OmniParams } from "./model.js";
import { batchFromList, batchList, packBatch, type Codes, type DataKind, type Example } from "./sequences.js";
import { stageGroupLr, type StageSpec } from "./stages.js";
import { makeGroupStep, groupOptInit, maxLr, type Params } from "./train-step.js";
import type { TokenizerConfig, TokParams } from "./tokenizer.js";
import { DIGITS } from "./world.js";
import { omniConfigOf, pickText, textExample, type OmniData, type Pools } from "./prepare.js";
import { evalOmni, unscoredEval } from "./omni-eval.js";
import type { StageSummary } from "./summary.js";

function sampleExample(kind: DataKind, rng: Rng, data: OmniData, P: Pools): Example {
  const c = (u: number) => P.codes.get(u)!;
  const digit = () => rng.pick(data.digits.train);
  switch (kind) {
    case "text":
      return textExample(P.f, pickText(data, rng));
    case "caption": {
      const d = digit();
      return P.f.caption(d.image, DIGITS[d.label]);
    }
    case "asr": {
      const u = rng.pick(data.trainIdx);
      return P.f.asr(c(u), data.utts[u].text);
    }
    case "tts": {
      const u = rng.pick(data.trainIdx);
      return P.f.tts(data.utts[u].text, c(u));
    }
    case "sqa-st": {
      const u = rng.pick(P.byRole.question);
      return P.f.sqaText(c(u), data.utts[u].answer!, data.utts[u].text);
    }
    case "sqa-ss": {
      const u = rng.pick(P.byRole.question);
      const a = data.utts[u].answer!;
      return P.f.sqaSpeech(c(u), a, c(rng.pick(P.answers.get(a)!)), data.utts[u].text);
    }
    case "omni": {
      const d = digit();
      return P.f.omni(d.image, c(rng.pick(P.byRole["image-question"])), DIGITS[d.label]);
    }
  }
}

/** Omni parameters as the group step's parameter groups (`lm`, `vision`, `projector`, `audioEmbed`, `audioHead`). */
const fromGroups = (p: Params): OmniParams => p as OmniParams;

export async function trainStage(
  cfg: OmniExperimentConfig,
  data: OmniData,
  P: Pools,
  stage: StageSpec,
  steps: number,
  initFrom: () => OmniParams,
  run: RunDir,
  ctx: ExperimentContext,
  label: string,
  tokForAudio: { p: TokParams; cfg: TokenizerConfig } | null,
  recognise: ((codes: Codes[]) => Promise<string[]>) | null,
  /** Optional evaluation every `every` steps, logged to the arm's metrics (pilots: where in a stage a score moves). */
  during?: { every: number; evaluate: (p: OmniParams, step: number) => Promise<Record<string, number>> },
  /** False: the stage is trained but not scored (its scores NaN), for stages whose scores nothing reads. */
  score = true,
): Promise<StageSummary> {
  const ocfg = omniConfigOf(cfg, data);
  const groupLr = stageGroupLr(stage, cfg.omni.baseLr, cfg.omni.lrExponent);
  const kinds = Object.keys(stage.mix) as DataKind[];
  const w = kinds.map((k) => stage.mix[k]!);
  const wSum = w.reduce((a, b) => a + b, 0);
  const B = cfg.omni.batchSize;
  const shape = { batch: B, seqLen: ocfg.lm.contextLength, audioRows: cfg.omni.audioRows, nLayers: ocfg.codebookSizes.length, K0: ocfg.codebookSizes[0], vision: ocfg.vision };
  let dropped = 0;
  const step = makeGroupStep<Params>(
    (p, ...xs) => {
      const o = omniLoss(fromGroups(p), ocfg, batchFromList(xs));
      return { loss: o.loss, metrics: [o.textLoss, o.audioLoss] };
    },
    { groupLr, adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }, clip: 1 },
  );
  const top = maxLr(groupLr);
  const res = await trainLoop<Params>({
    run,
    totalSteps: steps,
    init: () => {
      const params: Params = initFrom();
      return { params, opt: groupOptInit(params, groupLr) };
    },
    trainStep: step,
    rngs: { data: Rng.stream(cfg.seed, `data:${label}`) },
    nextBatch: (_s, rngs) => {
      const exs = Array.from({ length: B }, () => {
        let u = rngs.data.next() * wSum;
        let k = 0;
        while (k < kinds.length - 1 && u >= w[k]) u -= w[k++];
        return sampleExample(kinds[k], rngs.data, data, P);
      });
      const pb = packBatch(exs, shape);
      dropped += pb.droppedAudioRows;
      return batchList(pb.arrays);
    },
    lr: (s) => warmupCosine(s, { lr: top, warmupSteps: Math.min(cfg.omni.warmupSteps, steps - 1), totalSteps: steps, minLrRatio: 0.1 }),
    tokensPerStep: B * ocfg.lm.contextLength,
    evalEvery: during?.every ?? steps,
    evaluate: during ? (p, s) => during.evaluate(fromGroups(p), s) : undefined,
    checkpointEvery: steps,
    auxNames: ["textLoss", "audioLoss"],
    resume: ctx.resume,
    signal: ctx.signal,
    onProgress: (e) => ctx.onProgress(e, label),
  });
  step.dispose();
  const ev = score ? await evalOmni(fromGroups(res.params), cfg, data, P, recognise, tokForAudio ? { tok: tokForAudio, run } : null) : unscoredEval();
  disposeTree(res.params);
  disposeTree(res.opt);
  return { status: res.status, steps: res.step, stage: stage.name, paperStage: stage.paperName, groupLr, trained: Object.keys(groupLr), mix: stage.mix, finalLoss: res.lastLoss, droppedAudioRows: dropped, ...ev };
}
