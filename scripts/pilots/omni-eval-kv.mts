// Pilot (issue 25, omni's evaluation time): the CPU seconds of the greedy decodes of one `evalOmni` at the quick preset's
// shapes (batch 24, context 56, the quick LM, 208 spoken evaluation questions, 248 ASR utterances, 12 generated frames),
// old path (`full`: the whole packed batch every step) against the KV cache (`kv`), in interleaved pairs after one
// warm-up each (compilation), and the parts of the evaluation that do not decode (caption 300 and image+speech 64
// teacher-forced examples), once. A random model with random codes of 18-30 frames per utterance (no speech data or
// training needed): the decodes then run to their step limits, as most rows of the quick models do. The two paths'
// predictions must agree (checked every pair). `split`: speech out with the KV cache at 0 frames and the preset's (twice each).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/omni-eval-kv.mts [PAIRS | split]
const { initEngine } = await import("../../src/engine/index.js");
const { initLM } = await import("../../src/nn/transformer.js");
const { Rng } = await import("../../src/util/rng.js");
const { omniPresets } = await import("../../src/papers/omni/config.js");
const { initOmni } = await import("../../src/papers/omni/model.js");
const { formats } = await import("../../src/papers/omni/sequences.js");
const { omniConfigOf } = await import("../../src/papers/omni/prepare.js");
const { asrWordAccuracy, evalSessions, omniLogitsFn, speechAnswerAccuracy } = await import("../../src/papers/omni/omni-eval.js");
const { generateSpeech, trunkOf } = await import("../../src/papers/omni/speech-generation.js");
const { WordTokenizer, allQuestions, allStatements, DIGITS } = await import("../../src/papers/omni/world.js");
import type { Array } from "../../src/engine/index.js";
import type { OmniData, Pools } from "../../src/papers/omni/prepare.js";
import type { BatchShape, Codes } from "../../src/papers/omni/sequences.js";

await initEngine();
const split = process.argv[2] === "split";
const pairs = split ? 0 : Number(process.argv[2] ?? 3);
const cfg = omniPresets.quick;
const tok = new WordTokenizer();
const ocfg = omniConfigOf(cfg, { tok } as unknown as OmniData);
const p = initOmni(ocfg, initLM(ocfg.lm, 0), 0);
const B = cfg.omni.batchSize;
const T = ocfg.lm.contextLength;
const V = ocfg.lm.vocabSize;
const shape: BatchShape = { batch: B, seqLen: T, audioRows: 1, nLayers: ocfg.codebookSizes.length, K0: ocfg.codebookSizes[0], vision: ocfg.vision };
const rng = new Rng(0, "omni-eval-kv");
const frames = (): Codes => Array.from({ length: 18 + rng.int(13) }, () => Int32Array.from(ocfg.codebookSizes, (k) => rng.int(k)));
const nQ = cfg.speech.evalQuestionsPerVoice * cfg.speech.heldOutVoices; // 208
const qa = allQuestions();
const qs = Array.from({ length: nQ }, (_, i) => ({ q: qa[i % qa.length], codes: frames() }));
const st = allStatements();
const asrTexts = [...st.slice(0, cfg.speech.evalStatements), ...qs.map((x) => x.q.text)]; // 248
const asrCodes = new Map(asrTexts.map((_, u) => [u, u < cfg.speech.evalStatements ? frames() : qs[u - cfg.speech.evalStatements].codes] as const));
const data = { tok, utts: asrTexts.map((text) => ({ text })) } as unknown as OmniData;
const f = formats(tok, ocfg.vision, cfg.omni.speechQaFormat);
const P = { f, codes: asrCodes } as unknown as Pools;
const logits = omniLogitsFn(ocfg);
const fwd = async (xs: Array[]) => (await logits(trunkOf(p), xs).data()) as Float32Array;
const mark = tok.id("<answer>");
const eos = tok.id("<eos>");
const anyAnswer = frames().slice(0, 8);
const stEx = qs.map((x) => f.sqaText(x.codes, x.q.answer, x.q.text));
const ssEx = qs.map((x) => f.sqaSpeech(x.codes, x.q.answer, anyAnswer, x.q.text));

