// Pilots for the `omni-tokenizer` study's gates (issue 17): the mel-L1 gate (8-layer mel L1 ≤ 0.9 × the mean-frame
// baseline), the probe gate (best all-layer probe CER ≤ 0.9 × the constant transcript's) and the frozen-LM sanity gate
// (T2: transcript NLL with another utterance's codes ≥ 1 nat per word above the true codes'), on the study's quick data
// (acoustic nuisance on every waveform). Phases, each its own run directory (arms resume):
//   reader DIR                      the frozen reader LM of the quick preset (1,500 steps)
//   whisper DIR STEPS               the tokenizer's encoder pretrained as a recogniser (`whisper-pretrain`, 2 nuisance
//                                   copies of each utterance on top of the study's nuisance), STEPS on a STEPS cosine
//   tok DIR ARM STEPS LR ENC_SCALE  a T1 or T2 tokenizer (STEPS steps, peak rate LR), its encoder random (ENC_SCALE "-")
//                                   or the whisper arm's at `encLrScale` ENC_SCALE; then probes on its first 1 and 8
//                                   layers; prints the three gates' values. Environment: READER (the reader-lm arm's
//                                   directory, T2), WHISPER (the whisper arm's directory), PROBE_STEPS (200), PROBE_LAYERS (8,1).
// CPU seconds of the process (all threads) in every line. Usage:
//   TINYFOUNDRY_THREADS=1 SPEECH_CACHE=... npx tsx scripts/pilots/omni-tokenizer-gates.mts PHASE DIR ...
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { initEngine, disposeTree } from "../../src/engine/index.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { prepareStudyData, trainReaderLM } from "../../src/papers/omni/tokenizer-study.js";
import { encodeAll, loadTokenizer, meanFrameBaseline, tokConfig, trainTokenizer, type TokArm } from "../../src/papers/omni/tokenizer-experiment.js";
import { constantTranscriptBaseline, trainProbe } from "../../src/papers/omni/probe-experiment.js";
import { pretrainedEncoder, trainWhisper } from "../../src/papers/omni/whisper-experiment.js";
import type { Codes } from "../../src/papers/omni/sequences.js";

