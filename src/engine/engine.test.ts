import { beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine, np, lax, jit, crossEntropy, quantile, liveBuffers, jitTyped, valueAndGradTyped, refTree, disposeTree, type Array } from "./index.js";
import { assertClose, finiteDiffCheck, bufferGrowth } from "./testing.js";
import { SharedChannelWorker, setChunkClaim } from "./node-shims.js";

beforeAll(async () => {
  await initEngine();
});
const host = async (a: Array) => Array.from((await a.data()) as Float32Array);

describe("engine helpers", () => {
  it("crossEntropy equals -mean log softmax[target], with and without a mask", async () => {
    const logits = [0.1, 2.0, -1.0, 0.5, 0.3, 0.3, 1.5, -0.2, 0.0];
    const targets = [1, 2, 0];
    const ref = targets.map((t, r) => {
      const row = logits.slice(r * 3, r * 3 + 3);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      return lse - row[t];
    });
    const L = () => np.array(Float32Array.from(logits)).reshape([3, 3]);
    const T = () => np.array(Int32Array.from(targets), { dtype: np.int32 });
    const full = (await host(crossEntropy(L(), T())))[0];
    expect(full).toBeCloseTo((ref[0] + ref[1] + ref[2]) / 3, 5);
    const masked = (await host(crossEntropy(L(), T(), np.array(Float32Array.from([1, 0, 1])))))[0];
    expect(masked).toBeCloseTo((ref[0] + ref[2]) / 2, 5);
  });
  it("jax-js 0.1.25's matmul of a 2-D by a 3-D array does not broadcast the 2-D side as NumPy does (known bug; mergeRecentKV broadcasts by hand)", async () => {
    // NumPy: [3, 2] @ [2, 2, 2] -> [2, 3, 2] (a broadcast over the batch). When this fails, the bug
    // is fixed upstream and the explicit broadcastTo in mergeRecentKV can go.
    const a = np.array(Float32Array.from([1, 0, 0, 1, 0, 0])).reshape([3, 2]);
    const b = np.arange(8).astype(np.float32).reshape([2, 2, 2]);
    const c = np.matmul(a, b);
    expect(c.shape).toEqual([3, 2, 2]);
    c.dispose();
  });
  it("crossEntropy differentiates under jit (the gather bug workaround)", async () => {
    const f = jit((l: Array, t: Array) => crossEntropy(l, t));
    const v = await host(f(np.zeros([2, 4]), np.array(Int32Array.from([1, 3]), { dtype: np.int32 })));
    expect(v[0]).toBeCloseTo(Math.log(4), 5);
  });
  it("quantile matches NumPy's linear interpolation", async () => {
    // numpy.quantile([3, 1, 4, 1, 5, 9, 2, 6], q) for q = 0.5, 0.99, 0
    const x = () => np.array(Float32Array.from([3, 1, 4, 1, 5, 9, 2, 6]));
    expect((await host(quantile(x(), 0.5)))[0]).toBeCloseTo(3.5, 5);
    expect((await host(quantile(x(), 0.99)))[0]).toBeCloseTo(8.79, 4);
    expect((await host(quantile(x(), 0)))[0]).toBeCloseTo(1, 6);
    const rows = np.array(Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40])).reshape([2, 4]);
    assertClose(await host(quantile(rows, 0.25, -1)), [1.75, 17.5], { atol: 1e-5 });
    expect(() => quantile(np.zeros([2]), 1.5)).toThrow(/q must be in \[0, 1\]/);
  });
  it("jitTyped and valueAndGradTyped keep a params object's type and values", async () => {
    type P = { w: Array; b?: Array };
    const loss = (p: P, x: Array) => p.w.mul(x).sum().add(p.b ? p.b.sum() : 0);
    const step = jitTyped((p: P, x: Array) => {
      const [value, g] = valueAndGradTyped(loss)(refTree(p), x.ref);
      disposeTree(p);
      x.dispose();
      return { value, g };
    });
    const p: P = { w: np.array(Float32Array.from([1, 2])), b: np.array(Float32Array.from([0.5])) };
    const { value, g } = step(p, np.array(Float32Array.from([3, 4])));
    expect((await host(value))[0]).toBeCloseTo(11.5, 5);
    assertClose(await host(g.w), [3, 4]);
    assertClose(await host(g.b!), [1]);
    step.dispose();
  });
  it("finiteDiffCheck catches a wrong gradient", async () => {
    // forward x², gradient 1 (straight-through): must be flagged; the true x² must pass.
    const wrong = (p: { x: Array }) => p.x.ref.add(lax.stopGradient(p.x.ref.mul(p.x.ref).sub(p.x))).sum();
    const right = (p: { x: Array }) => p.x.ref.mul(p.x).sum();
    const x = () => ({ x: np.array(Float32Array.from([0.5, -1.5, 2])) });
    expect(await finiteDiffCheck(wrong, x())).toBeGreaterThan(10);
    expect(await finiteDiffCheck(right, x())).toBeLessThan(1);
  });
  it("counts live buffers: a jitted function in a loop does not grow them", async () => {
    const f = jit((a: Array) => np.exp(a.ref).add(a).sum());
    const a = np.ones([64]);
    const growth = await bufferGrowth(20, async () => {
      await f(a.ref).data();
    });
    expect(growth).toBe(0);
    const before = liveBuffers();
    const leaked = np.array(Float32Array.from([1, 2, 3]));
    expect(liveBuffers()).toBe(before + 1);
    leaked.dispose();
    expect(liveBuffers()).toBe(before);
    a.dispose();
  });
});

