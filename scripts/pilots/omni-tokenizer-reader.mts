// Pilot for issue 17's tokenizer part: can the frozen reader LM learn to read a read-back prefix? Text only (no speech):
// trains the reader LM (share READBACK of read-back sequences, REPEATS slots per word at most, STEPS steps) and prints its
// transcript NLL per word after the sentence's own prefix vs another sentence's.
// Usage: npx tsx scripts/pilots/omni-tokenizer-reader.mts OUTDIR READBACK REPEATS STEPS [LR]
import { initEngine } from "../../src/engine/index.js";
import { createRun } from "../../src/train/run-dir.js";
import type { ExperimentContext } from "../../src/train/experiment.js";
import { tokStudyPresets } from "../../src/papers/omni/tokenizer-study-config.js";
import { trainReaderLM } from "../../src/papers/omni/tokenizer-study.js";
import { statementSplit } from "../../src/papers/omni/speech.js";
import { allQuestions, WordTokenizer } from "../../src/papers/omni/world.js";
import type { OmniData } from "../../src/papers/omni/prepare.js";

const [out, rb, reps, steps, lr] = process.argv.slice(2);
await initEngine();
const q = tokStudyPresets.quick;
const cfg = { ...q, textLm: { ...q.textLm, train: { ...q.textLm.train, steps: +steps, lr: +(lr ?? q.textLm.train.lr) } }, study: { ...q.study, readBack: +rb, readBackRepeats: +reps } };
const st = statementSplit(0);
const qa = allQuestions().map((x) => ({ q: x.text, a: x.answer }));
const data = { tok: new WordTokenizer(), textTrain: [...st.train.map((s) => ({ s })), ...qa], textEval: [...st.heldOut.slice(0, 64).map((s) => ({ s })), ...qa], mels: { T: 272 } } as unknown as OmniData;
const run = createRun({ experiment: "omni-tokenizer-reader-pilot", seed: 0, config: cfg, dir: out });
const t0 = Date.now();
const ctx: ExperimentContext = { run, resume: false, signal: new AbortController().signal, onProgress: () => {}, log: console.log };
const r = await trainReaderLM(cfg, data, run, ctx);
console.log(`readBack ${rb} repeats ${reps} steps ${steps} lr ${cfg.textLm.train.lr}: ${JSON.stringify(r.readBackSanity)} gap ${(r.readBackSanity.shuffledNll - r.readBackSanity.trueNll).toFixed(3)} final loss ${r.finalLoss.toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
process.exit(0);
