import { describe, expect, it } from "vitest";
import {
  fft,
  griffinLim,
  hannWindow,
  hzToMelSlaney,
  istft,
  logMelSpectrogram,
  melFilterbank,
  melToHzSlaney,
  melToLinearPower,
  spectralConvergence,
  stft,
  vocodeLogMel,
} from "./mel.js";
import { Rng } from "../util/rng.js";

/** Direct O(N²) DFT: the plain-JS reference. */
function naiveDft(x: number[]): { re: number[]; im: number[] } {
  const N = x.length;
  const re: number[] = [];
  const im: number[] = [];
  for (let k = 0; k < N; k++) {
    let r = 0;
    let i = 0;
    for (let n = 0; n < N; n++) {
      r += x[n] * Math.cos((2 * Math.PI * k * n) / N);
      i -= x[n] * Math.sin((2 * Math.PI * k * n) / N);
    }
    re.push(r);
    im.push(i);
  }
  return { re, im };
}

/** The test signal used for the golden values below (computed with NumPy's rfft, float64). */
function testSignal(): number[] {
  return Array.from({ length: 1600 }, (_, n) => 0.5 * Math.sin((2 * Math.PI * 440 * n) / 16000) + 0.25 * Math.sin((2 * Math.PI * 1234.5 * n) / 16000) + 0.1 * Math.cos((2 * Math.PI * 3000 * n) / 16000) * (n / 1600));
}

describe("fft", () => {
  for (const N of [400, 12, 7, 1, 2, 50]) {
    it(`matches the direct DFT for N=${N}`, () => {
      const rng = new Rng(N, "fft");
      const x = Array.from({ length: N }, () => rng.normal());
      const a = fft(x);
      const b = naiveDft(x);
      for (let k = 0; k < N; k++) {
        expect(a.re[k]).toBeCloseTo(b.re[k], 9);
        expect(a.im[k]).toBeCloseTo(b.im[k], 9);
      }
    });
  }
});

describe("Slaney mel filterbank", () => {
  it("has the Slaney breakpoints: 1 kHz is mel 15, 6.4 kHz is mel 42, linear below 1 kHz", () => {
    expect(hzToMelSlaney(1000)).toBeCloseTo(15, 12);
    expect(hzToMelSlaney(6400)).toBeCloseTo(42, 12);
    expect(hzToMelSlaney(200)).toBeCloseTo(3, 12);
    for (const m of [0, 7.5, 15, 30, 45]) expect(hzToMelSlaney(melToHzSlaney(m))).toBeCloseTo(m, 10);
  });
  it("matches librosa's slaney-normalised weights (golden values from a NumPy transcription)", () => {
    const W = melFilterbank({ sampleRate: 16000, nFft: 400, nMels: 80 });
    const at = (m: number, k: number) => W[m * 201 + k];
    expect(at(0, 1)).toBeCloseTo(0.024862593984176087, 10);
    expect(at(43, 50)).toBeCloseTo(0.0013397691078131408, 10);
    expect(at(61, 99)).toBeCloseTo(0.002124198297484962, 10);
    expect(at(72, 145)).toBeCloseTo(0.00275102455005311, 10);
    expect(at(79, 197)).toBeCloseTo(0.0013462770827672086, 10);
    expect(W.reduce((a, b) => a + b, 0)).toBeCloseTo(1.9990241029178577, 8);
  });
});

