// Pilot driver for issue 17 (route 5 in the staged chain; src/papers/omni/README.md): the quick preset's setup
// (`omniSetup`: text LM, recogniser, T2, judge, vision tower) and then S1 alone, the paper's seven stages in order
// (`runStageChain`, the experiment's own code), printing after each stage written QA (t->t), ASR word accuracy,
// s->t and s->s on held-out voices (the judge's score of the generated audio after the last stage) and the CPU
// seconds of the stage (training and evaluation; 1 wasm thread: TINYFOUNDRY_THREADS=1).
// Environment: SPEECH_CACHE (the WAV cache), OMNI_JSON (merged into the preset's `omni` section, e.g. lrExponent or
// stageSteps), TOKENIZER_JSON (merged into the preset's `tokenizer` section, `train` merged too, e.g.
// '{"train":{"steps":600}}'), SEED (the run seed, default the preset's), MIXES_JSON (per stage name, a mix that replaces the stage's, e.g. '{"omni":{"asr":0.3,...}}'),
// LR_JSON (per stage name, paper learning rates per group that replace the stage's: a per-stage rate, a deviation
// from the paper's ratios, printed as such), PREFIX (the chain's arm names; another prefix starts another chain in
// the same directory, sharing the setup arms).
// Branching: BASE_PREFIX=s1 BRANCH_AT=sft-1 reads the stages before sft-1 from the base chain's finished arms (no
// retraining; `runArm` keeps a completed arm) and trains only sft-1 on under PREFIX. The stages before the branch must
// match the base chain's exactly (mix, rates, steps, and every `omni` setting but the later stages' steps), else an
// error names the difference; each chain records its settings in DIR/chain-PREFIX.json for that check.
// A stage draws its data from the stream `data:<arm name>` (`trainStage`), so a branch with unchanged settings trains
// the base's stage on another data order (a data-order seed, checked on the tiny preset), not a copy of it.
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-chain.mts DIR [quick|tiny]
import { existsSync, mkdirSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { initEngine } from "../../src/engine/index.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import type { ExperimentContext } from "../../src/train/experiment.js";
import { omniPresets, omniSchema } from "../../src/papers/omni/config.js";
import { omniSetup, runStageChain } from "../../src/papers/omni/experiment.js";
import { PAPER_STAGES, stageGroupLr, type StageSpec } from "../../src/papers/omni/stages.js";
import type { DataKind } from "../../src/papers/omni/sequences.js";
import type { ParamGroup } from "../../src/papers/omni/model.js";

const [dir, presetArg] = process.argv.slice(2);
if (!dir) throw new Error("usage: omni-chain.mts DIR [quick|tiny]");
const preset = (presetArg ?? "quick") as "quick" | "tiny";
if (!(preset in omniPresets)) throw new Error(`preset must be quick or tiny, got ${preset}`);
await initEngine();
const q = omniPresets[preset];
const omniOver = JSON.parse(process.env.OMNI_JSON ?? "{}") as Record<string, unknown>;
const mixes = JSON.parse(process.env.MIXES_JSON ?? "{}") as Record<string, Partial<Record<DataKind, number>>>;
const lrs = JSON.parse(process.env.LR_JSON ?? "{}") as Record<string, Partial<Record<ParamGroup, number>>>;
const stageNames = PAPER_STAGES.map((s) => s.name);
for (const [env, o] of [["MIXES_JSON", mixes], ["LR_JSON", lrs]] as const)
  for (const k of Object.keys(o)) if (!stageNames.includes(k)) throw new Error(`${env}: unknown stage ${k} (stages: ${stageNames.join(", ")})`);
const tokOver = JSON.parse(process.env.TOKENIZER_JSON ?? "{}") as Record<string, unknown>;
const cfg = omniSchema.parse({
  ...q,
  seed: Number(process.env.SEED ?? q.seed),
  tokenizer: { ...q.tokenizer, ...tokOver, train: { ...q.tokenizer.train, ...((tokOver.train as object) ?? {}) } },
  speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech" },
  omni: { ...q.omni, ...omniOver, stageSteps: { ...q.omni.stageSteps, ...((omniOver.stageSteps as object) ?? {}) } },
});
const stages: StageSpec[] = PAPER_STAGES.map((s) => ({ ...s, ...(mixes[s.name] ? { mix: mixes[s.name] } : {}), ...(lrs[s.name] ? { paperLr: lrs[s.name] } : {}) }));
const prefix = process.env.PREFIX ?? "s1";
const basePrefix = process.env.BASE_PREFIX;
const branchAt = process.env.BRANCH_AT;
if ((basePrefix === undefined) !== (branchAt === undefined)) throw new Error("BASE_PREFIX and BRANCH_AT go together (e.g. BASE_PREFIX=s1 BRANCH_AT=sft-1)");
const branch = branchAt === undefined ? 0 : stageNames.indexOf(branchAt);
if (branch < 0) throw new Error(`BRANCH_AT: unknown stage ${branchAt} (stages: ${stageNames.join(", ")})`);
if (basePrefix !== undefined && basePrefix === prefix) throw new Error(`PREFIX (${prefix}) must differ from BASE_PREFIX when branching`);
const armName = (i: number) => `${i < branch ? basePrefix : prefix}-${i + 1}-${stages[i].name}`;
mkdirSync(dir, { recursive: true });
// The setup arms depend only on the data, text LM, tokenizer and vision settings, which every chain here shares.
const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-pilot", seed: cfg.seed, config: cfg, dir });
// What the chain's stages read besides their own arm config ({stage, steps}): every `omni` setting.
const chainRecord = { preset, omni: cfg.omni, stages, base: basePrefix ?? null, branchAt: branchAt ?? null };
if (branch > 0) {
  const recPath = `chain-${basePrefix}.json`;
  if (!existsSync(run.path(recPath))) throw new Error(`BASE_PREFIX ${basePrefix}: ${run.path(recPath)} is missing (run the base chain with this script first)`);
  const base = run.readJson<typeof chainRecord>(recPath);
  const later = new Set(stageNames.slice(branch));
  const shared = (o: typeof cfg.omni) => ({ ...o, stageSteps: Object.fromEntries(Object.entries(o.stageSteps).filter(([k]) => !later.has(k))) });
  if (base.preset !== preset) throw new Error(`branch: base chain ${basePrefix} ran preset ${base.preset}, this one ${preset}`);
  for (const [k, v] of Object.entries(shared(cfg.omni)))
    if (!isDeepStrictEqual(v, (shared(base.omni) as Record<string, unknown>)[k]))
      throw new Error(`branch: omni.${k} differs from base chain ${basePrefix} (${JSON.stringify((shared(base.omni) as Record<string, unknown>)[k])} there, ${JSON.stringify(v)} here); the stages before ${branchAt} would not be the ones this chain describes`);
  for (let i = 0; i < branch; i++) {
    const a = run.path("arms", armName(i));
    if (!existsSync(`${a}/meta.json`) || openRun(a).meta().status !== "completed") throw new Error(`branch: base arm ${armName(i)} is not completed yet (wait for the base chain to finish it)`);
    const armCfg = openRun(a).config<{ stage: StageSpec; steps: number }>();
    if (!isDeepStrictEqual(armCfg, { stage: stages[i], steps: cfg.omni.stageSteps[stages[i].name] })) throw new Error(`branch: stage ${stages[i].name} differs from base arm ${armName(i)} (mix, rates or steps)`);
  }
}
run.writeJson(`chain-${prefix}.json`, chainRecord);
const t0 = Date.now();
const cpu = () => process.cpuUsage().user / 1e6;
const log = (m: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s wall, ${cpu().toFixed(0)}s CPU] ${m}`);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log };
const S = await omniSetup(cfg, ctx);
log(`setup done (data, text LM, recogniser, T2, judge ${(100 * S.judgeSummary.heldOutAcc).toFixed(1)} % held-out, vision tower)`);
const f = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : "-");
const rows: string[] = [];
let last = cpu();
console.log(`chain ${prefix}${branch > 0 ? ` (stages before ${branchAt} from chain ${basePrefix})` : ""}: baseLr ${cfg.omni.baseLr}, lrExponent ${cfg.omni.lrExponent}, steps ${JSON.stringify(cfg.omni.stageSteps)}`);
for (const s of stages) console.log(`  ${s.name}: lr ${JSON.stringify(stageGroupLr(s, cfg.omni.baseLr, cfg.omni.lrExponent))}${lrs[s.name] ? " (per-stage override: a deviation)" : ""} mix ${JSON.stringify(s.mix)}`);
await runStageChain(cfg, ctx, S, stages, armName, true, (i, e) => {
  const now = cpu();
  const cpuS = i < branch ? `(chain ${basePrefix})` : (now - last).toFixed(0);
  const row = `| ${stages[i].name} | ${cfg.omni.stageSteps[stages[i].name]} | ${f(e.textQaAcc)} | ${f(e.asrWordAcc)} | ${f(e.s2tAcc)} | ${f(e.s2tAccHeldOutQ)} | ${f(e.s2sTextAcc)} | ${i === stages.length - 1 ? f(e.s2sAudioAcc) : "-"} | ${f(e.captionAcc)} | ${cpuS} |`;
  last = now;
  rows.push(row);
  console.log(row);
});
console.log(`chain ${prefix}:`);
console.log("| stage | steps | t->t (written QA) | ASR word acc. | s->t | s->t held-out Q | s->s text | s->s audio (judge) | caption | CPU s |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
S.dispose();
process.exit(0);
