// Pilot driver for issue 17: the ceiling of speech-in learning. One stage from the text LM (or from a finished pilot arm),
// every group trained at one rate, on a chosen mix; ASR word accuracy and s->t (held-out voices; s->t also on training
// utterances) logged every EVERY steps. The text LM of width D is trained once per width (arm text-lm, or text-lm-dD);
// the T2 tokenizer (and so the codes) is the width-64 quick one for every D, so only the backbone changes.
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-ceiling.mts DIR STEPS MIX_JSON [LR] [D] [EVERY] [FROM_ARM]
//   e.g. ... runs/pilots/ceil 600 '{"asr":1}' 3e-3 128 100
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { runArm } from "../../src/train/experiment.js";
import { omniPresets } from "../../src/papers/omni/config.js";
import { initOmni } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf } from "../../src/papers/omni/prepare.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import { omniPilotSetup } from "./omni-pilot-setup.mjs";
import { evalSpeechIn } from "../../src/papers/omni/omni-eval.js";
import type { StageSpec } from "../../src/papers/omni/stages.js";
import type { OmniParams } from "../../src/papers/omni/model.js";

const [dir, steps, mixJson, lrArg, dArg, everyArg, fromArm] = process.argv.slice(2);
await initEngine();
const q = omniPresets.quick;
const D = +(dArg ?? q.textLm.model.dModel);
const base = { ...q, speech: { ...q.speech, cacheDir: "runs/pilots/speech" } };
const cfg = { ...base, textLm: { ...q.textLm, model: { ...q.textLm.model, dModel: D, nHeads: Math.max(4, D / 16) } }, omni: { ...q.omni, baseLr: +(lrArg ?? q.omni.baseLr) } };
const lmArm = D === q.textLm.model.dModel ? "text-lm" : `text-lm-d${D}`;
const { ctx, sec, data, armDir, allIdx, codes } = await omniPilotSetup(dir, cfg, { base, lmArm });
const P = makePools(data, cfg, new Map(allIdx.map((u, i) => [u, codes[i]])));
const qu = P.byRole.question ?? [];
console.log(
  `[${sec()}s] codes ready: utterances ${data.utts.length}, ASR train ${data.trainIdx.length}, spoken-question train ${qu.length} ` +
    `(${new Set(qu.map((u) => data.utts[u].text)).size} distinct), eval questions ${(P.byRole["eval-question"] ?? []).length}`,
);
const lmCfg = lmConfigOf(cfg, data.tok);
const all = 1e-3;
const stage: StageSpec = { name: "pilot", paperName: "pilot", paperLr: { lm: all, vision: all, projector: all, audioEmbed: all, audioHead: all }, mix: JSON.parse(mixJson) };
const label = `ceil-d${D}-${Object.keys(stage.mix).join("+")}-${steps}${fromArm ? `-from-${fromArm}` : ""}`;
const f = (x: number) => (100 * x).toFixed(1);
const every = +(everyArg ?? 100);
const init = (): OmniParams =>
  fromArm ? (loadRunParams(armDir(fromArm), initOmni(omniConfigOf(cfg, data), initLM(lmCfg, cfg.seed), cfg.seed)) as OmniParams) : initOmni(omniConfigOf(cfg, data), loadRunParams(armDir(lmArm), initLM(lmCfg, cfg.seed)), cfg.seed);
const ev = await runArm(ctx, label, { stage, steps, lr: cfg.omni.baseLr, D, fromArm: fromArm ?? null }, (r) =>
  trainStage(cfg, data, P, stage, +steps, init, r, ctx, label, null, null, {
    every,
    evaluate: async (p, s) => {
      const e = await evalSpeechIn(p, cfg, data, P);
      console.log(`[${sec()}s] ${label} step ${s}: ASR ${f(e.asrWordAcc)} (training utterances ${f(e.asrTrainWordAcc)}) s->t ${f(e.s2tAcc)} (held-out Q ${f(e.s2tAccHeldOutQ)}; training utterances ${f(e.s2tTrainAcc)})`);
      return e;
    },
  }),
);
console.log(
  `[${sec()}s] ${label} lr ${cfg.omni.baseLr}: loss ${ev.finalLoss.toFixed(3)} written QA ${f(ev.textQaAcc)} ASR ${f(ev.asrWordAcc)} (n ${ev.nAsrUtterances}) ` +
    `s->t ${f(ev.s2tAcc)} (held-out Q ${f(ev.s2tAccHeldOutQ)}) n ${ev.nSpokenQuestions}`,
);
process.exit(0);
