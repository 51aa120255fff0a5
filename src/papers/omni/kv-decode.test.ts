// KV-cache greedy decoding of the omni model (kv-decode.ts, issue 25) against the reference that runs the whole packed
// batch every step: the same logits and hidden states at each row's last position (to ~1e-5), and the same greedy
// tokens and accuracies in the evaluations that decode (spoken QA in the "transcribe" format, ASR).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, jit, np, type Array } from "../../engine/index.js";
import { initLM, type LMConfig } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import { initOmni, omniForward, type OmniConfig, type OmniParams } from "./model.js";
import { batchFromList, formats, type BatchShape, type Codes, type Example } from "./sequences.js";
import { fullSession, kvSession, type DecodeSession } from "./kv-decode.js";
import { asrWordAccuracy, evalSessions, omniLogitsFn, speechAnswerAccuracy } from "./omni-eval.js";
import { WordTokenizer } from "./world.js";
import { generateSpeech, trunkOf } from "./speech-generation.js";
import type { OmniData, Pools } from "./prepare.js";

const tok = new WordTokenizer();
const T = 28;
const lmCfg: LMConfig = { vocabSize: tok.vocabSize, dModel: 16, nLayers: 2, nHeads: 2, contextLength: T, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 2, tiedHead: false, bias: false };
const ocfg: OmniConfig = { lm: lmCfg, codebookSizes: [16, 8, 8, 4, 4, 4, 4, 4], depthLayers: 1, depthHeads: 2, depthFfnRatio: 2, vision: { image: 28, patch: 7, width: 8, layers: 1, heads: 2 }, audioLossWeight: 1 };
const B = 4;
const shape: BatchShape = { batch: B, seqLen: T, audioRows: 1, nLayers: 8, K0: 16, vision: ocfg.vision };
const V = tok.vocabSize;
const D = lmCfg.dModel;
const rng = new Rng(11, "kv-decode-test");
const frames = (n: number): Codes => Array.from({ length: n }, () => Int32Array.from(ocfg.codebookSizes, (k) => rng.int(k)));

let p: OmniParams;
beforeAll(async () => {
  await initEngine();
  // A random model with an untied head (a tied one repeats its input token) whose tables and attention projections are
  // scaled up: greedy choices are decided by margins far above float rounding, each token leads to another, and
  // attention is peaked, so a wrong position or mask moves the logits by O(1).
  const lm = initLM(lmCfg, 3);
  lm.wte.table = lm.wte.table.mul(40);
  // <eos> and <answer> louder, so some rows end early (and then sit idle while the others decode)
  lm.head!.w = lm.head!.w.mul(40);
  lm.head!.b = np.array(Float32Array.from({ length: tok.vocabSize }, (_, v) => (v === tok.id("<eos>") || v === tok.id("<answer>") ? 7 : 0)));
  for (const b of lm.blocks) {
    b.attn.qkv.w = b.attn.qkv.w.mul(15);
    b.attn.out.w = b.attn.out.w.mul(60);
  }
  p = initOmni(ocfg, lm, 3);
  p.audioEmbed.tables = p.audioEmbed.tables.map((t) => t.mul(40));
});