const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
async function timed<R>(fn: () => Promise<R>): Promise<{ s: number; r: R }> {
  const c0 = cpu();
  const r = await fn();
  return { s: cpu() - c0, r };
}
type Path = "kv" | "full";
const parts = {
  st: (d: Path) => speechAnswerAccuracy(fwd, stEx, mark, cfg.omni.speechQaFormat, mark, eos, B, shape, V, evalSessions(d, p, ocfg, fwd, shape)).then((r) => JSON.stringify([r.preds, r.forced])),
  ss: (d: Path) => speechAnswerAccuracy(fwd, ssEx, tok.id("<speak>"), cfg.omni.speechQaFormat, mark, eos, B, shape, V, evalSessions(d, p, ocfg, fwd, shape)).then((r) => JSON.stringify([r.preds, r.forced])),
  asr: (d: Path) => asrWordAccuracy(fwd, data, P, B, shape, V, asrTexts.map((_, u) => u), evalSessions(d, p, ocfg, fwd, shape)).then((r) => JSON.stringify(r.hyps)),
  gen: (d: Path) => generateSpeech(p, ocfg, data, qs.map((x) => x.codes), B, cfg.omni.maxGenFrames, logits, cfg.omni.speechQaFormat, d).then((r) => JSON.stringify([r.text, r.frames.map((x) => x.map((c) => [...c]))])),
};
const names = Object.keys(parts) as (keyof typeof parts)[];

if (split) {
  // where speech out's time goes with the KV cache: its text part alone (0 frames) against the quick preset's frames
  for (const n of [0, cfg.omni.maxGenFrames, 0, cfg.omni.maxGenFrames]) {
    const t = await timed(() => generateSpeech(p, ocfg, data, qs.map((x) => x.codes), B, n, logits, cfg.omni.speechQaFormat, "kv"));
    console.log(`gen kv, ${n} frames: ${t.s.toFixed(2)} CPU s`);
  }
  process.exit(0);
}
// warm-up (compilation) of each part and path
for (const n of names)
  for (const d of ["full", "kv"] as Path[]) {
    const w = await timed(() => parts[n](d));
    console.log(`warm-up ${n} ${d}: ${w.s.toFixed(1)} CPU s`);
  }
const sums: Record<string, { full: number[]; kv: number[] }> = Object.fromEntries(names.map((n) => [n, { full: [], kv: [] }]));
for (let i = 0; i < pairs; i++) {
  const order: Path[] = i % 2 === 0 ? ["full", "kv"] : ["kv", "full"];
  for (const n of names) {
    const out: Record<string, string> = {};
    for (const d of order) {
      const t = await timed(() => parts[n](d));
      sums[n][d].push(t.s);
      out[d] = t.r;
    }
    const same = out.full === out.kv;
    console.log(`pair ${i} ${n}: full ${sums[n].full.at(-1)!.toFixed(2)} s, kv ${sums[n].kv.at(-1)!.toFixed(2)} s, same predictions: ${same}`);
    if (!same) throw new Error(`${n}: the paths disagree`);
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log("\npart | n | full CPU s | kv CPU s | ratio");
for (const n of names) console.log(`${n} | ${sums[n].full.length} | ${mean(sums[n].full).toFixed(2)} | ${mean(sums[n].kv).toFixed(2)} | ${(mean(sums[n].full) / mean(sums[n].kv)).toFixed(1)}x`);

// the teacher-forced parts of evalOmni (one forward per batch), once, after a warm-up
const img = Float32Array.from({ length: 784 }, (_, i) => (i % 29) / 29);
const capEx = Array.from({ length: 10 * cfg.digits.testPerDigit }, (_, i) => f.caption(img, DIGITS[i % 10]));
const omniEx = Array.from({ length: 64 }, (_, i) => f.omni(img, frames(), DIGITS[i % 10]));
const tf = (exs: typeof capEx, m: number) => speechAnswerAccuracy(fwd, exs, m, "direct", mark, eos, B, shape, V);
await tf(capEx.slice(0, B), tok.id("is"));
const cap = await timed(() => tf(capEx, tok.id("is")));
const om = await timed(() => tf(omniEx, mark));
console.log(`caption (${capEx.length} examples): ${cap.s.toFixed(2)} CPU s; image + spoken question (64): ${om.s.toFixed(2)} CPU s`);
