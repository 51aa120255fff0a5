import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, np, jit, kernelProfile, isMatmulKernel, type Array } from "./index.js";

beforeAll(async () => {
  await initEngine();
});

describe("kernelProfile", () => {
  it("counts the kernels of a jitted program and times the matmul among them (one thread)", async () => {
    const f = jit((a: Array, b: Array) => np.tanh(np.matmul(a, b)).sum());
    const a = np.ones([64, 32]);
    const b = np.ones([32, 48]);
    await f(a.ref, b.ref).data(); // compile outside the trace
    const p = await kernelProfile(async () => {
      await f(a.ref, b.ref).data();
    });
    a.dispose();
    b.dispose();
    f.dispose();
    expect(p.kernels).toBeGreaterThanOrEqual(1);
    expect(p.matmuls).toBe(1);
    expect(p.dispatches).toBe(p.kernels + p.routines);
    expect(p.timed).toBe(true); // tests run with one wasm thread
    expect(p.msMatmul).toBeGreaterThan(0);
    expect(p.matmulShare).toBeGreaterThan(0);
    expect(p.matmulShare).toBeLessThanOrEqual(1);
  });

  it("tells a matmul from a sum of squares and from other reductions", () => {
    const A = "GV_0<float32>{64,48,32:32,0,1:nc}[($gidx:int32 / 48) % 64, $gidx:int32 % 48, $ridx:int32]";
    const B = "GV_1<float32>{64,48,32:0,1,48:nc}[($gidx:int32 / 48) % 64, $gidx:int32 % 48, $ridx:int32]";
    expect(isMatmulKernel({ reduction: "Add:32", exp: `(${A} * ${B})` })).toBe(true);
    expect(isMatmulKernel({ reduction: "Add:32", exp: `(${A} * ${A})` })).toBe(false);
    expect(isMatmulKernel({ reduction: "Max:32", exp: `(${A} * ${B})` })).toBe(false);
    expect(isMatmulKernel({ exp: `(${A} * ${B})` })).toBe(false);
    expect(isMatmulKernel({ reduction: "Add:32", exp: `Exp(${A})` })).toBe(false);
  });
});
