// Pilot driver for issue 17's Whisper route (src/papers/omni/README.md, "Routes to the speech gates"): the tokenizer's
// encoder pretrained as a recogniser first (`whisper-pretrain`), as the paper starts its tokenizer from the Whisper-large
// encoder. Phases:
//   asr   the recogniser alone: greedy word accuracy (the ASR gate's metric) on held-out voices and on training
//         utterances every EVERY steps, with CPU seconds;
//   tok   the T2 tokenizer trained from that encoder (frozen or at `encLrScale`), then the ceiling-style stage of
//         omni-voices.mts (one stage from the text LM, every group at one rate, ASR 0.5 / s->t 0.5): ASR and s->t on
//         held-out voices every EVERY steps.
//   diag  where spoken QA fails (evalSpeechQaSplit): t->t on the same questions written, s->t and the ASR->text cascade,
//         each on held-out and training questions, for the text LM and a finished stage arm.
// Environment: SPEECH_CACHE (the WAV cache), SPEECH_JSON (overrides the quick speech section), MIX_JSON (the stage's mix; default ASR 0.5 / s->t 0.5), INIT_AUDIO=1 (audio embeddings from the codebooks),
// SQA_FORMAT (`omni.speechQaFormat`: direct or transcribe, the spoken questions' format in the stage and its scores), LM_JSON (overrides textLm.model, e.g. its width; the text LM arm is then `text-lm-<dModel>`),
// LM_DIR (a finished text LM arm of another pilot run, e.g. one of omni-textlm.mts, that the stage starts from instead). PRETRAIN_JSON overrides `tokenizer.pretrainEncoder` and TOK_JSON the tokenizer section (e.g. its width and encLayers).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-whisper.mts asr DIR STEPS [EVERY] [PRETRAIN_JSON] [TOK_JSON] [LABEL]
//        (read: the same arguments as tok; STEPS unused)
//        (diag: the same arguments as tok, LABEL a finished stage arm; STEPS unused: evalSpeechQaSplit of the text LM and that arm)
//        TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-whisper.mts tok DIR STEPS [EVERY] [PRETRAIN_JSON] [TOK_JSON] [LABEL] WHISPER_ARM TOK_STEPS
import { existsSync, mkdirSync } from "node:fs";
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { omniPresets, omniSchema } from "../../src/papers/omni/config.js";
import { codebookAudioEmbed, initOmni, type OmniParams } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf, prepareOmniData } from "../../src/papers/omni/prepare.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import { evalSpeechIn, evalSpeechQaSplit } from "../../src/papers/omni/omni-eval.js";
import { trainTextLM } from "../../src/papers/omni/text-lm.js";
import { encodeAll, loadTokenizer, tokConfig, trainTokenizer } from "../../src/papers/omni/tokenizer-experiment.js";
import { pretrainedEncoder, recogniserConfig, recogniserProjection, recogniserWordAccuracy, trainWhisper } from "../../src/papers/omni/whisper-experiment.js";
import { initRecogniser } from "../../src/papers/omni/whisper-pretrain.js";
import { probeEvalUtterances } from "../../src/papers/omni/probe-experiment.js";
import type { StageSpec } from "../../src/papers/omni/stages.js";

