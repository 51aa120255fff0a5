import { describe, expect, it } from "vitest";
import { decodeWav, encodeWav, normalizePeak, resample, trimSilence } from "./audio.js";

const sine = (n: number, f: number, sr: number, a = 0.5) => Float32Array.from({ length: n }, (_, i) => a * Math.sin((2 * Math.PI * f * i) / sr));

describe("WAV", () => {
  it("round-trips 16-bit PCM within one quantisation step and writes a standard header", () => {
    const x = sine(1000, 440, 16000);
    const bytes = encodeWav(x, 16000);
    expect(bytes.length).toBe(44 + 2000);
    const dv = new DataView(bytes.buffer);
    expect(String.fromCharCode(...bytes.slice(0, 4))).toBe("RIFF");
    expect(dv.getUint32(24, true)).toBe(16000);
    expect(dv.getUint16(34, true)).toBe(16);
    const y = decodeWav(bytes);
    expect(y.sampleRate).toBe(16000);
    expect(y.samples.length).toBe(1000);
    for (let i = 0; i < 1000; i++) expect(Math.abs(y.samples[i] - x[i])).toBeLessThanOrEqual(1 / 32767);
  });
  it("mixes stereo float files to mono and reads streams with an unknown data size", () => {
    const n = 4;
    const buf = new Uint8Array(44 + n * 2 * 4);
    const dv = new DataView(buf.buffer);
    buf.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
    buf.set([..."WAVEfmt "].map((c) => c.charCodeAt(0)), 8);
    dv.setUint32(16, 16, true);
    dv.setUint16(20, 3, true);
    dv.setUint16(22, 2, true);
    dv.setUint32(24, 8000, true);
    dv.setUint16(34, 32, true);
    buf.set([..."data"].map((c) => c.charCodeAt(0)), 36);
    dv.setUint32(40, 0xffffffff, true);
    for (let i = 0; i < n; i++) {
      dv.setFloat32(44 + i * 8, 0.5, true);
      dv.setFloat32(48 + i * 8, -0.1 * i, true);
    }
    const a = decodeWav(buf);
    expect(a.sampleRate).toBe(8000);
    expect(a.samples.length).toBe(n);
    for (let i = 0; i < n; i++) expect(a.samples[i]).toBeCloseTo((0.5 - 0.1 * i) / 2, 6);
  });
  it("names the problem with a bad file", () => {
    expect(() => decodeWav(new Uint8Array(20))).toThrow(/RIFF/);
  });
});

describe("resample", () => {
  it("22.05 kHz -> 16 kHz keeps a 1 kHz tone's frequency and amplitude", () => {
    const x = sine(22050, 1000, 22050);
    const y = resample(x, 22050, 16000);
    expect(y.length).toBe(16000);
    // correlate with the ideal 16 kHz tone away from the edges
    let err = 0;
    for (let i = 200; i < 15800; i++) err = Math.max(err, Math.abs(y[i] - 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
    expect(err).toBeLessThan(0.01);
  });
  it("suppresses a tone above the new Nyquist frequency", () => {
    const y = resample(sine(22050, 9500, 22050), 22050, 16000);
    let rms = 0;
    for (let i = 200; i < y.length - 200; i++) rms += y[i] * y[i];
    expect(Math.sqrt(rms / (y.length - 400))).toBeLessThan(0.01);
  });
});

describe("trim and normalise", () => {
  it("cuts leading and trailing silence with a margin", () => {
    const x = new Float32Array(16000);
    x.set(sine(4000, 300, 16000), 6000);
    const y = trimSilence(x, 16000, { padMs: 50 });
    expect(y.length).toBeGreaterThanOrEqual(4000);
    expect(y.length).toBeLessThanOrEqual(4000 + 2 * 800 + 320);
    expect(Math.max(...normalizePeak(y, 0.9))).toBeCloseTo(0.9, 5);
  });
});
