import { describe, expect, it } from "vitest";
import { BPETokenizer, ByteTokenizer } from "./tokenizer.js";
import { loadCorpus, splitTrainVal } from "./corpus.js";
import { evalBatches, randomCropBatch } from "./batches.js";
import { Rng } from "../util/rng.js";

describe("tokenizers", () => {
  it("bytes round-trip any UTF-8 text", () => {
    const t = new ByteTokenizer();
    const s = "Call me Ishmael — naïve café ✓";
    expect(t.decode(t.encode(s))).toBe(s);
    expect(t.encode("A")).toEqual([65]);
  });
  it("BPE learns the most frequent merge first and round-trips", () => {
    const bpe = BPETokenizer.train("aaab aaab aaab aab ab", 258);
    // pairs: (a,a) occurs 3·2+1 = 7 times, more than any other, so it is merge 0
    expect(bpe.merges[0]).toEqual(["a", "a"]);
    expect(bpe.vocabSize).toBe(258);
    const text = "aaab ab, the whale!";
    expect(bpe.decode(bpe.encode(text))).toBe(text);
    expect(bpe.encode("aa")).toEqual([256]);
  });
  it("BPE saves and loads the Hugging Face tokenizer.json layout", () => {
    const { text } = loadCorpus({ name: "moby-dick" });
    const bpe = BPETokenizer.train(text.slice(0, 20000), 300);
    const json = JSON.parse(JSON.stringify(bpe.toJSON())) as ReturnType<typeof bpe.toJSON> & { model: { type: string; vocab: Record<string, number>; merges: string[][] } };
    expect(json.model.type).toBe("BPE");
    expect(Object.keys(json.model.vocab).length).toBe(300);
    expect(json.model.merges.length).toBe(44);
    const back = BPETokenizer.fromJSON(json as never);
    const s = text.slice(30000, 30500);
    expect(back.encode(s)).toEqual(bpe.encode(s));
    expect(back.decode(back.encode(s))).toBe(s);
    expect(bpe.encode(s).length).toBeLessThan(new TextEncoder().encode(s).length);
  });
});

describe("corpus and batches", () => {
  it("loads the built-in corpora", () => {
    const m = loadCorpus({ name: "moby-dick" });
    expect(m.text.startsWith("CHAPTER 1. Loomings.")).toBe(true);
    expect(m.text.length).toBeGreaterThan(1_000_000);
    expect(loadCorpus({ name: "sotu" }).text.length).toBeGreaterThan(5_000_000);
    expect(() => loadCorpus({ name: "nope" as never })).toThrow(/allowed: moby-dick, sotu/);
    expect(() => loadCorpus({ file: "/no/such/file.txt" })).toThrow(/file not found/);
  });
  it("splits train/validation deterministically by seed, disjoint and complete", () => {
    const tokens = Int32Array.from({ length: 10_000 }, (_, i) => i);
    const a = splitTrainVal(tokens, { valFraction: 0.1, seed: 3 });
    const b = splitTrainVal(tokens, { valFraction: 0.1, seed: 3 });
    const c = splitTrainVal(tokens, { valFraction: 0.1, seed: 4 });
    expect(a.valBlocks).toEqual(b.valBlocks);
    expect(a.valBlocks).not.toEqual(c.valBlocks);
    expect(a.val.length).toBe(1000);
    expect(a.train.length + a.val.length).toBe(10_000);
    const seen = new Set([...a.train, ...a.val]);
    expect(seen.size).toBe(10_000);
  });
  it("random crops are next-token pairs and follow the RNG state", () => {
    const tokens = Int32Array.from({ length: 500 }, (_, i) => i);
    const r1 = new Rng(5, "data");
    const b1 = randomCropBatch(tokens, 4, 16, r1);
    for (let i = 0; i < b1.x.length; i++) expect(b1.y[i]).toBe(b1.x[i] + 1);
    const r2 = new Rng(r1.state());
    const r3 = new Rng(r1.state());
    expect(randomCropBatch(tokens, 4, 16, r2)).toEqual(randomCropBatch(tokens, 4, 16, r3));
    expect(evalBatches(tokens, 2, 8, 3)).toEqual(evalBatches(tokens, 2, 8, 3));
  });
});