const [phase, dir, steps, everyArg, pretrainJson, tokJson, labelArg, whisperArm, tokSteps] = process.argv.slice(2);
if (!["asr", "tok", "read", "diag"].includes(phase)) throw new Error(`phase must be asr, tok, read or diag, got ${phase}`);
await initEngine();
const q = omniPresets.quick;
const every = +(everyArg ?? 100);
const tokOver = JSON.parse(tokJson ?? "{}") as Record<string, unknown>;
const lmOver = JSON.parse(process.env.LM_JSON ?? "{}") as Record<string, unknown>;
const cfg = omniSchema.parse({
  ...q,
  textLm: { ...q.textLm, model: { ...q.textLm.model, ...lmOver } },
  omni: { ...q.omni, speechQaFormat: process.env.SQA_FORMAT ?? q.omni.speechQaFormat },
  speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech", ...JSON.parse(process.env.SPEECH_JSON ?? "{}") },
  tokenizer: {
    ...q.tokenizer,
    ...tokOver,
    train: { ...q.tokenizer.train, ...(tokSteps ? { steps: +tokSteps } : {}) },
    pretrainEncoder: { ...q.tokenizer.pretrainEncoder, evalEvery: every, ...(phase === "asr" ? { steps: +steps } : {}), ...JSON.parse(pretrainJson ?? "{}") },
  },
});
mkdirSync(dir, { recursive: true });
const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-pilot", seed: 0, config: cfg, dir });
const t0 = Date.now();
const sec = () => ((Date.now() - t0) / 1000).toFixed(0);
const cpu = () => (process.cpuUsage().user / 1e6).toFixed(0);
const log = (m: string) => console.log(`[${sec()}s wall, ${cpu()}s CPU] ${m}`);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log };
const data = await prepareOmniData(cfg, run, log);
log(`speech ready: ${data.utts.length} utterances, train ${data.trainIdx.length}, eval ${data.evalIdx.length}`);
const armDir = (a: string) => run.path("arms", a);
const tcfg = tokConfig(cfg, "T2");
const f = (x: number) => (100 * x).toFixed(1);

if (phase === "asr") {
  const label = labelArg ?? `whisper-${steps}`;
  const res = await runArm(ctx, label, { pretrain: cfg.tokenizer.pretrainEncoder, width: tcfg.width, encLayers: tcfg.encLayers }, (r) => trainWhisper(cfg, data, tcfg, r, ctx, log));
  log(`${label}: loss ${res.finalLoss.toFixed(3)}; word accuracy held-out ${f(res.heldOutWordAcc)} % (n ${res.nHeldOut}), training ${f(res.trainWordAcc)} % (n ${res.nTrain})`);
  for (const c of res.curve) console.log(`| ${c.step} | ${f(c.heldOut)} % | ${f(c.train)} % |`);
  process.exit(0);
}

if (phase === "read") {
  const tokArm = `tokenizer-T2-from-${whisperArm}-s${cfg.tokenizer.train.steps}-e${cfg.tokenizer.pretrainEncoder.encLrScale}`;
  const tok = loadTokenizer(cfg, data, "T2", armDir(tokArm));
  const dcfg = recogniserConfig(cfg, data);
  const rec = loadRunParams(armDir(whisperArm), initRecogniser(tcfg, dcfg, cfg.seed));
  const heldOut = probeEvalUtterances(data);
  const B = cfg.tokenizer.pretrainEncoder.batchSize;
  const cont = await recogniserWordAccuracy(rec, tcfg, dcfg, data, heldOut, B);
  const quant = await recogniserWordAccuracy(rec, tcfg, dcfg, data, heldOut, B, tok.vq.embed);
  log(`${whisperArm} read through ${tokArm}: held-out word accuracy ${f(cont.acc)} % continuous, ${f(quant.acc)} % through the 8-layer RVQ (n ${heldOut.length})`);
  process.exit(0);
}

