import { describe, expect, it } from "vitest";
import { fnv1a32, fnv1a32Hex } from "./hash.js";
import { Rng } from "./rng.js";

describe("fnv1a32", () => {
  it("matches the published FNV-1a 32-bit test vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    expect(fnv1a32Hex("a")).toBe("e40c292c");
    expect(fnv1a32Hex("")).toBe("811c9dc5");
  });
});

describe("Rng", () => {
  it("named streams of one seed are deterministic and distinct", () => {
    const a = Rng.stream(7, "init");
    const b = Rng.stream(7, "init");
    const c = Rng.stream(7, "data");
    const xs = [a.nextU32(), a.nextU32()];
    expect([b.nextU32(), b.nextU32()]).toEqual(xs);
    expect([c.nextU32(), c.nextU32()]).not.toEqual(xs);
  });
  it("restores from its state bit-identically", () => {
    const r = new Rng(3, "data");
    r.next();
    const copy = new Rng(r.state());
    expect([copy.next(), copy.next()]).toEqual([r.next(), r.next()]);
  });
});
