/**
 * CPU milliseconds per call of the reference step's matmul shapes (MLP and projections, their
 * gradients with a transposed operand, and attention's batched contractions), one JSON line.
 * Not part of `npm run bench`. For an A/B of a jax-js codegen change there are two ways:
 *
 * - run it alternately against two copies of the package with a resolve hook (see
 *   src/engine/jax-patch.test.ts), e.g. `TINYFOUNDRY_THREADS=1 node --import ./hookA.mjs --import tsx bench/mm-shapes.mts`;
 * - or, steadier on a shared machine, in one process: `JAX_B=/path/to/copy/dist/index.js` loads a
 *   second copy beside the resolved one and times both in interleaved rounds (ROUNDS, default 5),
 *   printing per-shape medians and the ratio A/B (above 1: B is faster). The order alternates by
 *   round; the two loaded copies still differ by a few per cent with identical code (an A/A run
 *   gave 0.90-1.04), so also run the swapped pair (the B copy resolved by a hook, JAX_B = the A
 *   copy) and take the geometric mean of A/B and 1 / (B/A).
 */
import { initEngine, np, jit, type Array } from "../src/engine/index.js";
import { pathToFileURL } from "node:url";
await initEngine();
type Np = typeof np;
const shapes: [string, (n: Np, a: Array, b: Array) => Array, number[], number[]][] = [
  ["x·W 2048x128·128x512", (n, a, b) => n.matmul(a, b), [2048, 128], [128, 512]],
  ["x·W 2048x512·512x128", (n, a, b) => n.matmul(a, b), [2048, 512], [512, 128]],
  ["x·W 2048x128·128x256", (n, a, b) => n.matmul(a, b), [2048, 128], [128, 256]],
  ["dW xᵀ·g 128x2048·2048x512", (n, a, b) => n.matmul(a.transpose(), b), [2048, 128], [2048, 512]],
  ["dx g·Wᵀ 2048x512·512x128", (n, a, b) => n.matmul(a, b.transpose()), [2048, 512], [128, 512]],
  ["dx g·Wᵀ 2048x128·(512x128)ᵀ", (n, a, b) => n.matmul(a, b.transpose()), [2048, 128], [512, 128]],
  ["attn q·kᵀ 64x128x32", (n, a, b) => n.matmul(a, b.transpose([0, 2, 1])), [64, 128, 32], [64, 128, 32]],
  ["attn p·v 64x128x128·128x32", (n, a, b) => n.matmul(a, b), [64, 128, 128], [64, 128, 32]],
  ["attn p·(vᵀ)ᵀ 64x128x128·(32x128)ᵀ", (n, a, b) => n.matmul(a, b.transpose([0, 2, 1])), [64, 128, 128], [64, 32, 128]],
];
type Jax = { numpy: Np; jit: typeof jit; init?: () => Promise<string[]>; defaultDevice?: (d: string) => void };
/** A timer per shape for one copy of jax-js: CPU ms per call over `reps` calls. */
function timers(n: Np, j: typeof jit) {
  return shapes.map(([, f, sa, sb]) => {
    const a = n.ones(sa);
    const b = n.ones(sb);
    const g = j((x: Array, y: Array) => f(n, x, y).sum());
    return async (reps: number) => {
      const c0 = process.cpuUsage();
      for (let i = 0; i < reps; i++) await g(a.ref, b.ref).data();
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / 1000 / reps;
    };
  });
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor((xs.length - 1) / 2)];
const second = process.env.JAX_B;
if (!second) {
  const ts = timers(np, jit);
  const out: Record<string, number> = {};
  for (let s = 0; s < shapes.length; s++) {
    await ts[s](2);
    out[shapes[s][0]] = await ts[s](6);
  }
  console.log(JSON.stringify(out));
} else {
  const jb = (await import(pathToFileURL(second).href)) as Jax;
  await jb.init?.();
  jb.defaultDevice?.("wasm");
  const variants = [timers(np, jit), timers(jb.numpy, jb.jit)];
  for (const ts of variants) for (const t of ts) await t(2);
  const rounds = Number(process.env.ROUNDS ?? 5);
  const ms = variants.map(() => shapes.map(() => [] as number[]));
  for (let r = 0; r < rounds; r++)
    for (let s = 0; s < shapes.length; s++)
      for (const v of r % 2 ? [1, 0] : [0, 1]) ms[v][s].push(await variants[v][s](6));
  const out: Record<string, { a: number; b: number; aOverB: number; paired: number[] }> = {};
  shapes.forEach(([name], s) => {
    const [a, b] = [median(ms[0][s]), median(ms[1][s])];
    out[name] = { a: +a.toFixed(3), b: +b.toFixed(3), aOverB: +(a / b).toFixed(3), paired: ms[0][s].map((x, i) => +(x / ms[1][s][i]).toFixed(2)) };
  });
  console.log(JSON.stringify(out, null, 1));
}
process.exit(0);
