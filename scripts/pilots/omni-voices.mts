// Pilot driver for issue 17's speech routes: the ceiling pilot (omni-ceiling.mts) on another speech corpus. SPEECH_JSON
// overrides the quick preset's speech section (route 1: `trainVoices` 48 or more, more voices saying the same number of
// utterances; route 2: `questionSet` "sequence", one digit word per spoken question); MIX_JSON is the one stage's data
// mix (route 3: an ASR-only stage first, then FROM_ARM continues from it). One stage from the text LM, every group at
// one rate; ASR word accuracy (all held-out utterances, and held-out statements alone) and s->t on held-out voices
// logged every EVERY steps. The text LM and T2 tokenizer arms are trained in DIR unless already there (copy a quick
// run's `text-lm` and `tokenizer-T2` arms into DIR/arms to reuse them: the codes are then those of the 12-voice T2).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-voices.mts DIR STEPS MIX_JSON SPEECH_JSON [LR] [EVERY] [FROM_ARM] [LABEL]
//   e.g. ... runs/pilots/v48 400 '{"asr":0.5,"sqa-st":0.5}' '{"trainVoices":48,"answerVoices":48,"answerRepeats":1}'
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { runArm } from "../../src/train/experiment.js";
import { omniPresets, omniSchema } from "../../src/papers/omni/config.js";
import { initOmni, type OmniParams } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf } from "../../src/papers/omni/prepare.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import { omniPilotSetup } from "./omni-pilot-setup.mjs";
import { evalSpeechIn } from "../../src/papers/omni/omni-eval.js";
import type { StageSpec } from "../../src/papers/omni/stages.js";

const [dir, steps, mixJson, speechJson, lrArg, everyArg, fromArm, labelArg] = process.argv.slice(2);
await initEngine();
const q = omniPresets.quick;
const cfg = omniSchema.parse({ ...q, speech: { ...q.speech, cacheDir: "runs/pilots/speech", ...JSON.parse(speechJson ?? "{}") }, omni: { ...q.omni, baseLr: +(lrArg ?? q.omni.baseLr) } });
const { ctx, sec, data, armDir, allIdx, codes } = await omniPilotSetup(dir, cfg);
// KEEP_LAYERS=k (environment): the model hears only the first k RVQ layers (the others set to code 0 in every frame),
// as the digit-word judge reads only the first layers.
const keep = +(process.env.KEEP_LAYERS ?? 0);
if (keep > 0) for (const c of codes) for (const fr of c) fr.fill(0, keep);
const P = makePools(data, cfg, new Map(allIdx.map((u, i) => [u, codes[i]])));
const qu = P.byRole.question ?? [];
const ev = P.byRole["eval-question"] ?? [];
console.log(
  `[${sec()}s] codes ready: ASR train ${data.trainIdx.length}, spoken-question train ${qu.length} (${new Set(qu.map((u) => data.utts[u].text)).size} distinct, ` +
    `${new Set(qu.map((u) => data.utts[u].voice)).size} voices), eval questions ${ev.length} (${new Set(ev.map((u) => data.utts[u].text)).size} distinct)`,
);
const all = 1e-3;
const stage: StageSpec = { name: "pilot", paperName: "pilot", paperLr: { lm: all, vision: all, projector: all, audioEmbed: all, audioHead: all }, mix: JSON.parse(mixJson) };
const label = labelArg ?? `pilot-${Object.keys(stage.mix).join("+")}-${steps}${fromArm ? `-from-${fromArm}` : ""}`;
const f = (x: number) => (100 * x).toFixed(1);
const lmCfg = lmConfigOf(cfg, data.tok);
const init = (): OmniParams =>
  fromArm ? (loadRunParams(armDir(fromArm), initOmni(omniConfigOf(cfg, data), initLM(lmCfg, cfg.seed), cfg.seed)) as OmniParams) : initOmni(omniConfigOf(cfg, data), loadRunParams(armDir("text-lm"), initLM(lmCfg, cfg.seed)), cfg.seed);
const res = await runArm(ctx, label, { stage, steps, lr: cfg.omni.baseLr, speech: cfg.speech, fromArm: fromArm ?? null }, (r) =>
  trainStage(cfg, data, P, stage, +steps, init, r, ctx, label, null, null, {
    every: +(everyArg ?? 100),
    evaluate: async (p, s) => {
      const e = await evalSpeechIn(p, cfg, data, P);
      console.log(
        `[${sec()}s] ${label} step ${s}: ASR ${f(e.asrWordAcc)} (statements ${f(e.asrStatementWordAcc)}; training utterances ${f(e.asrTrainWordAcc)}) ` +
          `s->t ${f(e.s2tAcc)} (held-out Q ${f(e.s2tAccHeldOutQ)}; training utterances ${f(e.s2tTrainAcc)})`,
      );
      return e;
    },
  }),
);
console.log(`[${sec()}s] ${label}: loss ${res.finalLoss.toFixed(3)} written QA ${f(res.textQaAcc)} ASR ${f(res.asrWordAcc)} s->t ${f(res.s2tAcc)} (held-out Q ${f(res.s2tAccHeldOutQ)})`);
process.exit(0);
