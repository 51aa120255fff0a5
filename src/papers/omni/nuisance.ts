/**
 * Acoustic nuisance for the omni speech data (issue 17; Baichuan-Omni-1.5 §3.2.2 trains its tokenizer on varied
 * real speech, ours on espeak-ng voices): speed/pitch by resampling, gain, and white noise at an SNR. Used by the
 * tokenizer study (`tokenizer-study.ts`) and the recogniser pretraining's nuisance copies (`whisper-experiment.ts`).
 */
import type { Rng } from "../../util/rng.js";

/** Ranges drawn uniformly per utterance: resampling factor, gain (dB), SNR (dB). */
export type NuisanceRanges = { speed: [number, number]; gainDb: [number, number]; snrDb: [number, number] };

/**
 * One utterance's waveform with nuisance: resampled by a factor r (r > 1 faster and higher), a
 * gain, and white noise at an SNR (dB) relative to the signal's RMS. Pure given `rng`.
 */
export function applyNuisance(x: Float32Array, rng: Rng, n: NuisanceRanges): { samples: Float32Array; speed: number; gainDb: number; snrDb: number } {
  const u = (r: [number, number]) => r[0] + (r[1] - r[0]) * rng.next();
  const speed = u(n.speed);
  const gainDb = u(n.gainDb);
  const snrDb = u(n.snrDb);
  const len = Math.max(1, Math.floor(x.length / speed));
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    const t = i * speed;
    const j = Math.floor(t);
    const f = t - j;
    out[i] = (x[j] ?? 0) * (1 - f) + (x[j + 1] ?? 0) * f;
  }
  let ss = 0;
  for (const v of out) ss += v * v;
  const g = 10 ** (gainDb / 20);
  const noiseStd = (Math.sqrt(ss / len) * g) / 10 ** (snrDb / 20);
  for (let i = 0; i < len; i++) out[i] = out[i] * g + noiseStd * rng.normal();
  return { samples: out, speed, gainDb, snrDb };
}
