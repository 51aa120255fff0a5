// Pilot for patch-jax edit 15 (issue 25; src/engine/README.md): the input gradient of a frozen attention projection
// (x [240, 8, 64] · W [64, 192] split into q | k | v, as omni's depth transformer when its head is frozen), with the
// installed (patched) jax-js against a copy with edit 15 undone, in interleaved fresh processes, 1 wasm thread.
// Prints ms per jitted call (median of 20 calls) per round, the paired ratios, and whether the values agree.
// With W differentiated too (`both`), the edit changes nothing, so that case is the control.
// Usage: npx tsx scripts/pilots/speed-frozen-grad.mts [rounds]
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
// @ts-expect-error: a plain .mjs script without type declarations
import { EDITS } from "../patch-jax.mjs";
import { patchedJaxCopy } from "./jax-copy.mjs";

const rounds = Number(process.argv[2] ?? 5);
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The installed (patched) jax-js with edit 15 undone, in the frontend the hook resolves to (dist/index.js).
const edit = (EDITS as { name: string; find: string; replace: string }[]).find((e) => e.name === "materialise a contraction input under a broadcast")!;
const { dir: tmp, hook } = patchedJaxCopy("tf-frozen-grad-", [[edit.replace, edit.find, "index"]]);
const script = join(tmp, "case.mts");
writeFileSync(
  script,
  `import { initEngine, np, jit, grad, blockUntilReady } from ${JSON.stringify(pathToFileURL(join(repo, "src", "engine", "index.ts")).href)};
await initEngine();
const arr = (shape, s) => np.sin(np.arange(shape.reduce((a, b) => a * b, 1)).astype(np.float32).mul(s)).reshape(shape);
const loss = (x, w) => {
  const [q, k, v] = np.split(np.matmul(x, w), 3, -1);
  return np.tanh(q).mul(np.tanh(k)).mul(v).sum();
};
const cases = { frozen: jit((x, w) => grad((xx) => loss(xx, w))(x)), both: jit((x, w) => grad(loss, { argnums: [0, 1] })(x, w)) };
const X = arr([240, 8, 64], 0.013), W = arr([64, 192], 0.0071).mul(0.1);
const out = {};
for (const [name, f] of Object.entries(cases)) {
  await blockUntilReady(f(X.ref, W.ref));
  const ms = [];
  let last;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    last = f(X.ref, W.ref);
    await blockUntilReady(last);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const values = Array.from(await [last].flat()[0].data());
  // The frozen case's values for the comparison; the control's as a hash of their float32 bits.
  let h = 2166136261;
  for (const b of new Uint8Array(Float32Array.from(values).buffer)) h = Math.imul(h ^ b, 16777619) >>> 0;
  out[name] = { ms: ms[10], values: name === "frozen" ? values : [], hash: h };
}
process.stdout.write(JSON.stringify(out) + "\\n", () => process.exit(0));`,
);
type Out = Record<"frozen" | "both", { ms: number; values: number[]; hash: number }>;
const run = (extra: string[]): Out =>
  JSON.parse(execFileSync(process.execPath, ["--import", "tsx", ...extra, script], { cwd: repo, env: { ...process.env, TINYFOUNDRY_THREADS: "1" }, encoding: "utf8", maxBuffer: 1 << 28 }).trim().split("\n").pop()!) as Out;
const ratios: Record<string, number[]> = { frozen: [], both: [] };
let maxRel = 0;
let bothEqual = true;
for (let r = 0; r < rounds; r++) {
  // Alternate which variant runs first in a round.
  const [a, b] = r % 2 === 0 ? [run(["--import", hook]), run([])] : (([p, q]) => [q, p])([run([]), run(["--import", hook])]);
  for (const k of ["frozen", "both"] as const) ratios[k].push(a[k].ms / b[k].ms);
  for (const [i, v] of b.frozen.values.entries()) maxRel = Math.max(maxRel, Math.abs(v - a.frozen.values[i]) / (1e-6 + Math.abs(a.frozen.values[i])));
  bothEqual &&= a.both.hash === b.both.hash;
  console.log(`round ${r + 1}: frozen ${a.frozen.ms.toFixed(2)} -> ${b.frozen.ms.toFixed(2)} ms, both ${a.both.ms.toFixed(2)} -> ${b.both.ms.toFixed(2)} ms (without -> with edit 15)`);
}
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const k of ["frozen", "both"]) console.log(`${k}: paired speed-up ${ratios[k].map((x) => x.toFixed(2)).join(", ")} (median ${med(ratios[k]).toFixed(2)}x)`);
console.log(`frozen input gradient: largest relative difference ${maxRel.toExponential(2)}; both gradients bit-identical: ${bothEqual}`);