describe("worker threads (Node shim)", () => {
  it("2 wasm workers (first one inline or not, shared-memory or message channel) give the same results as 1 thread", () => {
    const dir = mkdtempSync(join(tmpdir(), "tf-workers-"));
    const script = join(dir, "mm.mts");
    writeFileSync(
      script,
      `import { initEngine, np, jit, grad } from ${JSON.stringify(new URL("./index.ts", import.meta.url).pathname)};
const info = await initEngine();
const a = np.arange(256 * 64).reshape([256, 64]).astype(np.float32).mul(0.001);
const b = np.arange(64 * 128).reshape([64, 128]).astype(np.float32).mul(0.002);
const c = await jit((x, y) => np.matmul(x, y).sum(0))(a, b).data();
const g = await jit(grad((x) => np.log(np.exp(x).sum(1)).sum()))(np.arange(64 * 300).reshape([64, 300]).astype(np.float32).mul(1e-4)).data();
// A loop that only awaits read-backs: do timers still get event-loop turns while it runs? (A sum over 131,072
// elements: above patch-jax edit 12's threshold, so it goes through the pool; smaller kernels run on the main
// thread, where read-backs are microtasks as with one thread.)
let ticks = 0;
const timer = setInterval(() => ticks++, 5);
const f = jit((x) => x.mul(2).sum());
const x = np.ones([131072]);
const t0 = performance.now();
let seen = 0;
while (performance.now() - t0 < 400) await f(x.ref).data();
seen = ticks;
clearInterval(timer);
console.log(JSON.stringify({ workers: info.workers, threads: info.threads, sum: Array.from(c).slice(0, 4), g: [g[0], g[777], g[19199]], ticks: seen }));
process.exit(0);`,
    );
    const run = (threads: string, inline = "1", channel = "shared") =>
      JSON.parse(
        execFileSync("npx", ["tsx", script], {
          env: { ...process.env, TINYFOUNDRY_THREADS: threads, TINYFOUNDRY_INLINE_WORKER: inline, TINYFOUNDRY_WORKER_CHANNEL: channel },
          encoding: "utf8",
        })
          .trim()
          .split("\n")
          .pop()!,
      ) as {
        workers: boolean;
        threads: number;
        sum: number[];
        g: number[];
        ticks: number;
      };
    const one = run("1");
    expect(one.workers).toBe(false);
    // The trap the training loop works around: with one thread every read-back is a microtask.
    expect(one.ticks).toBe(0);
    for (const [inline, channel] of [["1", "shared"], ["0", "shared"], ["1", "message"]]) {
      const two = run("2", inline, channel);
      expect(two.workers).toBe(true);
      expect(two.threads).toBe(2);
      assertClose(two.sum, one.sum, { rtol: 1e-6 });
      assertClose(two.g, one.g, { rtol: 1e-6 });
      // With a pool, replies give the event loop a turn every 100 ms (signals, timers, IPC).
      expect(two.ticks).toBeGreaterThan(0);
    }
  });
});

