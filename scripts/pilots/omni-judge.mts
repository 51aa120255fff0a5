// Pilot driver for issue 17: the digit-word judge's accuracy on held-out voices, for a few settings, on the codes of the T2
// tokenizer a pilot run already trained (`omni-speechqa.mts` DIR). Usage: npx tsx scripts/pilots/omni-judge.mts DIR [DMODEL] [ANSWER_REPEATS]
import { initEngine } from "../../src/engine/index.js";
import { openRun } from "../../src/train/run-dir.js";
import { omniPresets } from "../../src/papers/omni/config.js";
import { makePools, prepareOmniData } from "../../src/papers/omni/prepare.js";
import { encodeAll, loadTokenizer, tokConfig } from "../../src/papers/omni/tokenizer-experiment.js";
import { buildJudge } from "../../src/papers/omni/experiment.js";

const [dir, dArg, repeatsArg] = process.argv.slice(2);
await initEngine();
const q = omniPresets.quick;
const D = +(dArg ?? q.textLm.model.dModel);
const cfg = { ...q, speech: { ...q.speech, cacheDir: "runs/pilots/speech", answerRepeats: +(repeatsArg ?? q.speech.answerRepeats) }, textLm: { ...q.textLm, model: { ...q.textLm.model, dModel: D } } };
const run = openRun(dir);
const data = await prepareOmniData(cfg, run, () => {});
const tok = loadTokenizer(cfg, data, "T2", run.path("arms", "tokenizer-T2"));
const idx = data.utts.flatMap((u, i) => (u.role === "answer" ? [i] : []));
const codes = await encodeAll(tok, tokConfig(cfg, "T2"), data, idx, cfg.tokenizer.train.batchSize);
const P = makePools(data, cfg, new Map(idx.map((u, i) => [u, codes[i]])));
for (const layers of [2, 3])
  for (const segments of [2, 3])
    for (const [steps, lr] of [[1500, 8]]) {
      const { summary } = buildJudge({ ...cfg, judge: { layers, segments, steps, lr, l2: 1e-4 } }, data, P);
      console.log(`layers ${layers} segments ${segments} steps ${steps} lr ${lr}: train ${(100 * summary.trainAcc).toFixed(1)} % of ${summary.trainN}, held-out voices ${(100 * summary.heldOutAcc).toFixed(1)} % of ${summary.heldOutN}`);
    }
process.exit(0);
