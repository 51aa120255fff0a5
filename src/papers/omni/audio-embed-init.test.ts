// `omni.audioEmbedInit: "codebooks"` (issue 17, route 4): the audio embedding tables start as the RVQ codebooks through
// the recogniser's projection (`codebookAudioEmbed`), so a frame's summed embedding is the projected quantised feature.
import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np } from "../../engine/index.js";
import { audioInputEmbeds, codebookAudioEmbed } from "./model.js";
import { checkOmniConfig, omniPresets, omniSchema, type OmniExperimentConfig } from "./config.js";

beforeAll(async () => {
  await initEngine();
});

const host = async (a: ReturnType<typeof np.array>) => Array.from((await a.data()) as Float32Array);

describe("codebookAudioEmbed", () => {
  // Two RVQ layers of 2 and 1 codes in Dq = 2, projected to D = 3.
  const cb0 = [1, 2, -1, 0.5];
  const cb1 = [3, -2];
  const W = [1, 0, 2, -1, 1, 0.5]; // [2, 3]
  const b = [0.1, -0.2, 0.3];
  const t0 = [9, 9, 9, 9, 9, 9, 7, 8, 6]; // [3, 3]: rows 0-1 replaced, row 2 (end-of-audio) kept
  const t1 = [9, 9, 9, 4, 5, 6]; // [2, 3]
  const make = () =>
    codebookAudioEmbed(
      [np.array(t0).reshape([3, 3]), np.array(t1).reshape([2, 3])],
      [np.array(cb0).reshape([2, 2]), np.array(cb1).reshape([1, 2])],
      { w: np.array(W).reshape([2, 3]), b: np.array(b) },
    );

  it("rows are codebook × projection (+ bias on layer 0 only); the extra rows keep their values", async () => {
    const e = make();
    expect(e.tables.map((t) => t.shape)).toEqual([
      [3, 3],
      [2, 3],
    ]);
    // Row [1, 2]·W = [1 − 2, 0 + 2, 2 + 1] = [−1, 2, 3], + b; row [−1, 0.5]·W = [−1.5, 0.5, −1.75], + b.
    const want0 = [-1 + 0.1, 2 - 0.2, 3 + 0.3, -1.5 + 0.1, 0.5 - 0.2, -1.75 + 0.3, 7, 8, 6];
    // Row [3, −2]·W = [3 + 2, −2, 6 − 1] = [5, −2, 5], no bias; then the kept row.
    const want1 = [5, -2, 5, 4, 5, 6];
    const got0 = await host(e.tables[0]);
    const got1 = await host(e.tables[1]);
    got0.forEach((v, i) => expect(v).toBeCloseTo(want0[i], 6));
    got1.forEach((v, i) => expect(v).toBeCloseTo(want1[i], 6));
  });

  it("a frame's summed embedding equals the projection of its quantised vector", async () => {
    const e = make();
    // Frames (code0, code1): (1, 0) and (0, 0); quantised vectors cb0[c0] + cb1[c1].
    const codes = np.array([1, 0, 0, 0], { dtype: np.int32 }).reshape([1, 2, 2]);
    const got = await host(audioInputEmbeds(e, codes));
    const q = [
      [-1 + 3, 0.5 - 2],
      [1 + 3, 2 - 2],
    ];
    const want = q.flatMap(([x, y]) => [0, 1, 2].map((d) => x * W[d] + y * W[3 + d] + b[d]));
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });

  it("rejects tables that do not fit the codebooks or the projection", () => {
    const bad = () =>
      codebookAudioEmbed([np.array(t0).reshape([3, 3])], [np.array([1, 2, 3, 4, 5, 6]).reshape([3, 2])], { w: np.array(W).reshape([2, 3]) });
    expect(bad).toThrow(/table 0 is \[3,3\], codebook \[3,2\]/);
  });
});

describe("omni.audioEmbedInit", () => {
  const q = omniPresets.quick;
  const withInit = (v: unknown, pretrainSteps = 300, dModel = 64): OmniExperimentConfig =>
    ({ ...q, omni: { ...q.omni, audioEmbedInit: v }, tokenizer: { ...q.tokenizer, pretrainEncoder: { ...q.tokenizer.pretrainEncoder, steps: pretrainSteps, dModel } } }) as OmniExperimentConfig;

  it("starts from the codebooks at every preset (route 5), and every preset passes checkOmniConfig", () => {
    for (const p of Object.values(omniPresets)) {
      expect(p.omni.audioEmbedInit).toBe("codebooks");
      expect(p.tokenizer.pretrainEncoder.steps).toBeGreaterThan(0);
      expect(() => checkOmniConfig(omniSchema.parse(p))).not.toThrow();
    }
  });

  it("accepts random and codebooks, rejects anything else naming the field", () => {
    expect(omniSchema.safeParse(withInit("codebooks")).success).toBe(true);
    const r = omniSchema.safeParse(withInit("zeros"));
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/audioEmbedInit/);
  });

  it("codebooks needs the recogniser, at the LM's width", () => {
    expect(() => checkOmniConfig(withInit("codebooks"))).not.toThrow();
    expect(() => checkOmniConfig(withInit("codebooks", 0))).toThrow(/tokenizer\.pretrainEncoder\.steps > 0/);
    expect(() => checkOmniConfig(withInit("codebooks", 300, 32))).toThrow(/pretrainEncoder\.dModel \(32\) equal to textLm\.model\.dModel \(64\)/);
    expect(() => checkOmniConfig(withInit("random", 0))).not.toThrow();
  });
});
