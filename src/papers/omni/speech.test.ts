import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildSpeech, cacheFileName, espeakAvailable, noiseClockMs, SAMPLE_RATE, speechThreads, synthesize, synthesizeMany, utteranceId, type UttSpec } from "./speech.js";
import { encodeWav } from "../../data/audio.js";

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

  it("gives each utterance a fresh instance's samples though a worker reuses one instance (long then short texts, noise voices between)", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    // Two workers, ten utterances: each worker speaks about five in turn from its one instance, restored to the memory
    // snapshot taken before main. A long utterance first (espeak-ng's heap grows), then short ones, voices with clock-
    // seeded breath noise in between, and one text twice (with nothing carried over, the same samples both times).
    const long = "the small bird wants the dog and the red ball is big and the cat sees the tree near the house by the river";
    const specs = [
      { voice: "en-us", speed: 150, pitch: 40, text: long },
      { voice: "en-gb", speed: 170, pitch: 60, text: long },
      { voice: "en-029+f3", speed: 150, pitch: 40, text: "what is one plus five" },
      { voice: "en-us", speed: 190, pitch: 30, text: "nine" },
      { voice: "en-gb-scotland+f2", speed: 160, pitch: 50, text: "the small bird wants the dog" },
      { voice: "en-gb", speed: 170, pitch: 60, text: "what is three plus four" },
      { voice: "en-gb+f2", speed: 140, pitch: 70, text: "seven" },
      { voice: "en-us", speed: 190, pitch: 30, text: "nine" },
      { voice: "en-gb-x-rp+m3", speed: 180, pitch: 45, text: "the red ball is big" },
      { voice: "en-us", speed: 150, pitch: 40, text: "two" },
    ];
    const many = await synthesizeMany(specs, 2);
    for (const [i, s] of specs.entries()) {
      const one = await synthesize(s.text, s);
      expect(one.length).toBeGreaterThan(1000);
      expect(Array.from(many[i])).toEqual(Array.from(one));
    }
    expect(Array.from(many[7])).toEqual(Array.from(many[3]));
  }, 120_000);

  it("gives the same samples at any time and on any thread for voices with breath noise (espeak-ng seeds it from the clock)", async (ctx) => {
    if (!(await espeakAvailable())) ctx.skip();
    // en-gb-scotland+f2 is the tiny preset's held-out voice; f2, f3 and f5 add breath noise from rand(), which espeak-ng
    // seeds with srand(time(NULL)): with the real clock, two runs a second apart spoke these utterances differently.
    const specs = [
      { voice: "en-gb-scotland+f2", speed: 160, pitch: 50, text: "the small bird wants the dog" },
      { voice: "en-029+f3", speed: 150, pitch: 40, text: "what is one plus five" },
    ];
    const at = async (ms: number) => {
      const now = vi.spyOn(Date, "now").mockReturnValue(ms);
      try {
        return await synthesize(specs[0].text, specs[0]);
      } finally {
        now.mockRestore();
      }
    };
    const early = await at(0);
    const late = await at(1.8e12);
    expect(early.length).toBeGreaterThan(1000);
    expect(Array.from(late)).toEqual(Array.from(early));
    // The worker threads (their own clock) speak the same samples as this thread.
    const many = await synthesizeMany(specs, 2);
    expect(Array.from(many[0])).toEqual(Array.from(early));
    expect(Array.from(many[1])).toEqual(Array.from(await synthesize(specs[1].text, specs[1])));
    // Different utterances draw different noise: the seed is the utterance's, not one constant.
    expect(noiseClockMs(specs[0])).not.toBe(noiseClockMs(specs[1]));
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
      unlinkSync(join(dir, cacheFileName(first)));
      const half = await samples();
      expect(full).toEqual(fresh);
      expect(half).toEqual(fresh);
      // The samples are those of the 16-bit WAV: every one a multiple of 2^-15.
      expect(fresh[1].every((v) => Number.isInteger(v * 32768))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("does not read a breath-noise voice's WAV cached under its pre-fix name (its noise came from that run's clock)", async (ctx) => {
    const plain = { voice: "en-us", speed: 150, pitch: 40, text: "nine" };
    const noisy = { voice: "en-gb-scotland+f2", speed: 150, pitch: 40, text: "nine" };
    expect(cacheFileName(plain)).toBe(`${utteranceId(plain)}.wav`);
    expect(cacheFileName(noisy)).toBe(`${utteranceId(noisy)}-fixed-clock.wav`);
    expect(cacheFileName({ ...noisy, voice: "en-029+f3" })).toMatch(/-fixed-clock\.wav$/);
    expect(cacheFileName({ ...noisy, voice: "en-us+f1" })).not.toMatch(/-fixed-clock/);
    if (!(await espeakAvailable())) ctx.skip();
    const plan = [{ ...noisy, role: "answer", split: "eval" }] as unknown as UttSpec[];
    const dir = mkdtempSync(join(tmpdir(), "tf-speech-stale-"));
    try {
      const fresh = Array.from((await buildSpeech(plan, dir, 2.4, undefined, 1))[0].samples);
      rmSync(join(dir, cacheFileName(noisy)));
      // A stale cache entry under the old name: a WAV of other samples that must not be used.
      writeFileSync(join(dir, `${utteranceId(noisy)}.wav`), encodeWav(new Float32Array(800).fill(0.25), SAMPLE_RATE));
      const again = Array.from((await buildSpeech(plan, dir, 2.4, undefined, 1))[0].samples);
      expect(again).toEqual(fresh);
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
