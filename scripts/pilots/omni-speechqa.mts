// Pilot driver for issue 17: can the omni model learn spoken questions? Trains the text LM and the T2 tokenizer once (cached
// arms under DIR), then one stage from the text LM with a chosen data mix, every group trained, and prints the
// held-out-voice evaluation (ASR word accuracy, s->t, s->s text part, written QA).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-speechqa.mts DIR STEPS MIX_JSON [LR] [DMODEL]
//   e.g. ... runs/pilots/speechqa 300 '{"asr":0.3,"sqa-st":0.3,"sqa-ss":0.1,"text":0.3}' 3e-3 64
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { runArm } from "../../src/train/experiment.js";
import { omniPresets } from "../../src/papers/omni/config.js";
import { initOmni } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf } from "../../src/papers/omni/prepare.js";
import { tokConfig } from "../../src/papers/omni/tokenizer-experiment.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import { omniPilotSetup } from "./omni-pilot-setup.mjs";
import type { StageSpec } from "../../src/papers/omni/stages.js";

const [dir, steps, mixJson, lrArg, dArg] = process.argv.slice(2);
await initEngine();
const q = omniPresets.quick;
const D = +(dArg ?? q.textLm.model.dModel);
const cfg = { ...q, speech: { ...q.speech, cacheDir: "runs/pilots/speech" }, textLm: { ...q.textLm, model: { ...q.textLm.model, dModel: D } }, omni: { ...q.omni, baseLr: +(lrArg ?? q.omni.baseLr) } };
const { ctx, sec, data, armDir, allIdx, codes, tok } = await omniPilotSetup(dir, cfg);
const P = makePools(data, cfg, new Map(allIdx.map((u, i) => [u, codes[i]])));
console.log(`[${sec()}s] codes ready`);
const lmCfg = lmConfigOf(cfg, data.tok);
const all = 1e-3;
const stage: StageSpec = { name: "pilot", paperName: "pilot", paperLr: { lm: all, vision: all, projector: all, audioEmbed: all, audioHead: all }, mix: JSON.parse(mixJson) };
const label = `pilot-${Date.now()}`;
const ev = await runArm(ctx, label, { stage, steps }, (r) =>
  trainStage(cfg, data, P, stage, +steps, () => initOmni(omniConfigOf(cfg, data), loadRunParams(armDir("text-lm"), initLM(lmCfg, cfg.seed)), cfg.seed), r, ctx, label, { p: tok, cfg: tokConfig(cfg, "T2") }, null),
);
const f = (x: number) => (100 * x).toFixed(1);
console.log(
  `[${sec()}s] steps ${steps} mix ${mixJson} lr ${cfg.omni.baseLr} D ${D}: loss ${ev.finalLoss.toFixed(3)} written QA ${f(ev.textQaAcc)} ASR ${f(ev.asrWordAcc)} (n ${ev.nAsrUtterances}) ` +
    `s->t ${f(ev.s2tAcc)} (held-out Q ${f(ev.s2tAccHeldOutQ)}) s->s text ${f(ev.s2sTextAcc)} n ${ev.nSpokenQuestions}`,
);
process.exit(0);