/** The reference session with logits and hidden states (two full forwards per call). */
function reference(): DecodeSession {
  const logits = omniLogitsFn(ocfg);
  const hidden = jit((q: Omit<OmniParams, "audioHead">, xs: Array[]) => {
    const b = batchFromList(xs);
    for (const k of ["textTgt", "textMask", "outSel", "outCodes", "outMask"] as const) b[k].dispose();
    const o = omniForward(q, ocfg, b);
    o.logits.dispose();
    return o.hidden;
  });
  const full = async (xs: Array[], want: "logits" | "hidden") => ((await (want === "logits" ? logits : hidden)(trunkOf(p), xs).data()) as Float32Array);
  return fullSession(full, shape, V, D, "both");
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const copy = (e: Example): Example => ({ ...e, ids: [...e.ids], codes: [...e.codes], textTgt: [...e.textTgt], audioTgt: [...e.audioTgt] });

describe("kvSession", () => {
  it("gives the full forward's logits and hidden state at every row's last position, whatever each row appends", async () => {
    const f = formats(tok, ocfg.vision);
    const img = Float32Array.from({ length: 784 }, (_, i) => ((i * 7) % 31) / 31);
    // prompts of different lengths and kinds: an image + spoken question, audio-only, text-only
    const rows: Example[] = [f.asr(frames(3), "zero"), f.omni(img, frames(2), "two"), f.text("the red cat"), f.asr(frames(9), "zero")].map((e) => {
      const n = Math.max(3, e.ids.length - 2);
      return { ...e, ids: e.ids.slice(0, n), codes: e.codes.slice(0, n), textTgt: new Array<number>(n).fill(-1), audioTgt: new Array<null>(n).fill(null) };
    });
    const a = rows.map(copy);
    const b = rows.map(copy);
    const kv = kvSession(p, ocfg, shape, 12);
    const ref = reference();
    // per call, what each row appends: text tokens (t), audio frames (a) or nothing (-)
    const plan = ["tttt", "t-at", "-aa-", "ttat", "a-tt", "--t-"];
    const grow = ["", "t", "ta", "t", "ta", "t"]; // plus these extra appends on row 0 (several positions in one call)
    let maxLogit = 0;
    let maxHidden = 0;
    for (let s = 0; s <= plan.length; s++) {
      const ko = await kv.next(a);
      const ro = await ref.next(b);
      for (let r = 0; r < B; r++) {
        maxLogit = Math.max(maxLogit, maxDiff(ko.logits(r), ro.logits(r)));
        maxHidden = Math.max(maxHidden, maxDiff(ko.hidden(r), ro.hidden(r)));
      }
      if (s === plan.length) break;
      const add = (r: number, what: string) => {
        const w = rng.int(V);
        const c = what === "a" ? frames(1)[0] : null;
        for (const e of [a[r], b[r]]) {
          e.ids.push(c ? tok.id("<audio_pad>") : w);
          e.codes.push(c);
          e.textTgt.push(-1);
          e.audioTgt.push(null);
        }
      };
      [...plan[s]].forEach((what, r) => what !== "-" && add(r, what));
      for (const what of grow[s]) add(0, what);
    }
    kv.close();
    ref.close();
    expect(maxLogit).toBeLessThan(2e-5); // logits of size ~±20 (measured 3e-6)
    expect(maxHidden).toBeLessThan(1e-5);
  });

  it("refuses more steps than its cache holds", async () => {
    const f = formats(tok, ocfg.vision);
    const rows = Array.from({ length: B }, () => {
      const e = f.text("the cat");
      return { ...e, ids: e.ids.slice(0, 2), codes: e.codes.slice(0, 2), textTgt: [-1, -1], audioTgt: [null, null] };
    });
    const kv = kvSession(p, ocfg, shape, 2);
    await kv.next(rows);
    for (const e of rows) {
      e.ids.push(1, 1, 1);
      e.codes.push(null, null, null);
    }
    await expect(kv.next(rows)).rejects.toThrow(/more than 2 decode steps/);
    kv.close();
  });
});

describe("greedy evaluations: KV cache vs the full forward", () => {
  const fwdOf = () => {
    const f = omniLogitsFn(ocfg);
    return async (xs: Array[]) => (await f(trunkOf(p), xs).data()) as Float32Array;
  };

  it("spoken QA (transcribe) gives the same tokens, accuracy and forced count", async () => {
    const f = formats(tok, ocfg.vision, "transcribe");
    const qs = ["what is two plus three", "what is one plus one", "what is four minus two", "what is one plus two", "what is three plus three"];
    // audio of 2 to 14 frames: rows reach the context (and are forced) at different steps
    const exs = qs.map((q, i) => f.sqaText(frames(2 + 3 * i), ["five", "two", "two", "three", "six"][i], q)).filter((e) => e.ids.length <= T);
    const mark = tok.id("<answer>");
    const fwd = fwdOf();
    const run = (path: "kv" | "full") => speechAnswerAccuracy(fwd, exs, mark, "transcribe", mark, tok.id("<eos>"), B, shape, V, evalSessions(path, p, ocfg, fwd, shape));
    const full = await run("full");
    const kv = await run("kv");
    expect(kv.preds).toEqual(full.preds);
    expect(kv.correct).toEqual(full.correct);
    expect(kv.acc).toBe(full.acc);
    expect(kv.forced).toBe(full.forced);
    expect(exs.length).toBeGreaterThan(B); // two batches, the second padded
    expect(new Set(full.preds).size).toBeGreaterThan(1); // the answers depend on the audio
  });

  it("ASR gives the same transcripts and word accuracy", async () => {
    const texts = ["the red cat sees the dog", "what is two plus three", "one", "the dog is big", "four minus one is three", "zero"];
    const codes = new Map(texts.map((_, u) => [u, frames(3 + 2 * u)] as const));
    const data = { tok, utts: texts.map((text) => ({ text })) } as unknown as OmniData;
    const P = { f: formats(tok, ocfg.vision), codes } as unknown as Pools;
    const fwd = fwdOf();
    const us = texts.map((_, u) => u);
    const run = (path: "kv" | "full") => asrWordAccuracy(fwd, data, P, B, shape, V, us, evalSessions(path, p, ocfg, fwd, shape));
    const full = await run("full");
    const kv = await run("kv");
    expect(kv.hyps).toEqual(full.hyps);
    expect(kv.acc).toBe(full.acc);
    expect(new Set(full.hyps.map((h) => h.join(" "))).size).toBe(texts.length); // transcripts depend on the audio
    expect(new Set(full.hyps.map((h) => h.length)).size).toBeGreaterThan(1); // a row ends (<eos>) while others decode
  });

  it("speech out (transcript, answer word, audio frames) gives the same words and frames", async () => {
    const qs = [3, 7, 12, 5, 9].map((n) => frames(n));
    const data = { tok } as unknown as OmniData;
    const run = (path: "kv" | "full") => generateSpeech(p, ocfg, data, qs, B, 6, omniLogitsFn(ocfg), "transcribe", path);
    const full = await run("full");
    const kv = await run("kv");
    expect(kv.text).toEqual(full.text);
    expect(kv.frames.map((f) => f.map((c) => [...c]))).toEqual(full.frames.map((f) => f.map((c) => [...c])));
    expect(new Set(full.frames.map((f) => f.length)).size).toBeGreaterThan(1); // some answers end (head 0's end code) before others
  });
});

afterAll(() => disposeTree(p));
