import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, disposeTree, type Array } from "../../engine/index.js";
import { defaultLMConfig } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import { cfg3fEntropyFloor, cfg3fProbability, sampleCfg3f, CFG3F_RULES } from "./cfg3f.js";
import { overTokenizedPresets } from "./config.js";
import { textData } from "./data.js";
import {
  initOverTokenized,
  jointTargets,
  jointVocab,
  marginalLogits,
  mixRow,
  overEncodingGeometry,
  overEncodingIndices,
  overTokenizedLogits,
  overTokenizedLoss,
  auxNames,
  targetCount,
  type OverTokenizedConfig,
} from "./model.js";
import { hashPurity } from "./sweep-experiment.js";
import { MIN_ROWS_HIT } from "./claims.js";

beforeAll(async () => {
  await initEngine();
});

const host = async (a: Array) => Array.from((await a.data()) as Float32Array);
const i32 = (a: ArrayLike<number>, shape: number[]) => np.array(Int32Array.from(a), { dtype: np.int32 }).reshape(shape);

describe("joint n-gram output vocabulary (over-decoding, §3.1)", () => {
  const jv = jointVocab(5, 3, [0, 4]); // cfg3f: BOS 0, EOS 4, terminals 1..3

  it("has the paper's 2 + 3 + 9 + 27 = 41 classes, each standing for its first token", () => {
    expect(jv.classes).toBe(41);
    expect(jv.alphabet).toEqual([1, 2, 3]);
    expect(Array.from(jv.first.subarray(0, 5))).toEqual([0, 4, 1, 2, 3]);
    // 2-grams (classes 5..13): first token is the most significant digit.
    expect(Array.from(jv.first.subarray(5, 14))).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3]);
    // 3-grams (classes 14..40): 9 per first token.
    for (let r = 0; r < 27; r++) expect(jv.first[14 + r]).toBe(1 + Math.floor(r / 9));
  });

  it("maps the next three tokens to the right joint class, cutting runs at BOS/EOS", () => {
    // positions: next tokens (y1, y2, y3)
    const cases: [number[], number][] = [
      [[0, 1, 2], 0], // BOS
      [[4, 0, 1], 1], // EOS
      [[2, 4, 0], 2 + 1], // run "2" then EOS: 1-gram class of terminal 2 -> 2 + (2-1)
      [[3, 1, 4], 5 + 2 * 3 + 0], // run "3 1": 2-gram (digits 2, 0)
      [[1, 1, 1], 14 + 0], // "1 1 1"
      [[3, 3, 3], 14 + 26], // "3 3 3"
      [[2, 3, 1], 14 + 1 * 9 + 2 * 3 + 0], // "2 3 1"
    ];
    const ys = [0, 1, 2].map((j) => Int32Array.from(cases.map(([t]) => t[j])));
    expect(Array.from(jointTargets(ys, jv))).toEqual(cases.map(([, c]) => c));
    // The class's first token is always y1.
    jointTargets(ys, jv).forEach((c, i) => expect(jv.first[c]).toBe(ys[0][i]));
  });

  it("marginalises joint logits to next-token probabilities that sum the joint mass of each first token", async () => {
    const rng = new Rng(3, "joint");
    const z = Float32Array.from({ length: 2 * jv.classes }, () => 4 * (rng.next() - 0.5));
    const lg = marginalLogits(np.array(z).reshape([2, jv.classes]), jv, 5);
    const out = await host(lg);
    for (let r = 0; r < 2; r++) {
      const row = Array.from(z.subarray(r * jv.classes, (r + 1) * jv.classes));
      const mx = Math.max(...row);
      const Z = row.reduce((a, b) => a + Math.exp(b - mx), 0);
      const m = out.slice(r * 5, r * 5 + 5);
      const mmx = Math.max(...m);
      const mZ = m.reduce((a, b) => a + Math.exp(b - mmx), 0);
      let total = 0;
      for (let v = 0; v < 5; v++) {
        const want = row.reduce((a, b, c) => a + (jv.first[c] === v ? Math.exp(b - mx) : 0), 0) / Z;
        const got = Math.exp(m[v] - mmx) / mZ;
        expect(got).toBeCloseTo(want, 5);
        total += got;
      }
      expect(total).toBeCloseTo(1, 6);
    }
  });

  it("trains with plain CE over the classes and reports the marginal's next-token CE; inference returns the marginal", async () => {
    const lm = { ...defaultLMConfig, vocabSize: 5, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8 };
    const cfg: OverTokenizedConfig = { lm, oe: null, od: { n: 3, lambda: 1, head: "joint", specials: [0, 4] }, mtp: null };
    expect(targetCount(cfg)).toBe(2);
    expect(auxNames(cfg)).toEqual(["nextTokenLoss", "odJointLoss"]);
    const p = initOverTokenized(cfg, 0);
    const tokens = [0, 1, 2, 3, 4, 0, 2, 2, 1, 3, 4];
    const x = tokens.slice(0, 8);
    const ys = [1, 2, 3].map((j) => Int32Array.from(tokens.slice(j, j + 8)));
    const yJ = jointTargets(ys, jointVocab(5, 3, [0, 4]));
    const [loss, aux] = overTokenizedLoss(disposeTreeRef(p), cfg, [], [i32(x, [1, 8]), i32(ys[0], [1, 8]), i32(yJ, [1, 8])]);
    const [l, next, joint] = [(await host(loss))[0], (await host(aux[0]))[0], (await host(aux[1]))[0]];
    expect(l).toBeCloseTo(joint, 6);
    expect(joint).toBeGreaterThan(0);
    // Near init the joint is close to uniform over 41 classes; the marginal next-token CE is below ln 41.
    expect(joint).toBeCloseTo(Math.log(41), 0);
    expect(next).toBeLessThan(joint);
    const logits = overTokenizedLogits(p, cfg, [], i32(x, [1, 8]), []);
    expect(logits.shape).toEqual([1, 8, 5]);
    const lg = await host(logits);
    // CE of the inference logits equals the reported next-token CE.
    let ce = 0;
    for (let i = 0; i < 8; i++) {
      const row = lg.slice(i * 5, i * 5 + 5);
      const mx = Math.max(...row);
      ce += mx + Math.log(row.reduce((a, b) => a + Math.exp(b - mx), 0)) - row[ys[0][i]];
    }
    expect(ce / 8).toBeCloseTo(next, 4);
  });
});

