/**
 * The Hugging Face compatibility the README promises, checked with independent libraries (dev
 * dependencies): a trained byte-level BPE `tokenizer.json` loads in @huggingface/tokenizers and
 * gives the same ids as ours; a checkpoint's safetensors file parses with @jax-js/loaders' reader
 * into the same tensors, names and metadata.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { safetensors } from "@jax-js/loaders";
import { BPETokenizer } from "./tokenizer.js";
import { loadCorpus } from "./corpus.js";
import { initEngine, flattenNamed } from "../engine/index.js";
import { saveCheckpoint } from "../train/checkpoint.js";
import { initLM, type LMConfig } from "../nn/transformer.js";

describe("a trained BPE tokenizer.json in @huggingface/tokenizers", () => {
  it("loads and encodes to identical ids, including unicode, digits, whitespace runs and unseen words", () => {
    const text = loadCorpus({ name: "moby-dick" }).text.slice(0, 200_000);
    const ours = BPETokenizer.train(text, 512);
    const json = JSON.parse(JSON.stringify(ours.toJSON())) as { model: unknown };
    const hf = new Tokenizer(json, {});
    const probes = [
      "Call me Ishmael. Some years ago—never mind how long precisely—",
      "  double  spaces,\ttabs\nand newlines\n\n",
      "numbers 1851 and 3.14159, ünïcödé, 東京, emoji 🐋!",
      "Zyxwvut qwerty never-seen-before compounds",
      text.slice(50_000, 52_000),
    ];
    for (const p of probes) {
      const a = ours.encode(p);
      const b = hf.encode(p, { add_special_tokens: false }).ids;
      expect(b, JSON.stringify(p.slice(0, 40))).toEqual(a);
      expect(ours.decode(a)).toBe(p);
    }
  });
});

describe("a checkpoint in an independent safetensors reader", () => {
  it("parses with @jax-js/loaders into the same names, shapes, values and metadata", async () => {
    await initEngine();
    const cfg: LMConfig = { vocabSize: 64, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 2, tiedHead: true, bias: false };
    const params = initLM(cfg, 3);
    const f = join(mkdtempSync(join(tmpdir(), "tf-st-")), "ck.safetensors");
    await saveCheckpoint(f, { params }, { step: 7, state: { note: "x" } });
    const file = safetensors.parse(new Uint8Array(readFileSync(f)));
    const named = flattenNamed(params);
    expect(Object.keys(file.tensors).sort()).toEqual(Object.keys(named).map((k) => `params.${k}`).sort());
    for (const [k, a] of Object.entries(named)) {
      const t = file.tensors[`params.${k}`];
      expect(t.dtype).toBe("F32");
      expect(t.shape).toEqual(a.shape);
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from((await a.ref.data()) as Float32Array));
    }
    expect(file.metadata?.step).toBe("7");
    expect(file.metadata?.format).toBe("tinyfoundry-checkpoint-v1");
    for (const a of Object.values(named)) a.dispose();
  });
});
