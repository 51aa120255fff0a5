/**
 * The SFT step's batch shapes (issue 24, the GeneralPoints arms within 25 minutes): every `SFT_SHAPES` entry (rows
 * padded to the batch's longest rounded up to 16, the head only at the response positions) computes the step of the
 * legacy shape (rows of the fixed length T, the head at every position): the same losses and the same parameters
 * after several optimizer steps, over examples of different prompt and response lengths.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, np, refTree, tree, type Array } from "../../engine/index.js";
import { defaultLMConfig, initLM, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { adamwInit, defaultDecayMask } from "../../optim/adamw.js";
import { makeTrainStep } from "../../train/step.js";
import { Rng } from "../../util/rng.js";
import { sftExample, sftLoss } from "./model.js";
import { DEFAULT_SFT_SHAPE, sftBatchArrays, SFT_SHAPES, type SftExample, type SftShape } from "./sft.js";

const cfg: LMConfig = { ...defaultLMConfig, vocabSize: 41, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 128, norm: "rms", pos: "rope", mlp: "gelu" };
const T = 100;

beforeAll(async () => {
  await initEngine();
});

/** 24 examples: prompts of 5-60 tokens, responses of 2-37, so batches pad to several multiples of 16 below T. */
function examples(): SftExample[] {
  const rng = new Rng(17, "sft-shape-examples");
  return Array.from({ length: 24 }, () => {
    const prompt = Array.from({ length: 5 + rng.int(56) }, () => 1 + rng.int(cfg.vocabSize - 1));
    const response = Array.from({ length: 2 + rng.int(36) }, () => 1 + rng.int(cfg.vocabSize - 1));
    return { prompt, response };
  });
}

async function train(shape: SftShape, steps: number): Promise<{ losses: number[]; params: number[]; lengths: number[] }> {
  const data = examples();
  let params = initLM(cfg, 3);
  let opt = adamwInit(params);
  const step = makeTrainStep<LMParams>((p, x, y, m, rows) => sftLoss(p, cfg, x, y, m, shape.responseHead ? rows : undefined), { adamw: { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 }, clip: 1, decayMask: defaultDecayMask(params) });
  const rng = Rng.stream(2, "sft-shape-data");
  const losses: number[] = [];
  const lengths: number[] = [];
  const B = 6;
  for (let s = 1; s <= steps; s++) {
    const a = sftBatchArrays(Array.from({ length: B }, () => data[rng.int(data.length)]), T, shape);
    lengths.push(a.T);
    const W = a.rows ? a.R : a.T;
    const batch = [np.array(a.x, { dtype: np.int32 }).reshape([B, a.T]), np.array(a.y, { dtype: np.int32 }).reshape([B, W]), np.array(a.mask).reshape([B, W]), ...(a.rows ? [np.array(a.rows).reshape([B, a.R, a.T])] : [])];
    const out = step.step(params, opt, batch, 3e-3, s);
    params = out.params;
    opt = out.opt;
    losses.push(Number((await out.loss.data())[0]));
    out.gradNorm.dispose();
  }
  step.dispose();
  const flat: number[] = [];
  for (const l of tree.flatten<Array>(refTree(params))[0]) flat.push(...((await l.data()) as Float32Array));
  disposeTree(params);
  disposeTree(opt);
  return { losses, params: flat, lengths };
}

describe("SFT batch shapes", () => {
  it("the legacy shape writes sftExample's rows; the others pad to the longest row rounded up to 16 and keep each response column's residue mod 16", () => {
    const data = examples().slice(0, 5);
    const legacy = sftBatchArrays(data, T, SFT_SHAPES.legacy);
    const rows = data.map((d) => sftExample(d.prompt, d.response, T));
    expect(Array.from(legacy.x)).toEqual(rows.flatMap((r) => r.x));
    expect(Array.from(legacy.y)).toEqual(rows.flatMap((r) => r.y));
    expect(Array.from(legacy.mask)).toEqual(rows.flatMap((r) => r.mask));
    const longest = Math.max(...data.map((d) => d.prompt.length + d.response.length - 1));
    const a = sftBatchArrays(data, T, SFT_SHAPES.pad16Head);
    expect(a.T).toBe(Math.ceil(longest / 16) * 16);
    expect(a.R % 16).toBe(0);
    // Every mask-1 target of the legacy rows is a mask-1 column of the response rows, at a position with the same residue.
    data.forEach((d, b) => {
      const picked: number[] = [];
      for (let c = 0; c < a.R; c++) {
        if (a.mask[b * a.R + c] !== 1) continue;
        const t = Array.from(a.rows!.subarray((b * a.R + c) * a.T, (b * a.R + c + 1) * a.T)).indexOf(1);
        expect(t % 16).toBe(c % 16);
        expect(a.y[b * a.R + c]).toBe(rows[b].y[t]);
        picked.push(t);
      }
      expect(picked).toEqual(rows[b].mask.flatMap((m, t) => (m === 1 ? [t] : [])));
    });
    expect(() => sftBatchArrays([{ prompt: new Array(90).fill(1), response: new Array(20).fill(2) }], T, DEFAULT_SFT_SHAPE)).toThrow(/exceed the sequence length 100/);
  });
  it("every shape gives the legacy shape's losses and parameters, bit for bit", async () => {
    const ref = await train(SFT_SHAPES.legacy, 4);
    expect(ref.losses.every(Number.isFinite)).toBe(true);
    expect(ref.losses[3]).toBeLessThan(ref.losses[0]);
    for (const [name, shape] of Object.entries(SFT_SHAPES)) {
      if (name === "legacy") continue;
      const got = await train(shape, 4);
      if (shape.padMultiple > 0) expect(Math.min(...got.lengths)).toBeLessThan(T);
      expect({ name, losses: got.losses }).toEqual({ name, losses: ref.losses });
      const diff = got.params.findIndex((v, i) => v !== ref.params[i]);
      expect({ name, diff }).toEqual({ name, diff: -1 });
    }
  });
});