const [phase, dir, ...rest] = process.argv.slice(2);
if (!["reader", "whisper", "tok"].includes(phase) || !dir) throw new Error("usage: omni-tokenizer-gates.mts reader|whisper|tok DIR ...");
await initEngine();
const q = tokStudyPresets.quick;
const probeSteps = +(process.env.PROBE_STEPS ?? 200);
const [wSteps] = phase === "whisper" ? rest : [];
const [armArg, stepsArg, lrArg, encArg] = phase === "tok" ? rest : [];
const cfg = {
  ...q,
  speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech" },
  tokenizer: {
    ...q.tokenizer,
    train: { ...q.tokenizer.train, ...(stepsArg ? { steps: +stepsArg } : {}), ...(lrArg ? { lr: +lrArg } : {}) },
    pretrainEncoder: { ...q.tokenizer.pretrainEncoder, ...(wSteps ? { steps: +wSteps } : { steps: 1 }), nuisanceCopies: 2, evalEvery: 0 },
  },
  probe: { ...q.probe, train: { ...q.probe.train, steps: probeSteps } },
};
mkdirSync(dir, { recursive: true });
const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-tokenizer-gates", seed: 0, config: cfg, dir });
const t0 = Date.now();
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s wall, ${cpu().toFixed(0)} s CPU] ${m}`);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log };
const { data } = await prepareStudyData(cfg, ctx);
log(`data: ${data.trainIdx.length} training / ${data.evalIdx.length} held-out utterances`);
const ocfg = asOmniConfig(cfg, 0);

if (phase === "reader") {
  const r = await runArm(ctx, "reader-lm", { textLm: cfg.textLm, rb: cfg.study.readBack }, (d) => trainReaderLM(cfg, data, d, ctx));
  log(`reader-lm: final loss ${r.finalLoss.toFixed(3)}, read-back check ${JSON.stringify(r.readBackSanity)}`);
  process.exit(0);
}
if (phase === "whisper") {
  const tcfg = tokConfig(ocfg, "T2");
  const r = await runArm(ctx, "whisper", cfg.tokenizer.pretrainEncoder, (d) => trainWhisper(ocfg, data, tcfg, d, ctx, log));
  log(`whisper ${wSteps} steps: loss ${r.finalLoss.toFixed(3)}, held-out word accuracy ${(100 * r.heldOutWordAcc).toFixed(1)} % (n ${r.nHeldOut}), training ${(100 * r.trainWordAcc).toFixed(1)} %`);
  process.exit(0);
}

const arm = armArg as TokArm;
const encScale = encArg === "-" || encArg === undefined ? undefined : +encArg;
const reader = process.env.READER ?? "";
if (arm === "T2" && !reader) throw new Error("T2 needs READER (the reader-lm arm's directory)");
const tcfg = tokConfig(ocfg, arm);
const name = `tok-${arm}-s${stepsArg}-lr${lrArg}-e${encArg}`;
let evalCodes: Map<number, Codes> | undefined;
const onCodes = (c: Map<number, Codes>) => (evalCodes = c);
const opts = encScale === undefined ? { onCodes } : { encoder: pretrainedEncoder(ocfg, data, tcfg, process.env.WHISPER ?? ""), encLrScale: encScale, onCodes };
const s = await runArm(ctx, name, { tcfg, encArg, w: process.env.WHISPER }, (d) => trainTokenizer(ocfg, data, arm, d, ctx, reader, opts));
const base = meanFrameBaseline(data).meanFrameL1;
log(`${name}: held-out mel L1 by layers ${s.reconL1ByLayers.map((x) => x.toFixed(3)).join(" ")}; 8-layer ÷ mean-frame baseline ${(s.reconL1ByLayers.at(-1)! / base).toFixed(3)} (baseline ${base.toFixed(3)})`);
if (s.transcriptSanity) log(`${name}: frozen-LM sanity true ${s.transcriptSanity.trueNll.toFixed(3)} shuffled ${s.transcriptSanity.shuffledNll.toFixed(3)} (gap ${(s.transcriptSanity.shuffledNll - s.transcriptSanity.trueNll).toFixed(3)} per token)`);
// The training mel loss (multi-scale, coarse + refined; that step's batch) every 50 steps.
const mfile = run.path("arms", name, "metrics.jsonl");
const rows = (existsSync(mfile) ? readFileSync(mfile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>) : []).filter((r) => r.melLoss !== undefined);
log(`${name}: training mel loss ${rows.filter((r) => r.step % 50 === 0 || r.step === rows.length).map((r) => `${r.step}: ${r.melLoss.toFixed(3)}`).join(", ")}`);
const allIdx = [...data.trainIdx, ...data.evalIdx];
const p = loadTokenizer(ocfg, data, arm, run.path("arms", name));
const codes = await encodeAll(p, tcfg, data, allIdx, cfg.tokenizer.train.batchSize);
disposeTree(p);
const codeMap = new Map<number, Codes>(allIdx.map((u, i) => [u, codes[i]]));
// The evaluation's codes (what the study now hands to the probes) against a fresh encoding from the checkpoint.
if (evalCodes) {
  const ec = evalCodes;
  const same = allIdx.every((u) => ec.get(u)!.length === codeMap.get(u)!.length && ec.get(u)!.every((f, t) => f.every((v, j) => v === codeMap.get(u)![t][j])));
  log(`${name}: the evaluation's codes equal a fresh encoding from the checkpoint: ${same}`);
}
const constant = constantTranscriptBaseline(data).constantCer;
for (const k of (process.env.PROBE_LAYERS ?? "8,1").split(",").filter(Boolean).map(Number)) {
  const label = `probe-${name}-k${k}`;
  const r = await runArm(ctx, label, { probe: cfg.probe, k }, (d) => trainProbe(ocfg, data, codeMap, cfg.tokenizer.codebookSizes, k, d, ctx, label));
  log(`${label}: CER ${(100 * r.cer).toFixed(1)} % ÷ constant ${(100 * constant).toFixed(1)} % = ${(r.cer / constant).toFixed(3)}`);
}
process.exit(0);
