// Pilot driver for issue 17: can the omni model learn spoken questions? Trains the text LM and the T2 tokenizer once (cached
// arms under DIR), then one stage from the text LM with a chosen data mix, every group trained, and prints the
// held-out-voice evaluation (ASR word accuracy, s->t, s->s text part, written QA).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-speechqa.mts DIR STEPS MIX_JSON [LR] [DMODEL]
//   e.g. ... runs/pilots/speechqa 300 '{"asr":0.3,"sqa-st":0.3,"sqa-ss":0.1,"text":0.3}' 3e-3 64
import { existsSync, mkdirSync } from "node:fs";
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { omniPresets } from "../../src/papers/omni/config.js";
import { initOmni } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf, prepareOmniData } from "../../src/papers/omni/prepare.js";
import { trainTextLM } from "../../src/papers/omni/text-lm.js";
import { encodeAll, loadTokenizer, tokConfig, trainTokenizer } from "../../src/papers/omni/tokenizer-experiment.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import type { StageSpec } from "../../src/papers/omni/stages.js";

const [dir, steps, mixJson, lrArg, dArg] = process.argv.slice(2);
await initEngine();
const q = omniPresets.quick;
const D = +(dArg ?? q.textLm.model.dModel);
const cfg = { ...q, speech: { ...q.speech, cacheDir: "runs/pilots/speech" }, textLm: { ...q.textLm, model: { ...q.textLm.model, dModel: D } }, omni: { ...q.omni, baseLr: +(lrArg ?? q.omni.baseLr) } };
mkdirSync(dir, { recursive: true });
const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-pilot", seed: 0, config: cfg, dir });
const t0 = Date.now();
const sec = () => ((Date.now() - t0) / 1000).toFixed(0);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${sec()}s] ${m}`) };
const data = await prepareOmniData(cfg, run, ctx.log);
console.log(`[${sec()}s] utterances ${data.utts.length}, train ${data.trainIdx.length}, eval ${data.evalIdx.length}`);
const armDir = (a: string) => run.path("arms", a);
const text = await runArm(ctx, "text-lm", cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, "text-lm"));
console.log(`[${sec()}s] text-lm written QA ${text.textQaAcc.toFixed(3)}`);
await runArm(ctx, "tokenizer-T2", tokConfig(cfg, "T2"), (r) => trainTokenizer(cfg, data, "T2", r, ctx, armDir("text-lm")));
const tok = loadTokenizer(cfg, data, "T2", armDir("tokenizer-T2"));
const allIdx = [...data.trainIdx, ...data.evalIdx];
const codes = await encodeAll(tok, tokConfig(cfg, "T2"), data, allIdx, cfg.tokenizer.train.batchSize);
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
