// Pilot driver for issue 17 (route 5 in the staged chain; src/papers/omni/README.md): the quick preset's setup
// (`omniSetup`: text LM, recogniser, T2, judge, vision tower) and then S1 alone, the paper's seven stages in order
// (`runStageChain`, the experiment's own code), printing after each stage written QA (t->t), ASR word accuracy,
// s->t and s->s on held-out voices (the judge's score of the generated audio after the last stage) and the CPU
// seconds of the stage (training and evaluation; 1 wasm thread: TINYFOUNDRY_THREADS=1).
// Environment: SPEECH_CACHE (the WAV cache), OMNI_JSON (merged into the preset's `omni` section, e.g. lrExponent or
// stageSteps), MIXES_JSON (per stage name, a mix that replaces the stage's, e.g. '{"omni":{"asr":0.3,...}}'),
// PREFIX (the chain's arm names; another prefix starts another chain in the same directory, sharing the setup arms).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-chain.mts DIR [quick|tiny]
import { existsSync, mkdirSync } from "node:fs";
import { initEngine } from "../../src/engine/index.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import type { ExperimentContext } from "../../src/train/experiment.js";
import { omniPresets, omniSchema } from "../../src/papers/omni/config.js";
import { omniSetup, runStageChain } from "../../src/papers/omni/experiment.js";
import { PAPER_STAGES, stageGroupLr, type StageSpec } from "../../src/papers/omni/stages.js";
import type { DataKind } from "../../src/papers/omni/sequences.js";

const [dir, presetArg] = process.argv.slice(2);
if (!dir) throw new Error("usage: omni-chain.mts DIR [quick|tiny]");
const preset = (presetArg ?? "quick") as "quick" | "tiny";
if (!(preset in omniPresets)) throw new Error(`preset must be quick or tiny, got ${preset}`);
await initEngine();
const q = omniPresets[preset];
const omniOver = JSON.parse(process.env.OMNI_JSON ?? "{}") as Record<string, unknown>;
const mixes = JSON.parse(process.env.MIXES_JSON ?? "{}") as Record<string, Partial<Record<DataKind, number>>>;
for (const k of Object.keys(mixes)) if (!PAPER_STAGES.some((s) => s.name === k)) throw new Error(`MIXES_JSON: unknown stage ${k}`);
const cfg = omniSchema.parse({
  ...q,
  speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech" },
  omni: { ...q.omni, ...omniOver, stageSteps: { ...q.omni.stageSteps, ...((omniOver.stageSteps as object) ?? {}) } },
});
const stages: StageSpec[] = PAPER_STAGES.map((s) => (mixes[s.name] ? { ...s, mix: mixes[s.name] } : s));
const prefix = process.env.PREFIX ?? "s1";
mkdirSync(dir, { recursive: true });
// The setup arms depend only on the data, text LM, tokenizer and vision settings, which every chain here shares.
const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-pilot", seed: 0, config: cfg, dir });
const t0 = Date.now();
const cpu = () => process.cpuUsage().user / 1e6;
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s wall, ${cpu().toFixed(0)}s CPU] ${m}`);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log };
const S = await omniSetup(cfg, ctx);
log(`setup done (data, text LM, recogniser, T2, judge ${(100 * S.judgeSummary.heldOutAcc).toFixed(1)} % held-out, vision tower)`);
const f = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : "-");
const rows: string[] = [];
let last = cpu();
console.log(`chain ${prefix}: baseLr ${cfg.omni.baseLr}, lrExponent ${cfg.omni.lrExponent}, steps ${JSON.stringify(cfg.omni.stageSteps)}`);
for (const s of stages) console.log(`  ${s.name}: lr ${JSON.stringify(stageGroupLr(s, cfg.omni.baseLr, cfg.omni.lrExponent))} mix ${JSON.stringify(s.mix)}`);
await runStageChain(cfg, ctx, S, stages, (i) => `${prefix}-${i + 1}-${stages[i].name}`, true, (i, e) => {
  const now = cpu();
  const row = `| ${stages[i].name} | ${cfg.omni.stageSteps[stages[i].name]} | ${f(e.textQaAcc)} | ${f(e.asrWordAcc)} | ${f(e.s2tAcc)} | ${f(e.s2tAccHeldOutQ)} | ${f(e.s2sTextAcc)} | ${i === stages.length - 1 ? f(e.s2sAudioAcc) : "-"} | ${f(e.captionAcc)} | ${(now - last).toFixed(0)} |`;
  last = now;
  rows.push(row);
  console.log(row);
});
console.log("| stage | steps | t->t (written QA) | ASR word acc. | s->t | s->t held-out Q | s->s text | s->s audio (judge) | caption | CPU s |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
S.dispose();
process.exit(0);
