// Pilot driver for issue 17: where in the staged chain is speech->text learnt? Reads a finished `omni` run
// (its data, T2 tokenizer and stage arms) and either evaluates given arms (ASR word accuracy, s->t, written QA
// on held-out voices) or trains one stage from a given arm (or from the text LM) and evaluates it.
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-stages.mts RUN eval ARM[,ARM...]
//        (mode evaltrain: the spoken questions are training questions in training voices, to tell memorising from hearing)
//        TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-stages.mts RUN train FROM_ARM|text-lm STEPS STAGE_JSON [BASE_LR] [GAMMA]
//   STAGE_JSON = '{"paperLr":{"lm":1e-5,"audioEmbed":1e-4},"mix":{"asr":0.5,"text":0.5}}'
import { readFileSync } from "node:fs";
import { initEngine } from "../../src/engine/index.js";
import { initLM } from "../../src/nn/transformer.js";
import { loadRunParams } from "../../src/train/checkpoint.js";
import { openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import type { OmniExperimentConfig } from "../../src/papers/omni/config.js";
import { initOmni } from "../../src/papers/omni/model.js";
import { lmConfigOf, makePools, omniConfigOf, prepareOmniData } from "../../src/papers/omni/prepare.js";
import { encodeAll, loadTokenizer, tokConfig } from "../../src/papers/omni/tokenizer-experiment.js";
import { trainStage } from "../../src/papers/omni/stage-experiment.js";
import { evalOmni } from "../../src/papers/omni/omni-eval.js";
import type { StageSpec } from "../../src/papers/omni/stages.js";

const [dir, mode, ...rest] = process.argv.slice(2);
await initEngine();
const base = JSON.parse(readFileSync(`${dir}/config.json`, "utf8")) as OmniExperimentConfig;
const run = openRun(dir);
const t0 = Date.now();
const sec = () => ((Date.now() - t0) / 1000).toFixed(0);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${sec()}s] ${m}`) };
const cfg: OmniExperimentConfig = mode === "train" && rest[3] ? { ...base, omni: { ...base.omni, baseLr: +rest[3], lrExponent: rest[4] ? +rest[4] : base.omni.lrExponent } } : base;
const data = await prepareOmniData(cfg, run, ctx.log);
const armDir = (a: string) => run.path("arms", a);
const tok = loadTokenizer(cfg, data, "T2", armDir("tokenizer-T2"));
const allIdx = [...data.trainIdx, ...data.evalIdx];
const codes = await encodeAll(tok, tokConfig(cfg, "T2"), data, allIdx, cfg.tokenizer.train.batchSize);
const P = makePools(data, cfg, new Map(allIdx.map((u, i) => [u, codes[i]])));
const lmCfg = lmConfigOf(cfg, data.tok);
const fresh = () => initOmni(omniConfigOf(cfg, data), loadRunParams(armDir("text-lm"), initLM(lmCfg, cfg.seed)), cfg.seed);
const f = (x: number) => (100 * x).toFixed(1);
const line = (name: string, ev: { textQaAcc: number; asrWordAcc: number; s2tAcc: number; s2tAccHeldOutQ: number; s2sTextAcc: number; captionAcc: number }) =>
  console.log(`[${sec()}s] ${name}: written QA ${f(ev.textQaAcc)} ASR ${f(ev.asrWordAcc)} s->t ${f(ev.s2tAcc)} (held-out Q ${f(ev.s2tAccHeldOutQ)}) s->s text ${f(ev.s2sTextAcc)} caption ${f(ev.captionAcc)}`);
if (mode === "eval" || mode === "evaltrain") {
  const trainQs = (P.byRole.question ?? []).filter((_, i) => i % 5 === 0).slice(0, (P.byRole["eval-question"] ?? []).length);
  const Pq = mode === "evaltrain" ? { ...P, byRole: { ...P.byRole, "eval-question": trainQs } } : P;
  for (const arm of rest[0].split(",")) {
    const p = loadRunParams(armDir(arm), fresh());
    line(`${arm}${mode === "evaltrain" ? ` (spoken questions: ${trainQs.length} training utterances)` : ""}`, await evalOmni(p, cfg, data, Pq, null, null));
  }
} else {
  const [from, steps, json] = rest;
  const stage: StageSpec = { name: "pilot", paperName: "pilot", ...(JSON.parse(json) as Pick<StageSpec, "paperLr" | "mix">) };
  const label = `pilot-${Date.now()}`;
  const ev = await runArm(ctx, label, { stage, steps, from, baseLr: cfg.omni.baseLr, gamma: cfg.omni.lrExponent }, (r) =>
    trainStage(cfg, data, P, stage, +steps, () => (from === "text-lm" ? fresh() : loadRunParams(armDir(from), fresh())), r, ctx, label, null, null),
  );
  line(`${label} from ${from}, ${steps} steps, ${json}, base ${cfg.omni.baseLr}, gamma ${cfg.omni.lrExponent}`, ev);
  if (process.env.PILOT_EVALTRAIN) {
    const trainQs = (P.byRole.question ?? []).filter((_, i) => i % 5 === 0).slice(0, (P.byRole["eval-question"] ?? []).length);
    const p = loadRunParams(armDir(label), fresh());
    line(`${label} (spoken questions: ${trainQs.length} training utterances)`, await evalOmni(p, cfg, data, { ...P, byRole: { ...P.byRole, "eval-question": trainQs } }, null, null));
  }
}
process.exit(0);
