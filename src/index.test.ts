import { describe, expect, it } from "vitest";
import { initEngine, crossEntropy, initLM, lmForward, adamwInit, defaultAdamW, defaultDecayMask, makeTrainStep, np, type Array, type LMConfig, type LMParams } from "tinyfoundry";

describe("the README's library example, imported by package name", () => {
  it("runs one jitted step and returns a finite loss", async () => {
    await initEngine();
    const cfg: LMConfig = { vocabSize: 256, dModel: 32, nLayers: 1, nHeads: 4, contextLength: 16, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 8 / 3, tiedHead: true, bias: false };
    let params = initLM(cfg, 0);
    let opt = adamwInit(params);
    const loss = (p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y);
    const { step } = makeTrainStep(loss, { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
    const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 37) % 256);
    const x = np.array(ids, { dtype: np.int32 }).reshape([2, 16]);
    const y = np.array(ids.map((v) => (v + 1) % 256), { dtype: np.int32 }).reshape([2, 16]);
    const out = step(params, opt, [x, y], 1e-3, 1);
    params = out.params;
    opt = out.opt;
    const l = (await out.loss.data())[0];
    expect(l).toBeGreaterThan(5);
    expect(l).toBeLessThan(6.5); // ≈ ln 256 = 5.55 at initialisation
  });
});