describe("shared-memory worker channel", () => {
  // A stand-in for jax-js's worker script: "kernel" writes ptrs[1] + i into cell ptrs[0] + i of the
  // shared memory for i in [begin, end), a negative begin throws, "routine" replies with a value.
  const source = `
let mem = null;
self.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") { mem = new Int32Array(m.memory); postMessage({ type: "ready" }); return; }
  try {
    if (m.type === "kernel") {
      if (m.begin < 0) throw new Error("begin must be >= 0, got " + m.begin);
      for (let i = m.begin; i < m.end; i++) mem[m.ptrs[0] + i] = m.ptrs[1] + i + m.module.tag;
    } else if (m.type === "routine") {
      postMessage({ type: "answer", value: mem[m.at] });
      return;
    }
    postMessage({ type: "done", ok: true });
  } catch (err) {
    postMessage({ type: "done", ok: false, error: String(err) });
  }
};`;
  /** A channel to a worker running `src`, a request/reply helper, and 64 shared Int32 slots for its memory. */
  const openChannel = (src: string) => {
    const worker = new SharedChannelWorker(src);
    const send = (msg: unknown) =>
      new Promise<Record<string, unknown>>((resolve) => {
        worker.onmessage = (e) => resolve(e.data as Record<string, unknown>);
        worker.postMessage(msg);
      });
    const memory = new SharedArrayBuffer(4 * 64);
    return { worker, send, memory, mem: new Int32Array(memory) };
  };
  it("delivers init, first and repeated kernels, routines and errors in order", async () => {
    const { worker, send, memory, mem } = openChannel(source);
    try {
      expect(await send({ type: "init", memory })).toEqual({ type: "ready" });
      const kernel = (begin: number, end: number, ptrs: number[], hash = "k1", tag = 100) =>
        send({ type: "kernel", kernelHash: hash, module: { tag }, ptrs, begin, end });
      expect(await kernel(0, 4, [0, 10])).toEqual({ type: "done", ok: true });
      expect(Array.from(mem.slice(0, 4))).toEqual([110, 111, 112, 113]);
      expect(worker.sentByMessage).toBe(2); // init + the kernel's first dispatch (with its module)
      // Seen before: goes through shared memory only, with new pointers and range.
      expect(await kernel(2, 6, [8, 1000])).toEqual({ type: "done", ok: true });
      expect(Array.from(mem.slice(8, 16))).toEqual([0, 0, 1102, 1103, 1104, 1105, 0, 0]);
      expect(worker.sentByMessage).toBe(2);
      // A second kernel keeps its own module.
      expect(await kernel(0, 2, [20, 0], "k2", 7)).toEqual({ type: "done", ok: true });
      expect(await kernel(2, 3, [20, 0], "k2", 999)).toEqual({ type: "done", ok: true });
      expect(Array.from(mem.slice(20, 23))).toEqual([7, 8, 9]);
      expect(worker.sentByMessage).toBe(3);
      // A failure comes back as jax-js's worker reports it; the channel keeps working afterwards.
      const failed = await kernel(-1, 0, [0, 0]);
      expect(failed.ok).toBe(false);
      expect(String(failed.error)).toContain("begin must be >= 0, got -1");
      expect(await send({ type: "routine", at: 21 })).toEqual({ type: "answer", value: 8 });
      expect(await kernel(0, 1, [30, 5])).toEqual({ type: "done", ok: true });
      expect(mem[30]).toBe(105);
      // More pointers than the control block holds go by message.
      const many = Array.from({ length: 70 }, (_, i) => (i === 0 ? 40 : i));
      expect(await kernel(0, 2, many, "k3", 0)).toEqual({ type: "done", ok: true });
      expect(await kernel(0, 2, many, "k3", 0)).toEqual({ type: "done", ok: true });
      expect(Array.from(mem.slice(40, 42))).toEqual([1, 2]);
      expect(worker.sentByMessage).toBe(6); // + the routine and both k3 dispatches
    } finally {
      worker.terminate();
    }
  });
  it("runs a kernel chunk that the worker thread has not taken on the main thread, once, and the worker then skips it", async () => {
    // Adds instead of writing, so a chunk run twice would show; slot 63 counts runs on the worker thread.
    const counting = `let mem = null;
self.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") { mem = new Int32Array(m.memory); postMessage({ type: "ready" }); return; }
  for (let i = m.begin; i < m.end; i++) mem[m.ptrs[0] + i] += m.ptrs[1] + m.module.tag;
  if (self === globalThis) mem[63] += 1;
  postMessage({ type: "done", ok: true });
};`;
    const { worker, send, memory, mem } = openChannel(counting);
    const kernel = (begin: number, end: number, add: number, tag = 1) => send({ type: "kernel", kernelHash: "k", module: { tag }, ptrs: [0, add], begin, end });
    try {
      expect(await send({ type: "init", memory })).toEqual({ type: "ready" });
      expect(await kernel(0, 4, 10)).toEqual({ type: "done", ok: true }); // first dispatch: by message, on the worker
      expect([...mem.slice(0, 4), mem[63]]).toEqual([11, 11, 11, 11, 1]);
      worker.hold(true);
      // Seen before and not taken: the main thread runs them, with the module registered first.
      expect(await kernel(0, 4, 10, 999)).toEqual({ type: "done", ok: true });
      expect(await kernel(4, 8, 100)).toEqual({ type: "done", ok: true });
      expect(worker.claimedByMain).toBe(2);
      worker.hold(false);
      setChunkClaim(false);
      expect(await kernel(8, 9, 5)).toEqual({ type: "done", ok: true }); // waits for the worker thread
      expect(worker.claimedByMain).toBe(2);
      // Each chunk ran once; the worker ran only the first and the last request.
      expect([...mem.slice(0, 9), mem[63]]).toEqual([22, 22, 22, 22, 101, 101, 101, 101, 6, 2]);
    } finally {
      setChunkClaim(true);
      worker.terminate();
    }
  });
  it("answers with the error when the worker script itself fails to start", async () => {
    const worker = new SharedChannelWorker(`throw new Error("boom at start");`);
    try {
      const reply = await new Promise<Record<string, unknown>>((resolve) => {
        worker.onmessage = (e) => resolve(e.data as Record<string, unknown>);
        worker.postMessage({ type: "init", memory: new SharedArrayBuffer(8) });
      });
      expect(reply.ok).toBe(false);
      expect(String(reply.error)).toContain("boom at start");
    } finally {
      worker.terminate();
    }
  });
});

