import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildSpeech, espeakAvailable, speechThreads, synthesize, synthesizeMany, type UttSpec } from "./speech.js";

describe("speech synthesis on worker threads", () => {
  afterEach(() => {
    delete process.env.TINYFOUNDRY_SPEECH_THREADS;
  });

  it("gives the same samples as synthesising one by one (voices without random variants)", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    const specs = [
      { voice: "en-us", speed: 150, pitch: 40, text: "the red ball is big" },
      { voice: "en-gb", speed: 170, pitch: 60, text: "what is three plus four" },
      { voice: "en-us", speed: 190, pitch: 30, text: "nine" },
    ];
    const one: Float32Array[] = [];
    for (const s of specs) one.push(await synthesize(s.text, s));
    const seen: number[] = [];
    const many = await synthesizeMany(specs, 2, (i) => seen.push(i));
    expect(seen.sort()).toEqual([0, 1, 2]);
    for (const [i, x] of one.entries()) {
      expect(x.length).toBeGreaterThan(1000);
      expect(Array.from(many[i])).toEqual(Array.from(x));
    }
  }, 60_000);

  it("gives the same samples whether the WAV cache is empty, full or half full (the suite shares one cache)", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    const plan = [
      { voice: "en-us", speed: 150, pitch: 40, text: "the red cat sees the dog", role: "statement", split: "train" },
      { voice: "en-gb", speed: 170, pitch: 60, text: "what is three plus four", role: "question", split: "train" },
      { voice: "en-us", speed: 190, pitch: 30, text: "nine", role: "answer", split: "eval" },
    ] as unknown as UttSpec[];
    const dir = mkdtempSync(join(tmpdir(), "tf-speech-cache-"));
    try {
      const samples = async () => (await buildSpeech(plan, dir, 2.4, undefined, 2)).map((u) => Array.from(u.samples));
      const fresh = await samples();
      expect(fresh.length).toBe(3);
      const full = await samples();
      const first = (await buildSpeech(plan, dir, 2.4, undefined, 1))[0];
      unlinkSync(join(dir, `${first.id}.wav`));
      const half = await samples();
      expect(full).toEqual(fresh);
      expect(half).toEqual(fresh);
      // The samples are those of the 16-bit WAV: every one a multiple of 2^-15.
      expect(fresh[1].every((v) => Number.isInteger(v * 32768))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("reads its thread count from TINYFOUNDRY_SPEECH_THREADS and rejects bad values", () => {
    process.env.TINYFOUNDRY_SPEECH_THREADS = "3";
    expect(speechThreads()).toBe(3);
    process.env.TINYFOUNDRY_SPEECH_THREADS = "zero";
    expect(() => speechThreads()).toThrow(/TINYFOUNDRY_SPEECH_THREADS must be an integer 1..64/);
    delete process.env.TINYFOUNDRY_SPEECH_THREADS;
    expect(speechThreads()).toBeGreaterThanOrEqual(1);
  });
});
