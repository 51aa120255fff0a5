// Pilot for issue 17's tokenizer part: one T2 tokenizer whose frozen LM is the reader LM of an earlier pilot
// (`omni-tokenizer-reader.mts` READER_DIR; waits for its checkpoint), printing the frozen-LM sanity check (transcript NLL
// per word with true vs another utterance's codes), mel L1 by layers, and the time per step.
// (env SEM_LR_SCALE: the adapter's LR multiple). Usage: npx tsx scripts/pilots/omni-tokenizer-t2.mts OUTDIR READER_DIR STEPS [W]
import { setTimeout as sleep } from "node:timers/promises";
import { initEngine } from "../../src/engine/index.js";
import { createRun } from "../../src/train/run-dir.js";
import { latestCheckpoint } from "../../src/train/checkpoint.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { prepareStudyData } from "../../src/papers/omni/tokenizer-study.js";
import { tokConfig, trainTokenizer } from "../../src/papers/omni/tokenizer-experiment.js";

const [out, readerDir, stepsArg, wArg] = process.argv.slice(2);
await initEngine();
const q = tokStudyPresets.quick;
const cfg = { ...q, speech: { ...q.speech, cacheDir: "runs/pilots/speech" }, tokenizer: { ...q.tokenizer, train: { ...q.tokenizer.train, steps: +stepsArg } } };
const run = createRun({ experiment: "omni-tokenizer-t2-pilot", seed: 0, config: cfg, dir: out });
const t0 = Date.now();
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}`) };
const { data } = await prepareStudyData(cfg, ctx);
ctx.log(`data ready; waiting for the reader LM checkpoint in ${readerDir}`);
while (!latestCheckpoint(readerDir)) await sleep(10_000);
const w = +(wArg ?? 1);
const ocfg = asOmniConfig(cfg, 0, w);
const t1 = Date.now();
const tok = await runArm(ctx, `tokenizer-T2-w${w}-n${stepsArg}-sem${process.env.SEM_LR_SCALE ?? 1}`, tokConfig(ocfg, "T2"), (r) => trainTokenizer(ocfg, data, "T2", r, ctx, readerDir, { semLrScale: +(process.env.SEM_LR_SCALE ?? 1) }));
const s = tok.transcriptSanity!;
ctx.log(`T2 w ${w}, ${stepsArg} steps (${((Date.now() - t1) / 1000).toFixed(0)} s incl. eval): sanity true ${s.trueNll.toFixed(3)} shuffled ${s.shuffledNll.toFixed(3)} gap ${(s.shuffledNll - s.trueNll).toFixed(3)} nats/word on ${s.n}; mel L1 by layers ${tok.reconL1ByLayers.map((x) => x.toFixed(3)).join(" ")}; last transcript loss ${tok.transcriptLoss.toFixed(3)}`);
process.exit(0);