describe("Whisper log-mel", () => {
  it("matches a plain direct-DFT reference of the same pipeline", () => {
    const x = testSignal().slice(0, 800);
    const ours = logMelSpectrogram(x, { nMels: 40 });
    // reference: reflect pad, periodic Hann, direct DFT power, mel, drop last frame, log10/clamp/scale
    const pad = 200;
    const xp = [...x.slice(1, pad + 1).reverse(), ...x, ...x.slice(-pad - 1, -1).reverse()];
    const w = hannWindow(400);
    const W = melFilterbank({ sampleRate: 16000, nFft: 400, nMels: 40 });
    const frames = 1 + Math.floor((xp.length - 400) / 160) - 1;
    expect(ours.frames).toBe(frames);
    expect(frames).toBe(5);
    const logs: number[] = [];
    for (let f = 0; f < frames; f++) {
      const seg = Array.from({ length: 400 }, (_, i) => xp[f * 160 + i] * w[i]);
      const X = naiveDft(seg);
      for (let m = 0; m < 40; m++) {
        let s = 0;
        for (let k = 0; k <= 200; k++) s += W[m * 201 + k] * (X.re[k] ** 2 + X.im[k] ** 2);
        logs.push(Math.log10(Math.max(s, 1e-10)));
      }
    }
    const mx = Math.max(...logs);
    logs.forEach((v, i) => expect(ours.data[i]).toBeCloseTo((Math.max(v, mx - 8) + 4) / 4, 4));
  });
  it("gives NumPy's numbers on a fixed signal (100 frames/s, floor at max-8)", () => {
    const m = logMelSpectrogram(testSignal(), { nMels: 80 });
    expect(m.frames).toBe(10);
    const at = (f: number, k: number) => m.data[f * 80 + k];
    expect(at(0, 0)).toBeCloseTo(1.0178417787371061, 4);
    expect(at(3, 10)).toBeCloseTo(1.3487376131902404, 4);
    expect(at(1, 31)).toBeCloseTo(1.249591561463107, 4);
    expect(at(1, 68)).toBeCloseTo(-0.31816793845245717, 4);
    expect(at(6, 12)).toBeCloseTo(1.2935251328621526, 4);
    expect(at(7, 33)).toBeCloseTo(0.9348515080424267, 4);
    expect(Math.max(...m.data)).toBeCloseTo(1.4382052154904206, 4);
    expect(Math.min(...m.data)).toBeCloseTo(1.4382052154904206 - 2, 4); // (max-8+4)/4 = max' - 2
  });
});

describe("inverse", () => {
  it("istft(stft(x)) reconstructs x", () => {
    const x = testSignal();
    const S = stft(x, { nFft: 400, hop: 160 });
    const y = istft(S, { nFft: 400, hop: 160, length: x.length });
    let err = 0;
    for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i] - y[i]));
    expect(err).toBeLessThan(1e-9);
  });
  it("NNLS inverts the filterbank of a smooth spectrum closely", () => {
    const bins = 201;
    const lin = Float64Array.from({ length: bins }, (_, k) => 1 + Math.cos(k / 15) ** 2);
    const W = melFilterbank({ sampleRate: 16000, nFft: 400, nMels: 80 });
    const P = new Float64Array(80);
    for (let m = 0; m < 80; m++) for (let k = 0; k < bins; k++) P[m] += W[m * bins + k] * lin[k];
    const S = melToLinearPower(P, 1, { sampleRate: 16000, nFft: 400, nMels: 80, iters: 200 });
    // re-projecting through the filterbank gives the mel power back
    for (let m = 0; m < 80; m++) {
      let s = 0;
      for (let k = 0; k < bins; k++) s += W[m * bins + k] * S[k];
      expect(Math.abs(s - P[m]) / P[m]).toBeLessThan(0.05);
    }
  });
  it("Griffin-Lim lowers spectral convergence as it iterates", () => {
    const x = testSignal();
    const S = stft(x, { nFft: 400, hop: 160 });
    const mag = Float64Array.from(S.re, (r, i) => Math.hypot(r, S.im[i]));
    const o = { nFft: 400, hop: 160, length: x.length, rng: new Rng(1, "gl") };
    const y1 = griffinLim(mag, S.frames, { ...o, iters: 1 });
    const y30 = griffinLim(mag, S.frames, { ...o, rng: new Rng(1, "gl"), iters: 30 });
    const c1 = spectralConvergence(y1, mag, o);
    const c30 = spectralConvergence(y30, mag, o);
    expect(c30).toBeLessThan(c1);
    expect(c30).toBeLessThan(0.25);
  });
  it("vocodeLogMel returns audio whose loud log-mel bins match the input, better with more iterations", () => {
    const x = testSignal();
    const m = logMelSpectrogram(x, { nMels: 64 });
    const loudErr = (iters: number) => {
      const y = vocodeLogMel(m, { iters, rng: new Rng(2, "gl") });
      expect(y.length).toBe(1600);
      const m2 = logMelSpectrogram(y, { nMels: 64 });
      const mx = Math.max(...m.data);
      let err = 0;
      let n = 0;
      // bins within 20 dB of the loudest (0.5 normalised units = 2 decades of power)
      for (let i = 0; i < m.data.length; i++) {
        if (m.data[i] > mx - 0.5) {
          err += Math.abs(m.data[i] - m2.data[i]);
          n++;
        }
      }
      return err / n;
    };
    const e0 = loudErr(0);
    const e24 = loudErr(24);
    expect(e24).toBeLessThan(e0);
    expect(e24).toBeLessThan(0.05);
  });
});
