/**
 * scripts/patch-jax.mjs, the install-time patch of jax-js's wasm codegen (matmul micro-tile; SIMD
 * reciprocal, exp, log; row-block pointer sharing in batched matmuls): it applies to a copy of the
 * installed package, is idempotent, leaves other versions alone, and the patched kernels give
 * bit-identical results to an unpatched copy (the installed package with every edit undone) on
 * matmul shapes with every kind of tail, on batched attention-shaped contractions and on
 * element-wise work with division, exp and log.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
// @ts-expect-error: a plain .mjs script without type declarations
import { patchJax, EDITS, MARK, editsFor } from "../../scripts/patch-jax.mjs";

type Report = { ok: boolean; line: string };
type Edit = { find: string; replace: string };
const editsOf = editsFor as (f: string) => Edit[];
/** The dist/ files the patch edits: the wasm backend and the frontend, each as ESM and CommonJS. */
const PATCHED_FILES = ["backend-CnjgxpXq.js", "backend-TLHPgbCA.cjs", "index.js", "index.cjs"];
const patch = patchJax as (dir: string, opts?: { check?: boolean }) => Report;
const EDIT_15 = "materialise a contraction input under a broadcast";
const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const installed = dirname(dirname(createRequire(join(repo, "package.json")).resolve("@jax-js/jax")));

function copyJax(): string {
  const dir = mkdtempSync(join(tmpdir(), "tf-jaxpatch-"));
  cpSync(join(installed, "package.json"), join(dir, "package.json"));
  cpSync(join(installed, "dist"), join(dir, "dist"), { recursive: true });
  return dir;
}

/** A copy of the installed package with every edit undone but those named in `keep` (the installed one is normally patched). */
function unpatchedJax(keep: string[] = []): string {
  const dir = copyJax();
  for (const f of PATCHED_FILES) {
    let text = readFileSync(join(dir, "dist", f), "utf8");
    for (const e of [...editsOf(f)].reverse()) if (!keep.includes((e as Edit & { name: string }).name)) text = text.replace(e.replace, () => e.find);
    if (keep.length === 0) expect(text).not.toContain(MARK as string);
    writeFileSync(join(dir, "dist", f), text);
  }
  return dir;
}

/** A module that resolves "@jax-js/jax" to the package in `dir`. */
/** A patched copy of jax-js and the unpatched package, each behind its own resolve hook, in a fresh temp folder. */
function patchedPair(prefix: string): { tmp: string; hook: string; plainHook: string } {
  const dir = copyJax();
  patch(dir);
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  return { tmp, hook: resolveHook(tmp, "patched", dir).hook, plainHook: resolveHook(tmp, "plain", unpatchedJax()).hook };
}

