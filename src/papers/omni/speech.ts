/**
 * Synthetic speech with exact transcripts, generated at run time by espeak-ng (the npm
 * WebAssembly build `espeak-ng@1.0.2`, an OPTIONAL dependency: it is GPL-3.0-or-later, so it is
 * only ever loaded here, dynamically, to make data, and never bundled with the library).
 *
 * Each utterance is (text, voice, speed in words/min, pitch 0-99): synthesised at 22,050 Hz,
 * resampled to 16 kHz, trimmed of silence and peak-normalised, then cached as a 16-bit WAV under
 * the run directory so a resumed or repeated run does not synthesise it again.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { decodeWav, encodeWav, normalizePeak, resample, trimSilence } from "../../data/audio.js";
import { writeFileAtomic } from "../../util/atomic.js";
import { Rng } from "../../util/rng.js";
import { allStatements, HELD_OUT_VOICES, IMAGE_QUESTION, DIGITS, questionsOf, splitList, trainVoicePool, type Question, type QuestionSet } from "./world.js";
import { fnv1a32Hex } from "../../util/hash.js";

export const SAMPLE_RATE = 16000;

type ESpeakModule = { FS: { readFile: (p: string) => Uint8Array } };
type Instantiate = (imports: WebAssembly.Imports, ok: (inst: WebAssembly.Instance, mod: WebAssembly.Module) => void) => object;
type ESpeakOpts = { arguments: string[]; print?: (s: string) => void; printErr?: (s: string) => void; instantiateWasm?: Instantiate };
type ESpeakFactory = (opts: ESpeakOpts, clockMs: number) => Promise<ESpeakModule>;

/**
 * espeak-ng seeds its noise generator from the wall clock (`srand(time(NULL))` at start-up) and uses it for the breath
 * noise of some variants (f2, f3, f5 among ours): with the real clock those utterances differed from run to run. Each
 * instance reads instead a fixed clock of its own, `clockMs`, taken from the utterance (`noiseClockMs`), so the samples
 * are a function of (voice, speed, pitch, text) alone, on any thread, at any time.
 */
function clockImports(imports: WebAssembly.Imports, clockMs: number): WebAssembly.Imports {
  const out: WebAssembly.Imports = {};
  for (const [k, v] of Object.entries(imports)) out[k] = "emscripten_date_now" in v ? { ...v, emscripten_date_now: () => clockMs } : v;
  return out;
}

/** The utterance's cache id (FNV-1a of its voice, speed, pitch and text). */
export function utteranceId(s: VoiceSpec & { text: string }): string {
  return fnv1a32Hex(`${s.voice}|${s.speed}|${s.pitch}|${s.text}`);
}

/** The fixed wall clock (ms) espeak-ng reads while speaking this utterance: its id as whole seconds, so its noise seed. */
export function noiseClockMs(s: VoiceSpec & { text: string }): number {
  return parseInt(utteranceId(s), 16) * 1000;
}

/** espeak-ng variants whose breath noise is seeded from the clock (found by fixing the clock; see `noiseClockMs`). */
const CLOCK_NOISE_VARIANT = /\+f[235]$/;

/**
 * The WAV file name of an utterance in a cache. Voices with clock-seeded breath noise get a suffix, so a cache filled
 * before their clock was fixed (whose noise came from the wall clock of that run) is not read as today's samples.
 */
export function cacheFileName(s: VoiceSpec & { text: string }): string {
  return `${utteranceId(s)}${CLOCK_NOISE_VARIANT.test(s.voice) ? "-fixed-clock" : ""}.wav`;
}

let factory: ESpeakFactory | null = null;

export const ESPEAK_MISSING =
  "speech data needs the optional npm package espeak-ng@1.0.2 (GPL-3.0, used only to generate speech at run time); " +
  "it is listed in optionalDependencies, so `npm ci` installs it unless optional packages are omitted: run `npm install --no-save espeak-ng@1.0.2`";