// Phase tok: text LM, the T2 tokenizer from the pretrained encoder, then one speech stage.
if (!whisperArm) throw new Error("phase tok needs WHISPER_ARM (an asr arm of DIR)");
const lmArm = process.env.LM_JSON ? `text-lm-${cfg.textLm.model.dModel}` : "text-lm";
const text = await runArm(ctx, lmArm, cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, lmArm));
log(`text-lm written QA ${f(text.textQaAcc)}`);
const tokArm = `tokenizer-T2-from-${whisperArm}-s${cfg.tokenizer.train.steps}-e${cfg.tokenizer.pretrainEncoder.encLrScale}`;
const tokRes = await runArm(ctx, tokArm, { tok: tcfg, whisperArm }, (r) =>
  trainTokenizer(cfg, data, "T2", r, ctx, armDir("text-lm"), { encoder: pretrainedEncoder(cfg, data, tcfg, armDir(whisperArm)), encLrScale: cfg.tokenizer.pretrainEncoder.encLrScale }),
);
log(`${tokArm}: mel L1 by layers ${tokRes.reconL1ByLayers.map((x) => x.toFixed(3)).join(" ")}; sanity true ${tokRes.transcriptSanity?.trueNll.toFixed(3)} shuffled ${tokRes.transcriptSanity?.shuffledNll.toFixed(3)}`);
const tok = loadTokenizer(cfg, data, "T2", armDir(tokArm));
const allIdx = [...data.trainIdx, ...data.evalIdx];
const codes = await encodeAll(tok, tcfg, data, allIdx, cfg.tokenizer.train.batchSize);
const P = makePools(data, cfg, new Map(allIdx.map((u, i) => [u, codes[i]])));
const all = 1e-3;
const stage: StageSpec = { name: "pilot", paperName: "pilot", paperLr: { lm: all, vision: all, projector: all, audioEmbed: all, audioHead: all }, mix: JSON.parse(process.env.MIX_JSON ?? '{"asr":0.5,"sqa-st":0.5}') as StageSpec["mix"] };
const label = labelArg ?? `stage-${tokArm}-${steps}`;
const lmCfg = lmConfigOf(cfg, data.tok);
// INIT_AUDIO=1 (environment): `omni.audioEmbedInit: "codebooks"` (`codebookAudioEmbed`): the backbone's audio embedding of
// codebook i starts as that codebook's vectors through the recogniser's projection (layer 0 also gets its bias), so the
// summed embeddings start as what the recogniser's decoder read; the end-of-audio rows stay as initialised.
const audioProj = process.env.INIT_AUDIO === "1" ? recogniserProjection(cfg, data, tcfg, armDir(whisperArm)) : null;
const init = (): OmniParams => {
  const p = initOmni(omniConfigOf(cfg, data), loadRunParams(process.env.LM_DIR ?? armDir(lmArm), initLM(lmCfg, cfg.seed)), cfg.seed);
  return audioProj ? { ...p, audioEmbed: codebookAudioEmbed(p.audioEmbed.tables, tok.vq.embed, audioProj) } : p;
};
if (phase === "diag") {
  // Where spoken QA fails: the text LM (its audio modules fresh) and the finished stage arm LABEL, scored by evalSpeechQaSplit.
  const show = (name: string, e: Record<string, number>) =>
    log(`${name}: ` + Object.entries(e).map(([k, v]) => `${k} ${k.startsWith("n") ? v : f(v)}`).join(", "));
  show("text-lm (audio modules fresh)", await evalSpeechQaSplit(init(), cfg, data, P));
  if (labelArg) show(labelArg, await evalSpeechQaSplit(loadRunParams(armDir(labelArg), init()), cfg, data, P));
  process.exit(0);
}
const res = await runArm(ctx, label, { stage, steps, tokArm }, (r) =>
  trainStage(cfg, data, P, stage, +steps, init, r, ctx, label, null, null, {
    every,
    evaluate: async (p, s) => {
      const e = await evalSpeechIn(p, cfg, data, P);
      log(
        `${label} step ${s}: t->t ${f(e.t2tAcc)} ASR ${f(e.asrWordAcc)} (statements ${f(e.asrStatementWordAcc)}; training utterances ${f(e.asrTrainWordAcc)}) ` +
          `s->t ${f(e.s2tAcc)} (held-out Q ${f(e.s2tAccHeldOutQ)}, training Q ${f(e.s2tAccTrainQ)}; training utterances ${f(e.s2tTrainAcc)}; <answer> forced ${e.s2tForced})`,
      );
      return e;
    },
  }),
);
log(`${label}: loss ${res.finalLoss.toFixed(3)} written QA ${f(res.textQaAcc)} ASR ${f(res.asrWordAcc)} s->t ${f(res.s2tAcc)} (held-out Q ${f(res.s2tAccHeldOutQ)})`);
process.exit(0);
