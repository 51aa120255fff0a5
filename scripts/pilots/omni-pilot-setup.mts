// What every omni speech pilot does first (issue 17; the routes in src/papers/omni/README.md): open or create the
// pilot's run directory, prepare the speech data (synthesis cached under runs/pilots/speech), train or reuse the
// text LM and the T2 tokenizer arms, and encode every utterance to RVQ codes.
import { existsSync, mkdirSync } from "node:fs";
import { createRun, openRun } from "../../src/train/run-dir.js";
import { runArm, type ExperimentContext } from "../../src/train/experiment.js";
import type { OmniExperimentConfig } from "../../src/papers/omni/config.js";
import { prepareOmniData } from "../../src/papers/omni/prepare.js";
import { trainTextLM } from "../../src/papers/omni/text-lm.js";
import { encodeAll, loadTokenizer, tokConfig, trainTokenizer } from "../../src/papers/omni/tokenizer-experiment.js";

/**
 * `cfg` trains the text LM (arm `lmArm`); `base` (default `cfg`) holds the data and the tokenizer and is the run's
 * recorded config, so pilots with another LM width share one speech cache and tokenizer.
 */
export async function omniPilotSetup(dir: string, cfg: OmniExperimentConfig, opts: { base?: OmniExperimentConfig; lmArm?: string } = {}) {
  const base = opts.base ?? cfg;
  const lmArm = opts.lmArm ?? "text-lm";
  mkdirSync(dir, { recursive: true });
  const run = existsSync(`${dir}/meta.json`) ? openRun(dir) : createRun({ experiment: "omni-pilot", seed: 0, config: base, dir });
  const t0 = Date.now();
  const sec = () => ((Date.now() - t0) / 1000).toFixed(0);
  const ctx: ExperimentContext = { run, resume: true, signal: new AbortController().signal, onProgress: () => {}, log: (m) => console.log(`[${sec()}s] ${m}`) };
  const data = await prepareOmniData(base, run, ctx.log);
  const voices = new Set(data.trainIdx.map((u) => data.utts[u].voice)).size;
  console.log(`[${sec()}s] speech ready (synthesis included): ${data.utts.length} utterances, train ${data.trainIdx.length}, eval ${data.evalIdx.length}, ${voices} training voices`);
  const armDir = (a: string) => run.path("arms", a);
  const text = await runArm(ctx, lmArm, cfg.textLm, (r) => trainTextLM(cfg, data, r, ctx, lmArm));
  console.log(`[${sec()}s] ${lmArm} written QA ${text.textQaAcc.toFixed(3)}`);
  await runArm(ctx, "tokenizer-T2", tokConfig(base, "T2"), (r) => trainTokenizer(base, data, "T2", r, ctx, armDir("text-lm")));
  const tok = loadTokenizer(base, data, "T2", armDir("tokenizer-T2"));
  const allIdx = [...data.trainIdx, ...data.evalIdx];
  const codes = await encodeAll(tok, tokConfig(base, "T2"), data, allIdx, base.tokenizer.train.batchSize);
  return { run, ctx, sec, data, armDir, text, tok, allIdx, codes };
}
