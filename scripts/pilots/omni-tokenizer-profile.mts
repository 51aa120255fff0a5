// Profile of one `omni-tokenizer` study run at a reduced number of steps (issue 17 / issue 25's suite time): CPU seconds of
// each phase (speech synthesis, nuisance + mels, reader LM, each tokenizer's steps and its evaluation, the frozen-LM sanity,
// the codes for the probes, each probe's steps and its greedy evaluation), and the CPU seconds per step of every training
// loop (the first step, which compiles, apart), so the quick preset's minutes can be estimated from the step counts.
// Run with TINYFOUNDRY_THREADS=1 so CPU seconds ≈ single-thread seconds.
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-tokenizer-profile.mts OUTDIR [READER_STEPS] [TOK_STEPS] [PROBE_STEPS]
// Environment: SPEECH_CACHE (WAV cache; default OUTDIR/speech).
import { initEngine, disposeTree } from "../../src/engine/index.js";
import { createRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import type { ProgressEvent } from "../../src/train/loop.js";
import { tokStudyPresets, asOmniConfig } from "../../src/papers/omni/tokenizer-study-config.js";
import { prepareStudyData, trainReaderLM } from "../../src/papers/omni/tokenizer-study.js";
import { encodeAll, loadTokenizer, tokConfig, trainTokenizer, type TokArm } from "../../src/papers/omni/tokenizer-experiment.js";
import { trainProbe } from "../../src/papers/omni/probe-experiment.js";
import type { Codes } from "../../src/papers/omni/sequences.js";

const [out, readerArg, tokArg, probeArg] = process.argv.slice(2);
if (!out) throw new Error("usage: omni-tokenizer-profile.mts OUTDIR [READER_STEPS] [TOK_STEPS] [PROBE_STEPS]");
await initEngine();
const q = tokStudyPresets.quick;
const cfg = {
  ...q,
  speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? `${out}/speech` },
  textLm: { ...q.textLm, train: { ...q.textLm.train, steps: +(readerArg ?? 40) } },
  tokenizer: { ...q.tokenizer, train: { ...q.tokenizer.train, steps: +(tokArg ?? 30) } },
  probe: { ...q.probe, train: { ...q.probe.train, steps: +(probeArg ?? 30) } },
};
const run = createRun({ experiment: "omni-tokenizer-profile", seed: 0, config: cfg, dir: `${out}/run` });
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const t0 = Date.now();
const rows: string[] = [];
// Step events of the current loop: CPU seconds at each step.
let stepCpu: number[] = [];
const onProgress = (e: ProgressEvent) => {
  if (e.kind === "step") stepCpu.push(cpu());
};
const ctx: ExperimentContext = { run, resume: false, signal: new AbortController().signal, onProgress, log: (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)} s wall, ${cpu().toFixed(0)} s CPU] ${m}`) };
async function phase<T>(name: string, f: () => Promise<T> | T): Promise<T> {
  stepCpu = [];
  const c0 = cpu();
  const r = await f();
  const total = cpu() - c0;
  const n = stepCpu.length;
  // Per step: between the first and the last step event (so the first step's compile is outside).
  const per = n > 2 ? (stepCpu[n - 1] - stepCpu[0]) / (n - 1) : NaN;
  const loopEnd = n > 0 ? stepCpu[n - 1] - c0 : 0;
  const row = n > 0 ? `| ${name} | ${total.toFixed(1)} | ${n} | ${per.toFixed(3)} | ${(stepCpu[0] - c0).toFixed(1)} | ${(total - loopEnd).toFixed(1)} |` : `| ${name} | ${total.toFixed(1)} | - | - | - | - |`;
  rows.push(row);
  ctx.log(row);
  return r;
}
const { data } = await phase("speech + nuisance + mels", () => prepareStudyData(cfg, ctx));
ctx.log(`data: T=${data.mels.T}, ${data.trainIdx.length} training / ${data.evalIdx.length} held-out utterances`);
await phase(`reader LM (${cfg.textLm.train.steps} steps) + read-back check`, () => runArm(ctx, "reader-lm", {}, (r) => trainReaderLM(cfg, data, r, ctx)));
const allIdx = [...data.trainIdx, ...data.evalIdx];
for (const arm of ["T1", "T2"] as TokArm[]) {
  const ocfg = asOmniConfig(cfg, 0);
  const name = `tokenizer-${arm}`;
  const s = await phase(`${name} (${cfg.tokenizer.train.steps} steps) + eval${arm === "T2" ? " + sanity" : ""}`, () => runArm(ctx, name, {}, (r) => trainTokenizer(ocfg, data, arm, r, ctx, run.path("arms", "reader-lm"))));
  ctx.log(`${name}: mel L1 by layers ${s.reconL1ByLayers.map((x) => x.toFixed(3)).join(" ")}`);
  const codes = await phase(`${name}: codes of all ${allIdx.length} utterances`, async () => {
    const p = loadTokenizer(ocfg, data, arm, run.path("arms", name));
    const c = await encodeAll(p, tokConfig(ocfg, arm), data, allIdx, cfg.tokenizer.train.batchSize);
    disposeTree(p);
    return c;
  });
  const codeMap = new Map<number, Codes>(allIdx.map((u, i) => [u, codes[i]]));
  for (const k of cfg.probe.layers) {
    const label = `probe-${arm}-k${k}`;
    const p = await phase(`${label} (${cfg.probe.train.steps} steps) + greedy eval`, () => runArm(ctx, label, {}, (r) => trainProbe(ocfg, data, codeMap, cfg.tokenizer.codebookSizes, k, r, ctx, label)));
    ctx.log(`${label}: CER ${(100 * p.cer).toFixed(1)} %`);
  }
}
console.log("\n| phase | CPU s | steps | CPU s / step | before step 1 (compile) | after the loop (eval) |\n|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
process.exit(0);