/** Load the espeak-ng WebAssembly module (throws a clear message when it is not installed). */
export async function loadEspeak(): Promise<ESpeakFactory> {
  if (factory) return factory;
  try {
    const mod = (await import("espeak-ng" as string)) as { default: (opts: ESpeakOpts) => Promise<ESpeakModule> };
    const plain = mod.default;
    // Each utterance runs a fresh module; compiling its 18 MB wasm once (not per utterance) makes
    // synthesis about a third faster. Its wall clock is the utterance's own (`clockImports`).
    const wasm = join(dirname(createRequire(import.meta.url).resolve("espeak-ng")), "espeak-ng.wasm");
    const compiled = await WebAssembly.compile(readFileSync(wasm));
    const instantiate =
      (clockMs: number): Instantiate =>
      (imports, ok) => {
        void WebAssembly.instantiate(compiled, clockImports(imports, clockMs)).then((inst) => ok(inst, compiled));
        return {};
      };
    factory = (opts, clockMs) => plain({ ...opts, instantiateWasm: instantiate(clockMs) });
  } catch {
    throw new Error(ESPEAK_MISSING);
  }
  return factory;
}

/** True when espeak-ng can be loaded (for tests that need real speech). */
export async function espeakAvailable(): Promise<boolean> {
  try {
    await loadEspeak();
    return true;
  } catch {
    return false;
  }
}

export type VoiceSpec = { voice: string; speed: number; pitch: number };

/** espeak-ng's WAV bytes (22,050 Hz) as the utterance: 16 kHz mono, silence-trimmed, peak 0.9. */
function fromEspeakWav(bytes: Uint8Array, v: VoiceSpec, errs: string[]): Float32Array {
  if (errs.some((e) => /error|bad voice/i.test(e))) throw new Error(`espeak-ng failed for voice ${v.voice}: ${errs.join("; ")}`);
  const wav = decodeWav(bytes);
  const x = resample(wav.samples, wav.sampleRate, SAMPLE_RATE);
  return normalizePeak(trimSilence(x, SAMPLE_RATE, { thresholdDb: -40, padMs: 40 }), 0.9);
}

/** Synthesise one utterance: 16 kHz mono, silence-trimmed, peak 0.9. */
export async function synthesize(text: string, v: VoiceSpec): Promise<Float32Array> {
  const es = await loadEspeak();
  const errs: string[] = [];
  const m = await es({ arguments: ["-v", v.voice, "-s", String(v.speed), "-p", String(v.pitch), "-w", "/out.wav", text], print: () => {}, printErr: (s) => errs.push(s) }, noiseClockMs({ ...v, text }));
  return fromEspeakWav(m.FS.readFile("/out.wav"), v, errs);
}

/** Worker threads for speech synthesis: `TINYFOUNDRY_SPEECH_THREADS`, else min(2, cores) (espeak-ng runs one utterance per thread). */
export function speechThreads(): number {
  const env = process.env.TINYFOUNDRY_SPEECH_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`TINYFOUNDRY_SPEECH_THREADS must be an integer 1..64, got ${JSON.stringify(env)}`);
    return n;
  }
  return Math.max(1, Math.min(2, availableParallelism()));
}

