/**
 * The experiment's listening and viewing material, written as files into `<run>/samples/` so the
 * report only embeds them: for the first held-out statements, the original espeak-ng audio, the
 * vocoder's ceiling (Griffin-Lim on the true log-mel) and the T1/T2 reconstructions (8 RVQ
 * layers → decoder mel → Griffin-Lim); a grid of held-out digits with the final S1 model's
 * caption words; and the list of generated spoken answers the final S1 stage wrote.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { encodeWav } from "../../data/audio.js";
import { vocodeLogMel } from "../../data/mel.js";
import { Canvas } from "../../data/png.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import type { OmniExperimentConfig } from "./config.js";
import { SAMPLE_RATE } from "./speech.js";
import type { Codes } from "./sequences.js";
import type { TokParams } from "./tokenizer.js";
import { DIGITS } from "./world.js";
import type { OmniData } from "./prepare.js";
import { decodeAll, tokConfig, type TokArm } from "./tokenizer-experiment.js";
import type { SampleFile } from "./summary.js";

/** Original, vocoder ceiling and T1/T2 reconstructions of the first held-out statements (WAVs). */
export async function writeAudioSamples(cfg: OmniExperimentConfig, data: OmniData, run: RunDir, tokParams: Partial<Record<TokArm, TokParams>>, allCodes: Partial<Record<TokArm, Map<number, Codes>>>): Promise<SampleFile[]> {
  const nS = Math.min(cfg.report.audioSamples, data.evalIdx.length);
  const { T, nMels: M } = data.mels;
  const gl = (mel: Float32Array, frames: number) => encodeWav(vocodeLogMel({ data: mel.subarray(0, frames * M), frames, nMels: M }, { iters: cfg.report.griffinLimIters, rng: Rng.stream(cfg.seed, "griffin-lim") }), SAMPLE_RATE);
  const picks = data.evalIdx.filter((u) => data.utts[u].role === "statement").slice(0, nS);
  const recon: Record<string, Float32Array[]> = {};
  const arms = (["T1", "T2"] as const).filter((a) => tokParams[a] && allCodes[a]);
  for (const a of arms) recon[a] = await decodeAll(tokParams[a]!, tokConfig(cfg, a), picks.map((u) => allCodes[a]!.get(u)!), 8, T, cfg.tokenizer.train.batchSize);
  const out: SampleFile[] = [];
  const put = (name: string, wav: Uint8Array, caption: string) => {
    writeFileSync(join(run.samplesDir, name), wav);
    out.push({ file: `samples/${name}`, caption });
  };
  picks.forEach((u, i) => {
    const utt = data.utts[u];
    const fr = data.mels.frames[u];
    put(`utt${i}-original.wav`, encodeWav(utt.samples, SAMPLE_RATE), `"${utt.text}" (held-out voice ${utt.voice}): original espeak-ng audio`);
    put(`utt${i}-griffinlim.wav`, gl(data.mels.mel.subarray(u * T * M, (u + 1) * T * M), fr), "Griffin-Lim from the true log-mel (the vocoder's ceiling)");
    for (const a of arms) put(`utt${i}-${a}.wav`, gl(recon[a][i], fr), `${a} tokenizer: 8 RVQ layers → decoder mel → Griffin-Lim`);
  });
  return out;
}

/** A grid of held-out digits with the caption word under each (green = correct), as `samples/digits.png`. */
export function writeDigitGrid(data: OmniData, run: RunDir, samples: { label: number; pred: string }[]): SampleFile | null {
  if (!samples.length) return null;
  const cell = 56;
  const cols = 8;
  const rows = Math.ceil(samples.length / cols);
  const c = new Canvas(cols * cell, rows * (cell + 12), [255, 255, 255, 255]);
  samples.forEach((s, i) => {
    const img = data.digits.test[i].image;
    const x0 = (i % cols) * cell;
    const y0 = Math.floor(i / cols) * (cell + 12);
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const v = Math.round(255 * (1 - img[y * 28 + x]));
        c.fillRect(x0 + 14 + x, y0 + 4 + y, 1, 1, [v, v, v, 255]);
      }
    const ok = s.pred === DIGITS[s.label];
    c.drawText(s.pred.slice(0, 8), x0 + 4, y0 + 38, { color: ok ? [0, 120, 0, 255] : [200, 0, 0, 255] });
  });
  writeFileSync(join(run.samplesDir, "digits.png"), c.toPNG());
  return { file: "samples/digits.png", caption: "Held-out MNIST digits and the final S1 model's caption word (green = correct)" };
}

/** The generated spoken answers an arm wrote (`s2s-*.wav` and their notes), as paths relative to the run. */
export function generatedSamples(run: RunDir, arm: string): SampleFile[] {
  const dir = run.path("arms", arm, "samples");
  if (!existsSync(dir)) return [];
  const notes = existsSync(join(dir, "s2s.txt")) ? readFileSync(join(dir, "s2s.txt"), "utf8").trim().split("\n") : [];
  return readdirSync(dir)
    .filter((x) => x.endsWith(".wav"))
    .sort()
    .map((f) => ({ file: relative(run.dir, join(dir, f)), caption: notes.find((l) => l.startsWith(f)) ?? f }));
}
