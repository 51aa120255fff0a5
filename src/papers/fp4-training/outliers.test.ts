import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, jit, valueAndGrad, tree, crossEntropy, type Array } from "../../engine/index.js";
import { initLM, lmForward, defaultLMConfig, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { denseLinear, type LinearFn } from "../../nn/linear.js";
import { FP4_SITES, fp4LinearFn, fp4QuantizeValue, defaultActivationQuant } from "./model.js";
import { injectIntoRows, injectOutlierChannel } from "./outliers.js";
import { fidelity } from "./metrics.js";

beforeAll(async () => {
  await initEngine();
});

const model: LMConfig = { ...defaultLMConfig, vocabSize: 64, dModel: 32, nLayers: 2, nHeads: 2, contextLength: 16, norm: "layer", pos: "learned", mlp: "gelu", mlpRatio: 4 };
const tokens = () => np.array(Int32Array.from({ length: 32 }, (_, i) => (i * 7 + 3) % 64), { dtype: np.int32 }).reshape([2, 16]);
const INJ = { channel: 5, factor: 16, sites: FP4_SITES };

async function logits(p: LMParams, linearFn: LinearFn, m: LMConfig = model): Promise<Float32Array> {
  const f = jit((pp: LMParams, x: Array) => lmForward(pp, m, x, { linearFn }).logits);
  const out = (await f(tree.ref(p), tokens()).data()) as Float32Array;
  f.dispose();
  return out;
}

describe("the mechanism test's outlier channel", () => {
  it("leaves the fp32 forward output unchanged (channel x16, weight row /16)", async () => {
    const p = initLM(model, 0);
    const plain = await logits(p, denseLinear);
    const injected = await logits(p, injectOutlierChannel(denseLinear, INJ));
    let maxDiff = 0;
    for (let i = 0; i < plain.length; i++) maxDiff = Math.max(maxDiff, Math.abs(plain[i] - injected[i]));
    expect(maxDiff).toBeLessThanOrEqual(1e-5); // a power of two: in practice bit for bit
    tree.dispose(p);
  });

  it("leaves the fp32 gradients unchanged too (so fp32 trained with it is the fp32 arm)", async () => {
    const p = initLM(model, 1);
    const grads = async (linearFn: LinearFn) => {
      const f = jit((pp: LMParams, x: Array, y: Array) => valueAndGrad((q: LMParams) => crossEntropy(lmForward(q, model, x.ref, { linearFn }).logits, y.ref))(pp));
      const [loss, g] = f(tree.ref(p), tokens(), tokens());
      const out = [Number((await loss.data())[0]), ...Array.from((await g.blocks[0].mlp.down.w.ref.data()) as Float32Array), ...Array.from((await g.blocks[1].attn.qkv.w.ref.data()) as Float32Array)];
      tree.dispose(g);
      f.dispose();
      return out;
    };
    const a = await grads(denseLinear);
    const b = await grads(injectOutlierChannel(denseLinear, INJ));
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(a[i]));
    tree.dispose(p);
  });

  it("changes what an FP4 quantizer sees: the direct cast's output moves, far more than OCC's", async () => {
    // Width 128: OCC at α = 0.99 clamps one value at each end of a row (none below 100 values).
    const wide: LMConfig = { ...model, dModel: 128, nLayers: 1, nHeads: 4 };
    const p = initLM(wide, 2);
    const fp32 = await logits(p, denseLinear, wide);
    const err = async (occ: "none" | "compensate", inject: boolean) => {
      const fn = fp4LinearFn({ weight: "fp8", activation: { ...defaultActivationQuant, occ }, sites: FP4_SITES });
      const out = await logits(p, inject ? injectOutlierChannel(fn, INJ) : fn, wide);
      return fidelity(fp32, out).snrDb;
    };
    const direct = await err("none", true);
    const occ = await err("compensate", true);
    expect(direct).toBeLessThan((await err("none", false)) - 3);
    expect(occ).toBeGreaterThan(direct + 3);
    tree.dispose(p);
  });

  it("injects into captured rows the same way (a scaled copy)", async () => {
    const a = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), rows: 2, cols: 3 };
    const b = injectIntoRows(a, { channel: 4, factor: 16 }); // 4 mod 3 = channel 1
    expect(Array.from(b.data)).toEqual([1, 32, 3, 4, 80, 6]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
    // The quick check of the issue: a ×16 channel drops the direct cast's SNR on Gaussian-like rows.
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const n = 64;
    const c = 128;
    const x = Float32Array.from({ length: n * c }, () => rnd() + rnd() + rnd());
    const xi = injectIntoRows({ data: x, rows: n, cols: c }, { channel: 0, factor: 16 }).data;
    const q = async (d: Float32Array, occ: "none" | "compensate") => (await fp4QuantizeValue(np.array(d).reshape([n, c]), { format: "e2m1", granularity: "token", clamp: occ, quantile: 0.99, clampAxis: "token" }).data()) as Float32Array;
    const natural = fidelity(x, await q(x, "none")).snrDb;
    const direct = fidelity(xi, await q(xi, "none")).snrDb;
    const occ = fidelity(xi, await q(xi, "compensate")).snrDb;
    expect(direct).toBeLessThan(natural - 3);
    expect(occ).toBeGreaterThan(direct + 5);
  });
});
