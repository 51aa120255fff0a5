/**
 * CPU milliseconds per call of the reference step's matmul shapes (MLP and projections, their
 * gradients with a transposed operand, and attention's batched contractions), one JSON line.
 * Not part of `npm run bench`. For an A/B of a jax-js codegen change, run it alternately against
 * two copies of the package with a resolve hook (see src/engine/jax-patch.test.ts), e.g.
 *
 *   TINYFOUNDRY_THREADS=1 node --import ./hookA.mjs --import tsx bench/mm-shapes.mts
 */
import { initEngine, np, jit, type Array } from "../src/engine/index.js";
await initEngine();
const shapes: [string, (a: Array, b: Array) => Array, number[], number[]][] = [
  ["x·W 2048x128·128x512", (a, b) => np.matmul(a, b), [2048, 128], [128, 512]],
  ["x·W 2048x512·512x128", (a, b) => np.matmul(a, b), [2048, 512], [512, 128]],
  ["x·W 2048x128·128x256", (a, b) => np.matmul(a, b), [2048, 128], [128, 256]],
  ["dW xᵀ·g 128x2048·2048x512", (a, b) => np.matmul(a.transpose(), b), [2048, 128], [2048, 512]],
  ["dx g·Wᵀ 2048x512·512x128", (a, b) => np.matmul(a, b.transpose()), [2048, 512], [128, 512]],
  ["dx g·Wᵀ 2048x128·(512x128)ᵀ", (a, b) => np.matmul(a, b.transpose()), [2048, 128], [512, 128]],
  ["attn q·kᵀ 64x128x32", (a, b) => np.matmul(a, b.transpose([0, 2, 1])), [64, 128, 32], [64, 128, 32]],
  ["attn p·v 64x128x128·128x32", (a, b) => np.matmul(a, b), [64, 128, 128], [64, 128, 32]],
  ["attn p·(vᵀ)ᵀ 64x128x128·(32x128)ᵀ", (a, b) => np.matmul(a, b.transpose([0, 2, 1])), [64, 128, 128], [64, 32, 128]],
];
const out: Record<string, number> = {};
for (const [name, f, sa, sb] of shapes) {
  const a = np.ones(sa);
  const b = np.ones(sb);
  const g = jit((x: Array, y: Array) => f(x, y).sum());
  for (let i = 0; i < 2; i++) await g(a.ref, b.ref).data();
  const reps = 6;
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) await g(a.ref, b.ref).data();
  const c = process.cpuUsage(c0);
  out[name] = (c.user + c.system) / 1000 / reps;
}
console.log(JSON.stringify(out));
process.exit(0);