/** A second reference to every leaf (the loss consumes its params). */
function disposeTreeRef<T>(t: T): T {
  const visit = (x: unknown): unknown => {
    if (x && typeof x === "object" && "ref" in (x as object) && "shape" in (x as object)) return (x as Array).ref;
    if (Array.isArray(x)) return x.map(visit);
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, visit(v)]));
    return x;
  };
  return visit(t) as T;
}
void disposeTree;

describe("mixing hash (issue 19)", () => {
  it("is deterministic, in range, and uses every token of the n-gram", () => {
    expect(mixRow([1, 2], 61)).toBe(mixRow([1, 2], 61));
    for (let a = 0; a < 20; a++) for (let b = 0; b < 20; b++) expect(mixRow([a, b], 61)).toBeLessThan(61);
    expect(mixRow([1, 2], 1_000_003)).not.toBe(mixRow([2, 1], 1_000_003));
    expect(mixRow([1, 2], 1_000_003)).not.toBe(mixRow([1, 3], 1_000_003));
  });

  it("overEncodingIndices with hash 'mix' gives mixRow of the zero-padded n-gram", () => {
    const geo = overEncodingGeometry({ n: 3, k: 1, m: 127, requireCoprime: true, hash: "mix" }, 5, 4);
    const [r2, r3] = overEncodingIndices(Int32Array.from([1, 2, 3, 4]), 1, 4, 5, geo);
    expect(Array.from(r2)).toEqual([mixRow([1, 0], 127), mixRow([2, 1], 127), mixRow([3, 2], 127), mixRow([4, 3], 127)]);
    expect(r3[0]).toBe(mixRow([1, 0, 0], 129));
    expect(r3[3]).toBe(mixRow([4, 3, 2], 129));
  });

  it("hits at least 90% of the rows of every table the quick preset sweeps, on its training bytes", () => {
    const c = overTokenizedPresets.quick;
    const d = textData(c);
    for (const m of c.text.mValues.filter((x) => x > 0)) {
      const h = hashPurity(d.train, 256, c.text.model.dModel, { n: c.text.n, k: c.text.k, m, requireCoprime: true, hash: c.text.hash });
      expect(h.rowsHitFraction, `m = ${m}`).toBeGreaterThanOrEqual(MIN_ROWS_HIT);
    }
  });
});

