import { describe, expect, it } from "vitest";
import { Rng } from "../../util/rng.js";
import { CFG3F_RULES, cfg3fDerives, cfgStream, sampleCfg3f } from "./cfg3f.js";

describe("cfg3f", () => {
  it("has six layers of 2-3 symbol rules over terminals 1..3", () => {
    for (const [lhs, alts] of Object.entries(CFG3F_RULES)) {
      for (const alt of alts) {
        expect(alt.length === 2 || alt.length === 3, `rule ${lhs}`).toBe(true);
        // Each layer rewrites into the layer below: 22→19..21, ..., 7..9→1..3.
        const layer = (s: number) => (s <= 3 ? 0 : Math.floor((s - 7) / 3) + 1);
        for (const s of alt) expect(layer(s), `${lhs} → ${s}`).toBe(layer(Number(lhs)) - 1);
      }
    }
  });

  it("parses hand derivations and rejects near misses", () => {
    expect(cfg3fDerives([3, 3], 9)).toBe(true);
    expect(cfg3fDerives([1, 2, 1], 9)).toBe(true);
    expect(cfg3fDerives([3, 1], 9)).toBe(false);
    // 11 → 9 7 → (1 1)(3 2)
    expect(cfg3fDerives([1, 1, 3, 2], 11)).toBe(true);
    expect(cfg3fDerives([1, 1, 3, 3], 11)).toBe(false);
    expect(cfg3fDerives([1, 1, 3, 2, 4], 11)).toBe(false); // non-terminal token
  });

  it("accepts every sampled sentence; lengths lie in [64, 729]; single-token edits are mostly rejected", () => {
    const rng = Rng.stream(1, "cfg3f-test");
    let rejected = 0;
    const n = 40;
    for (let i = 0; i < n; i++) {
      const s = sampleCfg3f(rng);
      expect(s.length).toBeGreaterThanOrEqual(64);
      expect(s.length).toBeLessThanOrEqual(729);
      expect(cfg3fDerives(s)).toBe(true);
      const bad = s.slice();
      const at = rng.int(bad.length);
      bad[at] = (bad[at] % 3) + 1; // a different terminal
      if (!cfg3fDerives(bad)) rejected++;
    }
    expect(rejected / n).toBeGreaterThan(0.8);
  });

  it("streams sentences between BOS (0) and EOS (4)", () => {
    expect(Array.from(cfgStream([[1, 2], [3]]))).toEqual([0, 1, 2, 4, 0, 3, 4]);
  });
});