describe("relaxed SIMD (fused multiply-add in jax-js's matmuls)", () => {
  it("is on after the engine starts, on Node 20 too; TINYFOUNDRY_RELAXED_SIMD=0 keeps Node 20's default; workers run the fused kernels", () => {
    const dir = mkdtempSync(join(tmpdir(), "tf-relaxed-"));
    const script = join(dir, "fma.mts");
    // A matmul whose rounding differs between a fused and a separate multiply-add.
    writeFileSync(
      script,
      `import { initEngine, np, jit } from ${JSON.stringify(new URL("./index.ts", import.meta.url).pathname)};
const info = await initEngine();
const a = np.sin(np.arange(128 * 96).reshape([128, 96]).astype(np.float32).mul(0.0137));
const b = np.cos(np.arange(96 * 64).reshape([96, 64]).astype(np.float32).mul(0.0071));
const c = Array.from(await jit((x, y) => np.matmul(x, y))(a, b).data());
// A large write to a pipe is asynchronous: exit once it is flushed.
process.stdout.write(JSON.stringify({ relaxed: info.relaxedSimd, threads: info.threads, c }) + "\\n", () => process.exit(0));`,
    );
    const run = (threads: string, relaxed?: string) =>
      JSON.parse(
        execFileSync(process.execPath, ["--import", "tsx", script], {
          env: { ...process.env, TINYFOUNDRY_THREADS: threads, TINYFOUNDRY_RELAXED_SIMD: relaxed ?? "" },
          encoding: "utf8",
        })
          .trim()
          .split("\n")
          .pop()!,
      ) as { relaxed: boolean; threads: number; c: number[] };
    const on = run("1");
    expect(on.relaxed).toBe(true);
    const two = run("2");
    expect(two.relaxed).toBe(true);
    expect(two.threads).toBe(2);
    // The same instructions on the pool's workers: bit-identical to one thread.
    expect(two.c).toEqual(on.c);
    const off = run("1", "0");
    const node20 = Number(process.versions.node.split(".")[0]) < 22;
    // Node 22+ has relaxed SIMD without a flag; on Node 20 "0" leaves it off.
    expect(off.relaxed).toBe(!node20);
    // Fused or not, the products agree to float32 rounding.
    let maxRel = 0;
    for (let i = 0; i < on.c.length; i++) maxRel = Math.max(maxRel, Math.abs(on.c[i] - off.c[i]) / Math.max(1, Math.abs(off.c[i])));
    expect(maxRel).toBeLessThan(1e-5);
    if (node20) expect(on.c).not.toEqual(off.c); // the fused path is really taken
  });
});
