// Pilot for issue 17's transcribe-then-answer route (src/papers/omni/README.md, "Route 5"): what written QA the text LM
// reaches by width and steps (the cascade through the model's own transcript needs the backbone to answer written
// questions). Each arm is the quick text LM with `textLm.model` and `textLm.train` overridden; prints written QA on the
// 128 written questions and the CPU seconds of that arm (1 wasm thread: TINYFOUNDRY_THREADS=1).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-textlm.mts DIR 'JSON[]' (each {"label", "model"?, "train"?})
import { existsSync, mkdirSync } from "node:fs";
import { initEngine } from "../../src/engine/index.js";
import { createRun, openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import { omniPresets, omniSchema } from "../../src/papers/omni/config.js";
import { prepareOmniData } from "../../src/papers/omni/prepare.js";
import { trainTextLM } from "../../src/papers/omni/text-lm.js";

const [dir, armsJson] = process.argv.slice(2);
const arms = JSON.parse(armsJson) as { label: string; model?: Record<string, unknown>; train?: Record<string, unknown> }[];
await initEngine();
const q = omniPresets.quick;
const base = omniSchema.parse({ ...q, speech: { ...q.speech, cacheDir: process.env.SPEECH_CACHE ?? "runs/pilots/speech", ...JSON.parse(process.env.SPEECH_JSON ?? "{}") } });
mkdirSync(dir, { recursive: true });
const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-pilot", seed: 0, config: base, dir });
const cpu = () => process.cpuUsage().user / 1e6;
const log = (m: string) => console.log(`[${cpu().toFixed(0)}s CPU] ${m}`);
const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log };
const data = await prepareOmniData(base, run, log);
for (const a of arms) {
  const cfg = omniSchema.parse({ ...base, textLm: { ...base.textLm, model: { ...base.textLm.model, ...a.model }, train: { ...base.textLm.train, ...a.train } } });
  const c0 = cpu();
  const res = await runArm(ctx, a.label, cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, a.label));
  log(`| ${a.label} | ${JSON.stringify(a.model ?? {})} ${JSON.stringify(a.train ?? {})} | written QA ${(100 * res.textQaAcc).toFixed(1)} % (n ${res.textQaN}) | loss ${res.finalLoss.toFixed(3)} | ${(cpu() - c0).toFixed(0)} CPU s |`);
}
process.exit(0);
