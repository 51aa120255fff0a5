// How low can the `omni-tokenizer` study's held-out mel L1 go under its acoustic nuisance? (issue 17, the mel-L1 gate:
// 8-layer mel L1 ≤ 0.9 × the mean-frame baseline.) White noise at 15-30 dB SNR makes every log-mel bin a random draw
// that no tokenizer can predict from codes of the speech. Each held-out utterance is perturbed as in the study (its own
// `nuisance:<i>` stream) and again with the same speed, gain and SNR but fresh noise; the L1 between the two copies'
// log-mels, times 1/√2 (for Gaussian noise the best prediction from the clean signal has E|n| = E|n1 − n2| / √2), estimates
// the floor of a perfect reconstruction, printed beside the mean-frame baseline (the mean training frame, as the study's).
// Usage: npx tsx scripts/pilots/omni-tokenizer-floor.mts   (environment: SPEECH_CACHE)
import { buildSpeech, planSpeech } from "../../src/papers/omni/speech.js";
import { melFeatures } from "../../src/papers/omni/data.js";
import { applyNuisance } from "../../src/papers/omni/tokenizer-study.js";
import { tokStudyPresets } from "../../src/papers/omni/tokenizer-study-config.js";
import { Rng } from "../../src/util/rng.js";

const cfg = tokStudyPresets.quick;
const plan = planSpeech({ ...cfg.speech }, cfg.seed);
const utts = await buildSpeech(plan, process.env.SPEECH_CACHE ?? "runs/pilots/speech", cfg.speech.maxSeconds);
const n = cfg.study.nuisance;
const maxFrames = Math.ceil((cfg.speech.maxSeconds * 100) / Math.min(1, n.speed[0]));
const a = utts.map((u, i) => ({ ...u, samples: applyNuisance(u.samples, Rng.stream(cfg.seed, `nuisance:${i}`), n).samples }));
const evalIdx = utts.flatMap((u, i) => (u.split === "eval" ? [i] : []));
const trainIdx = utts.flatMap((u, i) => (u.split === "train" ? [i] : []));
// The second copy: the first copy's speed, gain and SNR (ranges of one value), fresh noise.
const b = evalIdx.map((i) => {
  const first = applyNuisance(utts[i].samples, Rng.stream(cfg.seed, `nuisance:${i}`), n);
  const same = { speed: [first.speed, first.speed] as [number, number], gainDb: [first.gainDb, first.gainDb] as [number, number], snrDb: [first.snrDb, first.snrDb] as [number, number] };
  return { ...utts[i], samples: applyNuisance(utts[i].samples, Rng.stream(cfg.seed, `nuisance-again:${i}`), same).samples };
});
const M = cfg.speech.nMels;
const A = melFeatures(a, M, maxFrames);
const B = melFeatures(b, M, maxFrames);
const T = A.T;
const mean = new Float64Array(M);
let nf = 0;
for (const u of trainIdx) {
  for (let t = 0; t < A.frames[u]; t++) for (let m = 0; m < M; m++) mean[m] += A.mel[(u * T + t) * M + m];
  nf += A.frames[u];
}
for (let m = 0; m < M; m++) mean[m] /= nf;
let base = 0;
let pair = 0;
let cnt = 0;
evalIdx.forEach((u, j) => {
  const len = Math.min(A.frames[u], B.frames[j]);
  for (let t = 0; t < len; t++)
    for (let m = 0; m < M; m++) {
      const x = A.mel[(u * T + t) * M + m];
      base += Math.abs(x - mean[m]);
      pair += Math.abs(x - B.mel[(j * T + t) * M + m]);
      cnt++;
    }
});
base /= cnt;
pair /= cnt;
const floor = pair / Math.SQRT2;
console.log(`held-out utterances ${evalIdx.length}, frames×bins ${cnt}`);
console.log(`mean-frame baseline mel L1 ${base.toFixed(4)}`);
console.log(`L1 between two noise draws of the same perturbed utterance ${pair.toFixed(4)}; estimated floor (÷√2) ${floor.toFixed(4)} = ${(floor / base).toFixed(3)} of the baseline`);
process.exit(0);