// The synthesis worker: one espeak-ng instance, initialised once (its runtime, file system and the 18 MB of embedded
// voice data), whose memory is snapshotted before main runs; each utterance restores that snapshot (and zeroes memory
// grown since), resets the stack pointer, sets the clock and calls main with the arguments a fresh instance would get,
// on the same stack addresses. So every utterance starts from the bytes a fresh instance starts from (instantiating
// one per utterance was about half of each utterance's time). It returns the raw WAV bytes; the resampling, trimming
// and normalising happen on the main thread, in `fromEspeakWav`, so the samples are the same bytes.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  const plain = (await import(workerData.url)).default;
  const compiled = workerData.module;
  // As clockImports on the main thread: espeak-ng's wall clock (its noise seed) is the utterance's fixed clockMs.
  let clockMs = 0;
  let inst = null;
  const clock = (imports) => Object.fromEntries(Object.entries(imports).map(([k, v]) => [k, "emscripten_date_now" in v ? { ...v, emscripten_date_now: () => clockMs } : v]));
  let errs = [];
  const instantiateWasm = (imports, ok) => { WebAssembly.instantiate(compiled, clock(imports)).then((i) => { inst = i; ok(i, compiled); }); return {}; };
  const m = await plain({ noInitialRun: true, print: () => {}, printErr: (s) => errs.push(s), instantiateWasm });
  const x = inst.exports;
  const snapshot = new Uint8Array(x.memory.buffer).slice();
  const sp = x.stackSave();
  const enc = new TextEncoder();
  parentPort.on("message", (t) => {
    errs = [];
    try {
      const mem = new Uint8Array(x.memory.buffer);
      mem.set(snapshot);
      mem.fill(0, snapshot.length);
      x.stackRestore(sp);
      clockMs = t.clockMs;
      // callMain's argv: the pointer array first, then each string, all on the stack.
      const args = ["./this.program", "-v", t.voice, "-s", String(t.speed), "-p", String(t.pitch), "-w", "/out.wav", t.text];
      const argv = x.stackAlloc((args.length + 1) * 4);
      const view = new DataView(x.memory.buffer);
      args.forEach((a, i) => {
        const bytes = enc.encode(a);
        const at = x.stackAlloc(bytes.length + 1);
        const heap = new Uint8Array(x.memory.buffer);
        heap.set(bytes, at);
        heap[at + bytes.length] = 0;
        view.setUint32(argv + 4 * i, at, true);
      });
      view.setUint32(argv + 4 * args.length, 0, true);
      try {
        m._main(args.length, argv);
      } catch (e) {
        if (!(e && e.name === "ExitStatus")) throw e;
      }
      const wav = m.FS.readFile("/out.wav").slice();
      m.FS.unlink("/out.wav");
      for (const s of m.FS.streams) if (s && s.fd > 2) m.FS.close(s);
      parentPort.postMessage({ i: t.i, wav, errs }, [wav.buffer]);
    } catch (e) {
      parentPort.postMessage({ i: t.i, error: String(e), errs });
    }
  });
  parentPort.postMessage({ ready: true });
})();
`;

/**
 * Synthesise many utterances on `threads` worker threads (the same samples as `synthesize` one by one: the same espeak-ng
 * build and arguments, the same post-processing on this thread). Fewer than 2 threads or utterances: one by one here.
 */
export async function synthesizeMany(specs: (VoiceSpec & { text: string })[], threads: number, onDone?: (i: number, x: Float32Array) => void): Promise<Float32Array[]> {
  const out: Float32Array[] = new Array(specs.length);
  if (threads < 2 || specs.length < 2) {
    for (const [i, s] of specs.entries()) {
      out[i] = await synthesize(s.text, s);
      onDone?.(i, out[i]);
    }
    return out;
  }
  await loadEspeak(); // the clear error when espeak-ng is missing
  const url = pathToFileURL(createRequire(import.meta.url).resolve("espeak-ng")).href;
  const wasm = join(dirname(createRequire(import.meta.url).resolve("espeak-ng")), "espeak-ng.wasm");
  const module = await WebAssembly.compile(readFileSync(wasm));
  const workers = Array.from({ length: Math.min(threads, specs.length) }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { url, module } }));
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              if (next >= specs.length) return resolve();
              const i = next++;
              w.postMessage({ i, ...specs[i], clockMs: noiseClockMs(specs[i]) });
            };
            w.on("message", (m: { ready?: boolean; i: number; wav?: Uint8Array; error?: string; errs: string[] }) => {
              if (m.ready) return feed(); // the worker's instance is initialised
              try {
                if (m.error !== undefined || !m.wav) throw new Error(`espeak-ng failed for voice ${specs[m.i].voice}: ${m.error ?? "no audio"}`);
                out[m.i] = fromEspeakWav(m.wav, specs[m.i], m.errs);
                onDone?.(m.i, out[m.i]);
              } catch (e) {
                return reject(e as Error);
              }
              feed();
            });
            w.on("error", reject);
            w.on("exit", (code) => reject(new Error(`speech synthesis worker exited (code ${code}) before its utterances were done`)));
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}

export type UttRole = "statement" | "question" | "answer" | "image-question";
export type UttSpec = VoiceSpec & { text: string; role: UttRole; split: "train" | "eval"; answer?: string; questionSplit?: "train" | "heldout" };
export type Utterance = UttSpec & { id: string; samples: Float32Array };

export type SpeechPlanConfig = {
  /** Training statements (held-out sentences are never spoken in training). */
  trainStatements: number;
  /** Evaluation statements: held-out sentences in held-out voices. */
  evalStatements: number;
  /** Questions held out of spoken training (their text is still in the text corpus). */
  heldOutQuestions: number;
  /** Training-split questions spoken in training (at most 128 − heldOutQuestions). */
  trainQuestions: number;
  /** How many times each training question is spoken (cycling through the training voices). */
  questionRepeats: number;
  /** Training voices speaking each digit word (the speech-out targets). */
  answerVoices: number;
  /** Times each answer voice speaks each digit word (repeats after the first draw their prosody from their own stream). */
  answerRepeats: number;
  /** Times each held-out voice speaks each digit word (the judge's held-out test set; 0: none). */
  heldOutAnswerRepeats: number;
  /** Spoken questions per held-out voice in evaluation (held-out and training questions, half each). */
  evalQuestionsPerVoice: number;
  /** Longest utterance in seconds (longer ones are re-spoken faster, then dropped). */
  maxSeconds: number;
  /** Number of training voices (`trainVoicePool`: the 12 fixed ones, then further accent+variant pairs) and held-out voices (a prefix of the fixed list). */
  trainVoices: number;
  heldOutVoices: number;
  /** Which questions are spoken (`questionsOf`); written questions are always all 128. */
  questionSet: QuestionSet;
};

/** Split of the spoken question set into spoken-training and held-out ones (fixed by the seed). */
export function questionSplit(heldOut: number, seed: number, set: QuestionSet = "arithmetic"): { train: Question[]; heldOut: Question[] } {
  const qs = questionsOf(set);
  if (heldOut >= qs.length) throw new Error(`speech: ${heldOut} held-out questions leave none of the ${qs.length} ${set} questions for training`);
  return splitList(qs, heldOut, seed, set === "arithmetic" ? "questions" : `questions:${set}`);
}

/** `n` items of `xs` in a shuffled order, cycling through it again when it holds fewer than `n`. */
function cycle<T>(rng: Rng, xs: readonly T[], n: number): T[] {
  const out: T[] = [];
  while (out.length < n && xs.length > 0) out.push(...rng.shuffle([...xs]).slice(0, n - out.length));
  return out;
}

/** Split of the 1296 statements: the held-out ones are evaluation text and evaluation speech. */
export function statementSplit(seed: number): { train: string[]; heldOut: string[] } {
  return splitList(allStatements(), 260, seed, "statements");
}

/** Decide what to synthesise: texts, voices, speeds, pitches and splits (pure, from the seed). */
export function planSpeech(cfg: SpeechPlanConfig, seed: number): UttSpec[] {
  const rng = Rng.stream(seed, "speech-plan");
  const tv = trainVoicePool(cfg.trainVoices);
  const hv = HELD_OUT_VOICES.slice(0, cfg.heldOutVoices);
  if (tv.length < 1 || hv.length < 1) throw new Error("speech: need at least one training and one held-out voice");
  const prosody = (voice: string): VoiceSpec => ({ voice, speed: 140 + rng.int(51), pitch: 30 + rng.int(41) });
  const out: UttSpec[] = [];
  const st = statementSplit(seed);
  const trainSt = rng.shuffle([...st.train]).slice(0, cfg.trainStatements);
  for (const text of trainSt) out.push({ ...prosody(rng.pick(tv)), text, role: "statement", split: "train" });
  const qs = questionSplit(cfg.heldOutQuestions, seed, cfg.questionSet);
  const spokenQ = qs.train.slice(0, cfg.trainQuestions);
  // Repeat r of question i is spoken by training voice (i + r) mod |voices|: with as many repeats
  // as voices, every training voice speaks every training question once.
  for (let r = 0; r < cfg.questionRepeats; r++)
    spokenQ.forEach((q, i) => out.push({ ...prosody(tv[(i + r) % tv.length]), text: q.text, role: "question", split: "train", answer: q.answer, questionSplit: "train" }));
  const answerVoices = rng.shuffle([...tv]).slice(0, Math.min(cfg.answerVoices, tv.length));
  for (const v of answerVoices) for (const d of DIGITS) out.push({ ...prosody(v), text: d, role: "answer", split: "train" });
  for (const v of tv) out.push({ ...prosody(v), text: IMAGE_QUESTION, role: "image-question", split: "train" });
  // Evaluation: held-out voices only.
  const evalSt = rng.shuffle([...st.heldOut]).slice(0, cfg.evalStatements);
  evalSt.forEach((text, i) => out.push({ ...prosody(hv[i % hv.length]), text, role: "statement", split: "eval" }));
  const half = Math.ceil(cfg.evalQuestionsPerVoice / 2);
  for (const v of hv) {
    // A small question set (`sequence`) is cycled through so each held-out voice still says about evalQuestionsPerVoice questions.
    const ho = cycle(rng, qs.heldOut, half);
    const tr = cycle(rng, spokenQ, cfg.evalQuestionsPerVoice - ho.length);
    for (const q of ho) out.push({ ...prosody(v), text: q.text, role: "question", split: "eval", answer: q.answer, questionSplit: "heldout" });
    for (const q of tr) out.push({ ...prosody(v), text: q.text, role: "question", split: "eval", answer: q.answer, questionSplit: "train" });
    out.push({ ...prosody(v), text: IMAGE_QUESTION, role: "image-question", split: "eval" });
    for (let r = 0; r < cfg.heldOutAnswerRepeats; r++) for (const d of DIGITS) out.push({ ...prosody(v), text: d, role: "answer", split: "eval" });
  }
  // Further spoken digit words of the training voices (the judge's training data), from their own
  // stream so the rest of the plan (and its cached WAVs) does not change with their number.
  const more = Rng.stream(seed, "speech-plan:answers");
  for (let r = 1; r < cfg.answerRepeats; r++)
    for (const v of answerVoices) for (const d of DIGITS) out.push({ voice: v, speed: 140 + more.int(51), pitch: 30 + more.int(41), text: d, role: "answer", split: "train" });
  return out;
}

/**
 * Synthesise (or load from `cacheDir`) every planned utterance. Utterances longer than
 * `maxSeconds` are re-spoken up to 3 times 40 words/min faster, then dropped.
 */
export async function buildSpeech(plan: UttSpec[], cacheDir: string, maxSeconds: number, onProgress?: (done: number, total: number) => void, threads = speechThreads()): Promise<Utterance[]> {
  mkdirSync(cacheDir, { recursive: true });
  const out: Utterance[] = [];
  // First every utterance missing from the cache, on worker threads. Every utterance is used as its 16-bit WAV reads
  // back, whether synthesised now or found in the cache, so a run with a filled cache (another run's, or the suite's
  // shared one) gets exactly the samples of a run that synthesises everything.
  const fresh = new Map<string, Float32Array>();
  const store = (file: string, x: Float32Array): Float32Array => {
    const bytes = encodeWav(x, SAMPLE_RATE);
    writeFileAtomic(file, bytes);
    return decodeWav(bytes).samples;
  };
  const missing = [...new Map(plan.map((s) => [utteranceId(s), s] as const)).entries()].filter(([, s]) => !existsSync(join(cacheDir, cacheFileName(s))));
  let done = plan.length - missing.length;
  await synthesizeMany(
    missing.map(([, s]) => s),
    threads,
    (i, x) => {
      fresh.set(missing[i][0], store(join(cacheDir, cacheFileName(missing[i][1])), x));
      onProgress?.(++done, plan.length);
    },
  );
  done = 0;
  for (const spec of plan) {
    let s = { ...spec };
    let samples: Float32Array | null = null;
    for (let attempt = 0; attempt < 4; attempt++) {
      const id = utteranceId(s);
      const file = join(cacheDir, cacheFileName(s));
      let x: Float32Array;
      if (fresh.has(id)) x = fresh.get(id)!;
      else if (existsSync(file)) x = decodeWav(readFileSync(file)).samples;
      else x = store(file, await synthesize(s.text, s));
      if (x.length <= maxSeconds * SAMPLE_RATE) {
        samples = x;
        out.push({ ...s, id, samples });
        break;
      }
      s = { ...s, speed: s.speed + 40 };
    }
    // (with anything synthesised above, progress was reported there)
    if (missing.length === 0) onProgress?.(++done, plan.length);
  }
  return out;
}
