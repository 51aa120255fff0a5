// Pilot for issue 17's frozen-LM sanity gate: the gate's value along one T2 tokenizer's training. Trains T2 (STEPS steps,
// transcript weight W) with the frozen reader LM of READER_DIR (an arm directory holding its checkpoint) and every EVERY
// steps prints the transcript NLL per word on the first 48 held-out statements/questions with their own codes and with
// another utterance's (the study's sanity check on a subset), their gap, and the training losses (waits for the reader's
// checkpoint). SPEECH_CACHE: the WAVs; WHISPER, ENC_SCALE: a pretrained encoder (below); SEM_ADAPTER: T2's adapter (`semAdapter` of tokenizer.ts: linear, softTokens).
// Usage: npx tsx scripts/pilots/omni-tokenizer-t2-curve.mts OUTDIR READER_DIR STEPS W [EVERY]
import { cpuUsage } from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { latestCheckpoint } from "../../src/train/checkpoint.js";
import { initEngine } from "../../src/engine/index.js";
import { createRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { prepareStudyData } from "../../src/papers/omni/tokenizer-study.js";
import { tokConfig, trainTokenizer, transcriptSanity } from "../../src/papers/omni/tokenizer-experiment.js";
import { lmConfigOf } from "../../src/papers/omni/prepare.js";
import { pretrainedEncoder } from "../../src/papers/omni/whisper-experiment.js";

const [out, readerDir, stepsArg, wArg, everyArg] = process.argv.slice(2);
await initEngine();
const q = tokStudyPresets.quick;
const cfg = { ...q, speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech" }, tokenizer: { ...q.tokenizer, ...(process.env.SEM_ADAPTER ? { semAdapter: process.env.SEM_ADAPTER as "linear" | "softTokens" } : {}), train: { ...q.tokenizer.train, steps: +stepsArg } } };
const run = createRun({ experiment: "omni-tokenizer-t2-curve", seed: 0, config: cfg, dir: out });
const t0 = Date.now();
const cpu = () => (cpuUsage().user + cpuUsage().system) / 1e6;
const ctx: ExperimentContext = { run, resume: false, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s wall, ${cpu().toFixed(0)} s CPU] ${m}`) };
const { data } = await prepareStudyData(cfg, ctx);
ctx.log(`data ready; waiting for the reader's checkpoint in ${readerDir}`);
while (!latestCheckpoint(readerDir)) await sleep(10_000);
const w = +wArg;
const ocfg = asOmniConfig(cfg, 0, w);
const tcfg = tokConfig(ocfg, "T2");
const lmCfg = lmConfigOf(ocfg, data.tok);
const evaluate = async (p: Parameters<typeof transcriptSanity>[0], step: number) => {
  const s = await transcriptSanity(p, tcfg, lmCfg, data, tcfg.train.batchSize, 48);
  ctx.log(`T2 w ${w} step ${step}: sanity on ${s.n}: true ${s.trueNll.toFixed(4)} shuffled ${s.shuffledNll.toFixed(4)} gap ${(s.shuffledNll - s.trueNll).toFixed(4)} nats/word`);
  return { sanityTrue: s.trueNll, sanityShuffled: s.shuffledNll };
};
// WHISPER: start from that recogniser arm's encoder (`omni-tokenizer-gates.mts whisper`), trained at ENC_SCALE × the rate.
const enc = process.env.WHISPER ? { encoder: pretrainedEncoder(ocfg, data, tcfg, process.env.WHISPER), encLrScale: +(process.env.ENC_SCALE ?? 0.1) } : {};
const tok = await runArm(ctx, `tokenizer-T2-w${w}`, tcfg, (r) => trainTokenizer(ocfg, data, "T2", r, ctx, readerDir, { ...enc, evaluate, evalEvery: +(everyArg ?? 50) }));
const s = tok.transcriptSanity!;
ctx.log(`T2 w ${w}, ${stepsArg} steps, all held-out: sanity true ${s.trueNll.toFixed(4)} shuffled ${s.shuffledNll.toFixed(4)} gap ${(s.shuffledNll - s.trueNll).toFixed(4)} on ${s.n}; mel L1 by layers ${tok.reconL1ByLayers.map((x) => x.toFixed(3)).join(" ")}; last transcript loss ${tok.transcriptLoss.toFixed(3)}`);
process.exit(0);