describe("cfg3f entropy floor", () => {
  it("assigns nonterminal 9's three sentences probability 1/3 each and 0 to a non-sentence", () => {
    for (const s of [[1, 2, 1], [3, 3], [1, 1]]) expect(cfg3fProbability(s, 9)).toBeCloseTo(1 / 3, 12);
    expect(cfg3fProbability([3, 1], 9)).toBe(0);
  });

  it("sums to 1 over every sentence of nonterminal 12 (exact enumeration) and matches its entropy", () => {
    // Enumerate the derivations of 12 and collect each distinct sentence once.
    const expand = (sym: number): number[][] => (sym <= 3 ? [[sym]] : CFG3F_RULES[sym].flatMap((alt) => alt.reduce<number[][]>((acc, s) => acc.flatMap((a) => expand(s).map((b) => [...a, ...b])), [[]])));
    const sentences = [...new Set(expand(12).map((s) => s.join(",")))].map((k) => k.split(",").map(Number));
    const ps = sentences.map((s) => cfg3fProbability(s, 12));
    expect(ps.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    const H = -ps.reduce((a, p) => a + p * Math.log(p), 0);
    const meanLen = sentences.reduce((a, s, i) => a + ps[i] * s.length, 0);
    const est = cfg3fEntropyFloor(new Rng(1, "floor"), 12, 4000);
    expect(est.perToken).toBeCloseTo(H / (meanLen + 2), 1);
    expect(Math.abs(est.perToken - H / (meanLen + 2))).toBeLessThan(4 * est.se + 0.01);
  });

  it("gives root 16 sentences that fit a 64-token context on average (mean 35-45 terminals)", () => {
    const rng = new Rng(2, "len");
    const L = Array.from({ length: 500 }, () => sampleCfg3f(rng, 16).length);
    const mean = L.reduce((a, b) => a + b, 0) / L.length;
    expect(mean).toBeGreaterThan(35);
    expect(mean).toBeLessThan(45);
  });
});

describe("BOS-aligned cfg3f crops", () => {
  it("start every training and evaluation crop at a BOS", async () => {
    const { cropBatch, evalCrops, positionsOf } = await import("./data.js");
    const { cfgStream, CFG_BOS } = await import("./cfg3f.js");
    const rng = new Rng(5, "crops");
    const stream = cfgStream(Array.from({ length: 200 }, () => sampleCfg3f(rng, 16)));
    const starts = positionsOf(stream, CFG_BOS);
    expect(starts.length).toBe(200);
    const T = 64;
    const { x, ys } = cropBatch(stream, 8, T, 3, rng, starts);
    for (let b = 0; b < 8; b++) {
      expect(x[b * T]).toBe(CFG_BOS);
      expect(ys[0][b * T]).toBe(x[b * T + 1]);
    }
    for (const c of evalCrops(stream, 4, T, 3, starts)) for (let b = 0; b < 4; b++) expect(c.x[b * T]).toBe(CFG_BOS);
  });
});
