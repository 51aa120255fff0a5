// Pilot for issue 17's tokenizer part: does the frozen LM read the T2 codes? Trains the reader LM
// (read-back share READBACK) and one T2 tokenizer (STEPS steps, weight W), printing the frozen-LM
// sanity check (transcript NLL per token with true vs another utterance's codes) and step times.
// (env REPEATS: the read-back repeats per word). Usage: npx tsx scripts/pilots/omni-tokenizer-sanity.mts OUTDIR READBACK STEPS [W] [LMSTEPS]
import { initEngine } from "../../src/engine/index.js";
import { createRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { prepareStudyData, trainReaderLM } from "../../src/papers/omni/tokenizer-study.js";
import { tokConfig, trainTokenizer } from "../../src/papers/omni/tokenizer-experiment.js";

const [out, rbArg, stepsArg, wArg, lmStepsArg] = process.argv.slice(2);
await initEngine();
const q = tokStudyPresets.quick;
const cfg = {
  ...q,
  speech: { ...q.speech, cacheDir: "runs/pilots/speech" },
  textLm: { ...q.textLm, train: { ...q.textLm.train, steps: +(lmStepsArg ?? q.textLm.train.steps) } },
  tokenizer: { ...q.tokenizer, train: { ...q.tokenizer.train, steps: +stepsArg } },
  study: { ...q.study, readBack: +rbArg, readBackRepeats: +(process.env.REPEATS ?? q.study.readBackRepeats) },
};
const run = createRun({ experiment: "omni-tokenizer-pilot", seed: 0, config: cfg, dir: out });
const t0 = Date.now();
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}`) };
const { data, nuisance } = await prepareStudyData(cfg, ctx);
ctx.log(`data ready: T=${data.mels.T}, ${data.trainIdx.length}/${data.evalIdx.length} utterances, ${JSON.stringify(nuisance)}`);
const reader = await runArm(ctx, "reader-lm", { rb: cfg.study.readBack, s: cfg.textLm.train.steps }, (r) => trainReaderLM(cfg, data, r, ctx));
ctx.log(`reader-lm: ${JSON.stringify(reader.readBackSanity)} final loss ${reader.finalLoss.toFixed(3)}`);
const w = +(wArg ?? 1);
const ocfg = asOmniConfig(cfg, 0, w);
const t1 = Date.now();
const tok = await runArm(ctx, `tokenizer-T2-w${w}-n${stepsArg}`, tokConfig(ocfg, "T2"), (r) => trainTokenizer(ocfg, data, "T2", r, ctx, run.path("arms", "reader-lm")));
ctx.log(`T2 w ${w}, ${stepsArg} steps (${((Date.now() - t1) / 1000).toFixed(0)} s incl. eval): sanity ${JSON.stringify(tok.transcriptSanity)}, diff ${(tok.transcriptSanity!.shuffledNll - tok.transcriptSanity!.trueNll).toFixed(3)} nats/token; mel L1 by layers ${tok.reconL1ByLayers.map((x) => x.toFixed(3)).join(" ")}; last transcript loss ${tok.transcriptLoss.toFixed(3)}`);
process.exit(0);