/** Runs `script` under a resolve hook and parses the JSON of its last output line. */
function runHooked<T>(hook: string, script: string, env: Record<string, string>): T {
  const out = execFileSync(process.execPath, ["--import", "tsx", "--import", hook, script], { cwd: repo, env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}

function resolveHook(tmp: string, name: string, dir: string): { hook: string; target: string } {
  const hook = join(tmp, `${name}.mjs`);
  const target = pathToFileURL(join(dir, "dist", "index.js")).href;
  writeFileSync(
    hook,
    `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`export async function resolve(s, c, n) { return s === "@jax-js/jax" ? { url: ${JSON.stringify(target)}, shortCircuit: true, format: "module" } : n(s, c); }\`));`,
  );
  return { hook, target };
}

describe("patch-jax", () => {
  it("patches a copy once, reports it, and --check tells patched from unpatched", () => {
    const dir = copyJax();
    const already = readFileSync(join(dir, "dist", "backend-CnjgxpXq.js"), "utf8").includes(MARK as string);
    if (!already) expect(patch(dir, { check: true }).ok).toBe(false);
    const first = patch(dir);
    expect(first.ok).toBe(true);
    const again = patch(dir);
    expect(again.line).toContain("already patched");
    expect(patch(dir, { check: true }).ok).toBe(true);
    for (const f of PATCHED_FILES) {
      const text = readFileSync(join(dir, "dist", f), "utf8");
      for (const e of editsOf(f)) expect(text.includes(e.replace)).toBe(true);
      expect(text.split(MARK as string).length - 1).toBe(editsOf(f).length);
    }
    expect(PATCHED_FILES.map((f) => editsOf(f).length).reduce((a, b) => a + b, 0)).toBe(2 * (EDITS as unknown[]).length);
  });

  it("leaves another jax-js version alone", () => {
    const dir = copyJax();
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string };
    writeFileSync(join(dir, "package.json"), JSON.stringify({ ...pkg, version: "0.2.0" }));
    const r = patch(dir);
    expect(r.line).toContain("left unpatched");
    expect(readFileSync(join(dir, "dist", "backend-CnjgxpXq.js"), "utf8")).toBe(readFileSync(join(installed, "dist", "backend-CnjgxpXq.js"), "utf8"));
  });

  it("gives bit-identical matmuls, softmaxes, norms and gradients with edits 1-14 (tails in rows, vectors and k; batched; A·Bᵀ)", () => {
    const dir = copyJax();
    patch(dir);
    const tmp = mkdtempSync(join(tmpdir(), "tf-jaxpatch-run-"));
    // Both runs resolve "@jax-js/jax" to a copy (the installed package is shared and stays as it is).
    const { hook, target } = resolveHook(tmp, "patched", dir);
    // Edit 15 changes which kernels a frozen operand's gradient uses (its own test, below), and so the last bits of
    // this sweep's one-sided gradients: the copy compared keeps it, so the sweep checks the codegen edits 1-14.
    const { hook: plainHook, target: plainTarget } = resolveHook(tmp, "plain", unpatchedJax([EDIT_15]));
    const script = join(tmp, "sweep.mts");
    writeFileSync(
      script,
      `import { initEngine, np, jnn, jit, grad } from ${JSON.stringify(pathToFileURL(join(repo, "src", "engine", "index.ts")).href)};
await initEngine();
const arr = (shape, s) => np.sin(np.arange(shape.reduce((a, b) => a * b, 1)).astype(np.float32).mul(s)).reshape(shape);
const out = [];
const mm = jit((a, b) => np.matmul(a, b));
for (const m of [1, 3, 5, 16, 33]) for (const k of [7, 32, 100]) for (const n of [4, 12, 20, 48])
  out.push(...(await mm(arr([m, k], 0.013), arr([k, n], 0.029)).data()));
out.push(...(await mm(arr([66, 256], 0.003), arr([256, 136], 0.001)).data()));
out.push(...(await mm(arr([2, 5, 32], 0.011), arr([2, 32, 20], 0.017)).data()));
out.push(...(await jit((a, b) => np.matmul(a, b.transpose()))(arr([9, 64], 0.007), arr([24, 64], 0.019)).data()));
// A·Bᵀ on the k-vectorised kernel, whose lane sums are taken four outputs at a time by a transpose:
// blocks of 4 columns and narrower tails, a plain epilogue (vector store) and a fused one.
const mmT = jit((a, b) => np.matmul(a, b.transpose()));
const mmTEpi = jit((a, b) => np.tanh(np.matmul(a, b.transpose())).mul(3));
for (const [m, k, n] of [[8, 64, 16], [5, 12, 6], [16, 32, 2], [12, 128, 20], [4, 8, 3]]) {
  out.push(...(await mmT(arr([m, k], 0.007), arr([n, k], 0.019)).data()));
  out.push(...(await mmTEpi(arr([m, k], 0.013), arr([n, k], 0.011)).data()));
}
// Batched, attention-shaped contractions (rows of a micro-tile share the other operand within a
// batch entry): p·v, q·kᵀ, p·v with v stored transposed, and both gradients of q·kᵀ.
const bmm = jit((a, b) => np.matmul(a, b));
const bmmT = jit((a, b) => np.matmul(a, b.transpose([0, 1, 3, 2])));
for (const [t, d] of [[8, 32], [12, 8], [6, 20]]) {
  out.push(...(await bmm(arr([2, 3, t, t], 0.017), arr([2, 3, t, d], 0.023)).data()));
  out.push(...(await bmmT(arr([2, 3, t, d], 0.019), arr([2, 3, t, d], 0.007)).data()));
  out.push(...(await bmmT(arr([2, 3, t, t], 0.011), arr([2, 3, d, t], 0.013)).data()));
  const qk = (q, k) => np.tanh(np.matmul(q, k.transpose([0, 1, 3, 2]))).sum();
  out.push(...(await jit(grad(qk))(arr([2, 3, t, d], 0.029), arr([2, 3, t, d], 0.031)).data()));
  out.push(...(await jit(grad((k, q) => qk(q, k)))(arr([2, 3, t, d], 0.031), arr([2, 3, t, d], 0.029)).data()));
}
const loss = (w) => np.tanh(np.matmul(arr([18, 40], 0.021), w)).sum();
out.push(...(await jit(grad(loss))(arr([40, 28], 0.005)).data()));
// Element-wise work with division, exp and log (softmax, log-softmax, sigmoid, a norm), and its gradient.
const x = arr([12, 37], 0.31).mul(3);
out.push(...(await jit((a) => jnn.softmax(a, -1))(x.ref).data()));
out.push(...(await jit((a) => jnn.logSoftmax(a, -1))(x.ref).data()));
out.push(...(await jit((a) => a.ref.mul(jnn.sigmoid(a.mul(1.702))))(x.ref).data()));
out.push(...(await jit((a) => a.ref.div(np.sqrt(a.mul(a.ref).mean(-1, { keepdims: true }).add(1e-5))))(x.ref).data()));
out.push(...(await jit(grad((a) => np.log(np.exp(a).sum(-1)).sum()))(x.ref).data()));
out.push(...(await jit(grad((a) => jnn.logSoftmax(a.ref, -1).mul(a).sum()))(x).data()));
// exp over its whole range: overflow to +inf (k > 127), flush to 0 (k < -126), subnormal results,
// and ±inf and NaN inputs (written as strings: JSON has no such numbers).
const wide = Float32Array.from({ length: 132 }, (_, i) => -111.3 + i * 1.71);
wide.set([Infinity, -Infinity, NaN, 88.72, 88.73, -87.3, -103.9], 0);
for (const v of await jit((a) => np.exp(a))(np.array(wide)).data()) out.push(Number.isFinite(v) ? v : String(v));
// Row maxima and minima over a contiguous last axis (softmax's max), with -0, +0, ±inf and NaN.
const rows = Float32Array.from({ length: 6 * 8 * 64 }, (_, i) => Math.sin(i * 0.37) * 4);
rows.set([-0, 0, 0, -0], 64);
rows.set([Infinity, -Infinity, NaN], 200);
for (const f of [(a) => a.max(-1), (a) => a.min(-1), (a) => jnn.softmax(a, -1)])
  for (const v of await jit(f)(np.array(rows).reshape([6, 8, 64])).data()) out.push(Number.isFinite(v) ? v : String(v));
let jax = ""; // where "@jax-js/jax" resolves from here: only the hook makes it resolvable from this folder
try { jax = import.meta.resolve("@jax-js/jax"); } catch {}
// A large write to a pipe is asynchronous: exit once it is flushed.
process.stdout.write(JSON.stringify({ jax, n: out.length, out: Array.from(out) }) + "\\n", () => process.exit(0));`,
    );
    const run = (extra: string[]) =>
      JSON.parse(
        execFileSync(process.execPath, ["--import", "tsx", ...extra, script], { cwd: repo, env: { ...process.env, TINYFOUNDRY_THREADS: "1" }, encoding: "utf8" })
          .trim()
          .split("\n")
          .pop()!,
      ) as { jax: string; n: number; out: number[] };
    const patched = run(["--import", hook]);
    const plain = run(["--import", plainHook]);
    expect(patched.jax).toBe(target);
    expect(plain.jax).toBe(plainTarget);
    expect(patched.n).toBeGreaterThan(10000);
    expect(patched.out).toEqual(plain.out);
  });
});

/** jax-js's WasmAllocator class out of a backend file's text, on a fake memory that counts its growth. */
function allocatorFrom(file: string): { malloc: (n: number) => number; free: (p: number) => void; getStats: () => { totalAllocated: number } } {
  const text = readFileSync(file, "utf8");
  const a = text.indexOf("const ALLOCATION_ALIGNMENT");
  const b = text.indexOf("//#endregion", text.indexOf("var WasmAllocator = class"));
  const memory = { buffer: { byteLength: 0 }, grow(pages: number) { this.buffer.byteLength += pages * 65536; } };
  const Alloc = new Function(`${text.slice(a, b)}; return WasmAllocator;`)() as new (m: unknown) => ReturnType<typeof allocatorFrom>;
  return new Alloc(memory);
}

describe("patch-jax allocator edit", () => {
  it("reuses a free larger block (up to twice the size) instead of growing, and returns it to its own size class", () => {
    const dir = copyJax();
    patch(dir);
    const KiB = 1024;
    for (const [patched, file] of [[true, join(dir, "dist", "backend-CnjgxpXq.js")], [false, join(unpatchedJax(), "dist", "backend-CnjgxpXq.js")]] as const) {
      const al = allocatorFrom(file);
      const big = al.malloc(1000 * KiB);
      al.free(big);
      const top = al.getStats().totalAllocated;
      const smaller = al.malloc(700 * KiB); // another size class (page-aligned), at most twice smaller
      expect(smaller === big, `patched ${patched}`).toBe(patched);
      expect(al.getStats().totalAllocated === top).toBe(patched);
      if (!patched) continue;
      al.free(smaller);
      expect(al.malloc(1000 * KiB)).toBe(big); // back in the 1000 KiB list
      expect(al.malloc(400 * KiB)).not.toBe(big); // more than twice smaller: not taken (the block is in use anyway)
      const c = al.malloc(300 * KiB);
      al.free(c);
      expect(al.malloc(100 * KiB)).not.toBe(c); // 300 KiB is more than twice 100 KiB: a new block
      expect(al.malloc(32 * KiB)).toBeGreaterThan(0); // small classes are untouched
    }
  });
});

describe("patch-jax edits 9 and 10 (lazy buffer placement, no copy for a shared reshape)", () => {
  it("keeps a 2-thread training step's values, with fewer kernels (no copies of shared reshapes) and memory reused within the step, and never writes over a block a queued kernel still reads nor under a routine's views", () => {
    const { tmp, hook, plainHook } = patchedPair("tf-jaxpatch-lazy-");
    const script = join(tmp, "lazy.mts");
    const src = (f: string) => JSON.stringify(pathToFileURL(join(repo, "src", f)).href);
    writeFileSync(
      script,
      `// Record the wasm memories jax-js makes (before it loads: the imports below are dynamic).
const Mem = WebAssembly.Memory;
const mems = [];
WebAssembly.Memory = function (d) { const m = new Mem(d); mems.push(m); return m; };
WebAssembly.Memory.prototype = Mem.prototype;
const { initEngine, np, jit, crossEntropy, kernelProfile } = await import(${src("engine/index.ts")});
const { defaultLMConfig, initLM, lmForward } = await import(${src("nn/transformer.ts")});
const { adamwInit, defaultAdamW, defaultDecayMask } = await import(${src("optim/adamw.ts")});
const { makeTrainStep } = await import(${src("train/step.ts")});
await initEngine();
const out = { losses: [], hazard: null, wasmBytes: 0, kernels: 0 };
if (process.env.LAZY_CASE === "hazard") {
  // The kernel that reads a runs after a long matmul; a is freed as soon as that kernel is queued,
  // and a new array of a's size is written from the main thread at once: it must not land on a's
  // block while that kernel is still waiting (the pool's threads reply through the event loop).
  const f = jit((x, a) => [np.matmul(x.ref, x).sum(), a.mul(2)]);
  const x = () => np.ones([640, 640]).mul(0.001);
  const A = Float32Array.from({ length: 65536 }, (_, i) => (i % 97) - 48);
  const B = Float32Array.from({ length: 65536 }, (_, i) => 1000 + (i % 13));
  const [s0, a0] = f(x(), np.array(A)); // compile
  await s0.data();
  await a0.data();
  const [s, a2] = f(x(), np.array(A));
  const pa = a2.data();
  for (let i = 0; i < 20; i++) await Promise.resolve(); // let data() submit the program's kernels
  const b = np.array(B);
  const [ra, rb] = [await pa, await b.data()];
  await s.data();
  out.hazard = ra.every((v, i) => v === 2 * A[i]) && rb.every((v, i) => v === B[i]);
} else if (process.env.LAZY_CASE === "routine") {
  // One thread: a routine (sort) runs on the main thread and its output is placed when it runs; that
  // may grow the memory, which must not leave the input's view detached.
  const n = 1 << 20;
  const y = await np.sort(np.array(Float32Array.from({ length: n }, (_, i) => Math.sin(i)))).data();
  out.hazard = y.length === n && y.every((v, i) => i === 0 || y[i - 1] <= v);
} else if (process.env.LAZY_CASE === "reshape-routine") {
  // Edit 10 keeps a shared reshape a view, but a routine (here sort; omni's embedding gradient is a
  // scatter) must get its input materialised: jit threw "routine primitive ... input is not imm".
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const f = jit((a) => { const y = a.mul(2).reshape([64]); return [y.ref.sum(), np.sort(y)]; });
  const [s, y] = f(np.array(x).reshape([8, 8]));
  const want = Array.from(x, (v) => v * 2).sort((p, q) => p - q);
  const got = await y.data();
  out.hazard = Number.isFinite((await s.data())[0]) && want.every((v, i) => Math.fround(v) === got[i]);
} else {
  const cfg = { ...defaultLMConfig, vocabSize: 64, dModel: 32, nHeads: 2, contextLength: 32 };
  let params = initLM(cfg, 0);
  let opt = adamwInit(params);
  const { step } = makeTrainStep((p, x, y) => crossEntropy(lmForward(p, cfg, x).logits, y), { adamw: defaultAdamW, clip: 1, decayMask: defaultDecayMask(params) });
  const train = async (i) => {
    const tok = (k) => np.array(Int32Array.from({ length: 8 * 32 }, (_, j) => (j * 7 + i * 3 + k) % 64), { dtype: np.int32 }).reshape([8, 32]);
    const o = step(params, opt, [tok(0), tok(1)], 1e-2, i);
    params = o.params;
    opt = o.opt;
    out.losses.push(Number((await o.loss.data())[0]));
    o.gradNorm.dispose();
  };
  for (let i = 1; i <= 4; i++) await train(i);
  out.wasmBytes = Math.max(...mems.map((m) => m.buffer.byteLength));
  out.kernels = (await kernelProfile(() => train(5))).kernels;
}
process.stdout.write(JSON.stringify(out) + "\\n", () => process.exit(0));`,
    );
    const run = (h: string, env: Record<string, string>) =>
      runHooked<{ losses: number[]; hazard: boolean | null; wasmBytes: number; kernels: number }>(h, script, { TINYFOUNDRY_THREADS: "2", ...env });
    const patched = run(hook, {});
    const plain = run(plainHook, {});
    expect(patched.losses).toHaveLength(5);
    expect(patched.losses).toEqual(plain.losses);
    // Without the edit every buffer of a step is live at once (and the next step's before the last
    // one's are released); with it, blocks are reused within the step.
    expect(patched.wasmBytes).toBeLessThan(plain.wasmBytes * 0.8);
    // Edit 10: a reshaped value that feeds a contraction and its gradient is no longer copied.
    expect(patched.kernels).toBeLessThan(plain.kernels);
    // Real worker threads that reply through the event loop, so queued kernels wait for a turn.
    const threaded = { TINYFOUNDRY_INLINE_WORKER: "0", TINYFOUNDRY_WORKER_CHANNEL: "message", LAZY_CASE: "hazard" };
    expect(run(hook, threaded).hazard).toBe(true);
    expect(run(hook, { TINYFOUNDRY_THREADS: "1", LAZY_CASE: "routine" }).hazard).toBe(true);
    expect(run(hook, { LAZY_CASE: "reshape-routine" }).hazard).toBe(true);
  });
});

describe("patch-jax edit 12 (small kernels on the main thread)", () => {
  it("runs a kernel of at most 65,536 outputs × reduction length on the main thread with a pool, a larger one on the pool, with the same values as without the edit", () => {
    const { tmp, hook, plainHook } = patchedPair("tf-jaxpatch-main-");
    const script = join(tmp, "main.mts");
    writeFileSync(
      script,
      `const { initEngine, np, jit } = await import(${JSON.stringify(pathToFileURL(join(repo, "src", "engine", "index.ts")).href)});
const info = await initEngine();
// Count the kernel chunks the pool hands to its workers (jax-js makes them at its first dispatch).
const Pool = globalThis.Worker;
let posted = 0;
globalThis.Worker = function (url, o) {
  const w = Pool(url, o);
  const post = w.postMessage.bind(w);
  w.postMessage = (m) => { if (m.type === "kernel") posted++; post(m); };
  return w;
};
const arr = (shape, s) => np.sin(np.arange(shape.reduce((a, b) => a * b, 1)).astype(np.float32).mul(s)).reshape(shape);
const out = { threads: info.threads, posted: [], values: [] };
const cases = [
  ["elementwise 4,096", jit((a) => np.exp(a.mul(0.5)).add(1)), [[64, 64]]],
  ["matmul 64 x 64 x 16 (65,536)", jit((a, b) => np.matmul(a, b)), [[64, 64], [64, 16]]],
  ["matmul 64 x 64 x 32 (131,072)", jit((a, b) => np.matmul(a, b)), [[64, 64], [64, 32]]],
  ["elementwise 76,800", jit((a) => np.tanh(a).mul(3)), [[300, 256]]],
];
for (const [, f, shapes] of cases) {
  const args = () => shapes.map((s, i) => arr(s, 0.013 + 0.007 * i));
  await f(...args()).data(); // compile
  const x = args();
  await Promise.all(x.map((a) => a.ref.data())); // inputs written before counting
  const n0 = posted;
  for (const v of await f(...x).data()) out.values.push(v);
  out.posted.push(posted - n0);
}
process.stdout.write(JSON.stringify(out) + "\\n", () => process.exit(0));`,
    );
    const run = (h: string) =>
      runHooked<{ threads: number; posted: number[]; values: number[] }>(h, script, { TINYFOUNDRY_THREADS: "2" });
    const patched = run(hook);
    const plain = run(plainHook);
    expect(patched.threads).toBe(2);
    // Without the edit every case is split over both workers (the first runs inline in our shim, but through the pool's messages).
    expect(plain.posted).toEqual([2, 2, 2, 2]);
    expect(patched.posted).toEqual([0, 0, 2, 2]);
    expect(patched.values.length).toBe(64 * 64 + 64 * 16 + 64 * 32 + 300 * 256);
    expect(patched.values).toEqual(plain.values);
  });
});

describe("patch-jax edit 13 (prepared kernel per Kernel object)", () => {
  it("hashes a jit program's kernels at its first call only, with the same values as without the edit", () => {
    const { tmp, hook, plainHook } = patchedPair("tf-jaxpatch-prep-");
    const script = join(tmp, "prep.mts");
    writeFileSync(
      script,
      `const { initEngine, np, jit } = await import(${JSON.stringify(pathToFileURL(join(repo, "src", "engine", "index.ts")).href)});
await initEngine();
// jax-js's backend chunk (the one its index imports) exports FpHash as R and Kernel as O: count kernel hashes.
const be = await import(new URL("backend-CnjgxpXq.js", import.meta.resolve("@jax-js/jax")).href);
const hash = be.R.hash.bind(be.R);
let hashed = 0;
be.R.hash = (x) => { if (x instanceof be.O) hashed++; return hash(x); };
const f = jit((a, b) => np.tanh(np.matmul(a.ref, b)).add(a.sum()));
const arr = (s) => np.sin(np.arange(64 * 64).astype(np.float32).mul(s)).reshape([64, 64]);
const out = { hashes: [], values: [] };
for (let call = 0; call < 3; call++) {
  const x = [arr(0.01 + call), arr(0.02)];
  await Promise.all(x.map((a) => a.ref.data()));
  const n0 = hashed;
  for (const v of await f(...x).data()) out.values.push(v);
  out.hashes.push(hashed - n0);
}
process.stdout.write(JSON.stringify(out) + "\\n", () => process.exit(0));`,
    );
    const run = (h: string, threads: string) =>
      runHooked<{ hashes: number[]; values: number[] }>(h, script, { TINYFOUNDRY_THREADS: threads });
    for (const threads of ["1", "2"]) {
      const patched = run(hook, threads);
      const plain = run(plainHook, threads);
      // The unpatched backend hashes every kernel at every call; the patched one at the first call only.
      expect(plain.hashes[0]).toBeGreaterThan(1);
      expect(plain.hashes).toEqual([plain.hashes[0], plain.hashes[0], plain.hashes[0]]);
      expect(patched.hashes).toEqual([plain.hashes[0], 0, 0]);
      expect(patched.values).toHaveLength(3 * 64 * 64);
      expect(patched.values).toEqual(plain.values);
    }
  });
});

describe("patch-jax edit 14 (a jit call's outputs share one set of pending executes)", () => {
  it("builds one set per jit call instead of one per output, with the same values and live buffers as without the edit", () => {
    const { tmp, hook, plainHook } = patchedPair("tf-jaxpatch-pending-");
    const script = join(tmp, "pending.mts");
    writeFileSync(
      script,
      `const { initEngine, np, jit } = await import(${JSON.stringify(pathToFileURL(join(repo, "src", "engine", "index.ts")).href)});
await initEngine();
// Live slots of the wasm backend of the jax-js this script runs on (the copy: src/engine's liveBuffers counts the
// installed package's), mirrored from its malloc/incRef/decRef; the backend chunk exports getBackend as s.
const be = await import(new URL("backend-CnjgxpXq.js", import.meta.resolve("@jax-js/jax")).href);
const wasm = be.s("wasm");
const refs = new Map();
const [malloc, incRef, decRef] = [wasm.malloc.bind(wasm), wasm.incRef.bind(wasm), wasm.decRef.bind(wasm)];
wasm.malloc = (size, init) => { const slot = malloc(size, init); refs.set(slot, 1); return slot; };
wasm.incRef = (slot) => { incRef(slot); refs.set(slot, (refs.get(slot) ?? 0) + 1); };
wasm.decRef = (slot) => { decRef(slot); const c = (refs.get(slot) ?? 1) - 1; if (c <= 0) refs.delete(slot); else refs.set(slot, c); };
const liveBuffers = () => refs.size;
// 12 outputs from one call (a matmul, element-wise work, a reduction), and a second jit that consumes some of them.
const f = jit((a, b) => { const m = np.matmul(a.ref, b.ref); return [m.ref.sum(), ...Array.from({ length: 10 }, (_, i) => np.tanh(m.ref.mul(0.1 * (i + 1))).add(b.ref)), m]; });
const g = jit((u, v, w) => np.matmul(u, v).add(w.sum()));
const arr = (s) => np.sin(np.arange(32 * 32).astype(np.float32).mul(s)).reshape([32, 32]);
const NativeSet = globalThis.Set;
let sets = 0;
const out = { sets: [], values: [], live: [], held: [] };
const base = liveBuffers();
for (let call = 0; call < 3; call++) {
  const x = [arr(0.01 + call), arr(0.02)];
  await Promise.all(x.map((a) => a.ref.data()));
  // Count the Sets that jax-js builds during the call itself (it looks the global up at each use).
  globalThis.Set = class extends NativeSet { constructor(it) { super(it); sets++; } };
  const s0 = sets;
  const o = f(...x);
  out.sets.push(sets - s0);
  globalThis.Set = NativeSet;
  out.held.push(liveBuffers() - base);
  // Consumed in different orders: one output disposed unread (its executes not yet submitted), three passed on to
  // another jit call before any read (their pending executes carried over), the rest read one by one.
  o[1].dispose();
  const h = g(o[2], o[3], o[4]);
  for (const v of await o[0].data()) out.values.push(v);
  for (const v of await h.data()) out.values.push(v);
  for (let i = 5; i < o.length; i++) for (const v of await o[i].data()) out.values.push(v);
  out.live.push(liveBuffers() - base);
}
process.stdout.write(JSON.stringify(out) + "\\n", () => process.exit(0));`,
    );
    const run = (h: string, threads: string) =>
      runHooked<{ sets: number[]; values: number[]; live: number[]; held: number[] }>(h, script, { TINYFOUNDRY_THREADS: threads });
    for (const threads of ["1", "2"]) {
      const patched = run(hook, threads);
      const plain = run(plainHook, threads);
      // Unpatched: a Set per output (12) at every call; patched: the 12 share one, so 11 fewer.
      expect(plain.sets[1]).toBeGreaterThanOrEqual(12);
      expect(patched.sets).toEqual(plain.sets.map((n) => n - 11));
      expect(patched.values).toHaveLength(3 * (1 + 32 * 32 * 8));
      expect(patched.values).toEqual(plain.values);
      // The call holds its outputs' and its executes' buffers, as many with the edit as without, and every one of
      // them is freed again once the outputs are consumed.
      expect(plain.held[0]).toBeGreaterThanOrEqual(12);
      expect(patched.held).toEqual(plain.held);
      expect(plain.live).toEqual([0, 0, 0]);
      expect(patched.live).toEqual([0, 0, 0]);
    }
  });
});

describe("patch-jax edit 15 (a contraction input under a broadcast is materialised)", () => {
  it("computes a frozen projection's input gradient with a plain matmul kernel instead of re-adding the split's gradients per output; where both gradients are taken the values are those without the edit", () => {
    const { tmp, hook, plainHook } = patchedPair("tf-jaxpatch-bcast-");
    const script = join(tmp, "bcast.mts");
    writeFileSync(
      script,
      `const { initEngine, np, jit, grad, kernelProfile } = await import(${JSON.stringify(pathToFileURL(join(repo, "src", "engine", "index.ts")).href)});
await initEngine();
const arr = (shape, s) => np.sin(np.arange(shape.reduce((a, b) => a * b, 1)).astype(np.float32).mul(s)).reshape(shape);
// Attention's projection: one matmul to q|k|v, split; its gradient is the split's gradient (a concatenate) times Wᵀ.
const loss = (x, w) => {
  const [q, k, v] = np.split(np.matmul(x, w), 3, -1);
  return np.tanh(q).mul(np.tanh(k)).mul(v).sum();
};
const cases = {
  frozen: jit((x, w) => grad((xx) => loss(xx, w))(x)), // w a constant: the concatenate feeds one contraction
  both: jit((x, w) => grad(loss, { argnums: [0, 1] })(x, w)), // the concatenate also feeds dW: a kernel of its own already
};
const out = {};
for (const [name, f] of Object.entries(cases)) {
  const args = () => [arr([6, 8, 32], 0.013), arr([32, 96], 0.0071)];
  await Promise.all([f(...args())].flat().map((a) => a.data())); // compile
  const x = args();
  await Promise.all(x.map((a) => a.ref.data()));
  const values = [];
  const prof = await kernelProfile(async () => {
    for (const a of [f(...x)].flat()) values.push(...(await a.data()));
  });
  out[name] = { kernels: prof.kernels, reductions: prof.reductions, matmuls: prof.matmuls, values };
}
process.stdout.write(JSON.stringify(out) + "\\n", () => process.exit(0));`,
    );
    type Case = { kernels: number; reductions: number; matmuls: number; values: number[] };
    const run = (h: string) => runHooked<{ frozen: Case; both: Case }>(h, script, { TINYFOUNDRY_THREADS: "1" });
    const patched = run(hook);
    const plain = run(plainHook);
    // Without the edit the input gradient's contraction reads q', k', v' and adds them inside its k loop: a reduction
    // that is not a plain matmul (jax-js's scalar path). With it the concatenate is a kernel and the contraction a matmul.
    expect(plain.frozen.reductions - plain.frozen.matmuls).toBeGreaterThanOrEqual(1);
    expect(patched.frozen.kernels).toBe(plain.frozen.kernels + 1);
    expect(patched.frozen.matmuls).toBe(plain.frozen.matmuls + 1);
    expect(patched.frozen.values).toHaveLength(6 * 8 * 32);
    // The same sums in another kernel: equal up to float32 rounding (the matmul path may fuse multiply-adds).
    for (const [i, v] of patched.frozen.values.entries()) expect(Math.abs(v - plain.frozen.values[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(v)));
    // Both gradients taken: the concatenate already had two consumers and its own kernel; values bit-identical.
    expect(patched.both.kernels).toBeLessThanOrEqual(plain.both.kernels);
    expect(patched.both.values).toHaveLength(6 * 8 * 32 + 32 * 96);
    expect(patched.both.values).toEqual(plain.both.values);
  });
});
