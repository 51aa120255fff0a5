/**
 * Node 20 shims that jax-js expects from a browser. Imported (for its side effects) before
 * @jax-js/jax by `src/engine/index.ts`; nothing else should import jax-js directly.
 *
 * - `navigator` (Node 20 has none): `hardwareConcurrency` sizes the wasm worker pool and
 *   `userAgent` is read by the kernel tuner and the WebGPU module at import.
 * - `Iterator.prototype.map/filter` (iterator helpers arrived in Node 22): used by `np.einsum`
 *   and `nn.dotProductAttention`.
 * - A global `Worker` over `worker_threads`, so jax-js can run its wasm kernels on a pool. It is
 *   installed only when `TINYFOUNDRY_THREADS` (or `installWorkerShim`) asks for more than one
 *   thread, because jax-js decides whether to use a pool once, when its wasm backend starts.
 *   The pool's first worker runs inline on the main thread (`TINYFOUNDRY_INLINE_WORKER=0` turns
 *   that off) and the others talk to it through shared memory (`TINYFOUNDRY_WORKER_CHANNEL=message`
 *   goes back to plain `postMessage`); `npm run bench` measures each choice against the default.
 *   Over shared memory, a kernel chunk that its worker thread has not started by the time the main
 *   thread has run its own is run by the main thread (`TINYFOUNDRY_CHUNK_CLAIM=0` waits instead).
 */
import { cpus } from "node:os";
import { setFlagsFromString } from "node:v8";
import { MessageChannel, type MessagePort, Worker as NodeWorker, receiveMessageOnPort } from "node:worker_threads";
import { parseThreads } from "./threads.js";

type Nav = { hardwareConcurrency: number; userAgent: string; gpu?: unknown };
/** The globals the shims read and set, as jax-js sees them (Node 20 may lack any of them). */
const g: { navigator?: Nav; Worker?: unknown } = globalThis;

/** Number of wasm worker threads jax-js will use (1 means the main thread only). */
export function requestedThreads(): number {
  // The CLI checks the value before this module loads (bin/tinyfoundry.js, `threadsProblem`);
  // library users get the same one-line error here.
  return parseThreads(process.env.TINYFOUNDRY_THREADS, Math.min(2, cpus().length));
}

/** How the pool's thread workers receive kernels: "shared" (default) or "message". */
export function workerChannel(): "shared" | "message" {
  const raw = process.env.TINYFOUNDRY_WORKER_CHANNEL;
  if (raw === undefined || raw === "" || raw === "shared") return "shared";
  if (raw === "message") return "message";
  throw new Error(`TINYFOUNDRY_WORKER_CHANNEL: expected "shared" or "message", got ${JSON.stringify(raw)}`);
}

function installNavigator(threads: number): void {
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, "navigator", {
      value: { hardwareConcurrency: threads, userAgent: `Node.js/${process.versions.node}` },
      configurable: true,
      writable: true,
    });
  } else {
    try {
      Object.defineProperty(g.navigator, "hardwareConcurrency", { value: threads, configurable: true });
    } catch {
      /* read-only navigator: keep its value */
    }
  }
}

function installIteratorHelpers(): void {
  // The prototype of every built-in iterator (arrays, maps, sets, generators share it).
  const proto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as Record<string, unknown>;
  if (typeof proto.map !== "function") {
    Object.defineProperty(proto, "map", {
      configurable: true,
      writable: true,
      value: function* <T, U>(this: Iterator<T>, fn: (v: T, i: number) => U) {
        let i = 0;
        for (let r = this.next(); !r.done; r = this.next()) yield fn(r.value, i++);
      },
    });
  }
  if (typeof proto.filter !== "function") {
    Object.defineProperty(proto, "filter", {
      configurable: true,
      writable: true,
      value: function* <T>(this: Iterator<T>, fn: (v: T, i: number) => boolean) {
        let i = 0;
        for (let r = this.next(); !r.done; r = this.next()) if (fn(r.value, i++)) yield r.value;
      },
    });
  }
  if (typeof proto.toArray !== "function") {
    Object.defineProperty(proto, "toArray", {
      configurable: true,
      writable: true,
      value: function <T>(this: Iterator<T>) {
        const out: T[] = [];
        for (let r = this.next(); !r.done; r = this.next()) out.push(r.value);
        return out;
      },
    });
  }
}

/** Runs inside each worker thread: gives the browser-style script `self`/`postMessage`. */
const WORKER_BOOTSTRAP = `
const { parentPort, workerData } = require("node:worker_threads");
const self = globalThis;
globalThis.self = self;
globalThis.postMessage = (msg) => parentPort.postMessage(msg);
parentPort.on("message", (data) => { if (typeof self.onmessage === "function") self.onmessage({ data }); });
new Function(workerData.source)();
`;

/** A browser `Worker` look-alike backed by `worker_threads`, enough for jax-js's wasm pool. */
class ShimWorker {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #worker: NodeWorker;
  constructor(url: string | URL) {
    const href = String(url);
    let source: string;
    if (href.startsWith("blob:")) {
      // Blob.text() is async, so the script text is captured when jax-js creates the URL.
      const captured = blobSources.get(href);
      if (captured === undefined) throw new Error(`Worker shim: blob URL ${href} was not captured`);
      source = captured;
    } else {
      throw new Error(`Worker shim: only blob: URLs are supported, got ${href}`);
    }
    this.#worker = new NodeWorker(WORKER_BOOTSTRAP, { eval: true, workerData: { source } });
    this.#worker.unref();
    this.#worker.on("message", (data) => this.onmessage?.({ data }));
    this.#worker.on("error", (err) => this.onerror?.({ message: String(err) }));
  }
  postMessage(msg: unknown): void {
    this.#worker.postMessage(msg);
  }
  terminate(): void {
    void this.#worker.terminate();
  }
}

/**
 * With the inline worker and the shared channel a pool reply never needs an event-loop turn, so a
 * long run of kernels (an evaluation, a generation loop) would hold off signal handlers, timers and
 * IPC until its caller yields. Every YIELD_MS a reply is delivered through `setImmediate` instead
 * of directly, which gives the event loop a turn (a few microseconds, a few times per second).
 */
const YIELD_MS = 100;
let lastTurn = -Infinity;
function deliver(fn: () => void): void {
  if (performance.now() - lastTurn < YIELD_MS) return fn();
  setImmediate(() => {
    lastTurn = performance.now();
    fn();
  });
}

/**
 * The pool's first "worker" runs on the main thread. jax-js's pool sends a kernel too small to
 * split to worker 0 only, and a split kernel's first chunk to worker 0 first: running worker 0
 * inline (in a microtask, after the other chunks have been posted) removes the thread round trip
 * for the many small kernels of a training step and lets the main thread, otherwise idle while it
 * waits, compute a chunk of the large ones. So N threads = the main thread + N-1 worker threads.
 * On by default (faster for the reference step, same losses: `npm run bench` measures both);
 * `TINYFOUNDRY_INLINE_WORKER=0` turns it off.
 */
class InlineWorker {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #scope: { onmessage?: (e: { data: unknown }) => void } = {};
  constructor(source: string) {
    const post = (msg: unknown) => queueMicrotask(() => deliver(() => this.onmessage?.({ data: msg })));
    // The worker script assigns `self.onmessage` and calls `postMessage`; both are ours here.
    new Function("self", "postMessage", source)(this.#scope, post);
  }
  postMessage(msg: unknown): void {
    queueMicrotask(() => {
      try {
        this.#scope.onmessage?.({ data: msg });
      } catch (e) {
        this.onerror?.({ message: String(e) });
      }
    });
  }
  terminate(): void {}
}

/**
 * The worker side of `SharedChannelWorker`. jax-js's worker script runs unchanged, but requests
 * arrive through a shared control block instead of the event loop: the thread spins for up to
 * `spinMs`, then sleeps in `Atomics.wait`, until the request counter moves. A kernel it has seen
 * before comes as integers only (kernel id, begin, end, pointers); anything else (the init message
 * with the shared memory, a kernel's first dispatch with its module, a CPU routine) comes over a
 * MessagePort read synchronously. A reply other than `{type: "done", ok: true}` goes back over
 * the port; then the done counter is set and the main thread woken.
 */
const CHANNEL_BOOTSTRAP = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const self = globalThis;
globalThis.self = self;
const c = new Int32Array(workerData.ctl);
const u = new Uint32Array(workerData.ctl);
const port = workerData.port;
const L = workerData.layout;
let reply;
globalThis.postMessage = (msg) => { reply = msg; };
// If jax-js's script fails to start, answer every request with that error instead of dying (the
// main thread waits on shared memory and would otherwise wait forever).
let bootError = null;
try {
  new Function(workerData.source)();
} catch (e) {
  bootError = e;
}
const kernels = new Map();
let seq = 0;
for (;;) {
  if (Atomics.load(c, L.SEQ) === seq) {
    const t0 = performance.now();
    while (Atomics.load(c, L.SEQ) === seq && performance.now() - t0 < L.spinMs) {}
    while (Atomics.load(c, L.SEQ) === seq) Atomics.wait(c, L.SEQ, seq, 1000);
  }
  seq = Atomics.load(c, L.SEQ);
  while (Atomics.load(c, L.HOLD) !== 0) Atomics.wait(c, L.HOLD, 1, 1000);
  // The main thread may have run this request itself (a kernel chunk this thread had not started):
  // take it only if it is still open, and then it is ours.
  if (Atomics.compareExchange(c, L.CLAIM, seq, -seq) !== seq) continue;
  reply = undefined;
  try {
    if (bootError !== null) throw bootError;
    let data;
    if (c[L.KIND] === L.KIND_KERNEL) {
      const k = kernels.get(c[L.ID]);
      const n = c[L.NPTRS];
      const ptrs = new Array(n);
      for (let i = 0; i < n; i++) ptrs[i] = u[L.PTRS + i];
      data = { type: "kernel", kernelHash: k.hash, module: k.module, ptrs, begin: c[L.BEGIN], end: c[L.END] };
    } else {
      const got = receiveMessageOnPort(port);
      if (got === undefined) throw new Error("shared channel: request without a message");
      data = got.message.msg;
      if (got.message.id !== undefined) kernels.set(got.message.id, { hash: data.kernelHash, module: data.module });
    }
    self.onmessage({ data });
  } catch (e) {
    reply = { type: "done", ok: false, error: String(e && e.stack || e) };
  }
  if (reply !== undefined && reply.type === "done" && reply.ok === true) c[L.OK] = 1;
  else {
    c[L.OK] = 0;
    port.postMessage(reply === undefined ? { type: "done", ok: false, error: "shared channel: the worker sent no reply" } : reply);
  }
  Atomics.store(c, L.DONE, seq);
  Atomics.notify(c, L.DONE);
}
`;

/** Int32 slots of the shared control block; a kernel's pointers follow from PTRS. */
const LAYOUT = { SEQ: 0, DONE: 1, KIND: 2, OK: 3, ID: 4, BEGIN: 5, END: 6, NPTRS: 7, CLAIM: 8, HOLD: 9, PTRS: 10, KIND_KERNEL: 1, KIND_PORT: 2, spinMs: 1 };
/**
 * How long the main thread lets a posted kernel chunk wait for its worker thread before it runs the
 * chunk itself (ms): a thread that is spinning takes a request within microseconds; one that the OS
 * has not scheduled (other processes on the cores) can take milliseconds.
 */
const CLAIM_AFTER_MS = 0.05;
function chunkClaimFromEnv(): boolean {
  const raw = process.env.TINYFOUNDRY_CHUNK_CLAIM;
  if (raw === undefined || raw === "" || raw === "1") return true;
  if (raw === "0") return false;
  throw new Error(`TINYFOUNDRY_CHUNK_CLAIM: expected "0" or "1", got ${JSON.stringify(raw)}`);
}
let chunkClaim = chunkClaimFromEnv();
/** Whether the main thread runs a worker's kernel chunk that the worker has not started (pilots, tests). */
export function setChunkClaim(on: boolean): void {
  chunkClaim = on;
}
/** jax-js passes at most 64 buffers to a kernel (its wasm backend's maxArgs); more go by message. */
const MAX_PTRS = 64;

/**
 * A wasm pool worker whose requests and replies go through a SharedArrayBuffer and Atomics instead
 * of `postMessage`: the kernel's module is sent once, not cloned on every dispatch, and neither side
 * needs an event-loop turn. The main thread collects the reply in a microtask queued behind the
 * pool's other chunks (so with the inline first worker it computes its own chunk first), spinning
 * for up to `spinMs` and then sleeping in `Atomics.wait`. jax-js's pool waits for every chunk of a
 * kernel before it dispatches the next, so the main thread would be idle there anyway, and a chunk
 * of a kernel the worker has seen that it has not taken within CLAIM_AFTER_MS is run by the main
 * thread (an atomic claim per request decides who runs it; the worker skips a claimed request).
 * Every failure inside the worker comes back as an error reply; only a thread killed from outside
 * (jax-js never terminates its workers) would leave the main thread waiting.
 * Exported for its own tests; jax-js reaches it through the `Worker` global.
 */
export class SharedChannelWorker {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #worker: NodeWorker;
  #c: Int32Array;
  #u: Uint32Array;
  #port: MessagePort;
  #ids = new Map<string, number>();
  #modules = new Map<string, unknown>();
  #seq = 0;
  /** jax-js's worker script run a second time on the main thread, for chunks it takes back (null if it fails to start). */
  #local: { onmessage?: (e: { data: unknown }) => void } | null = {};
  #localReply: unknown;
  /** The request in flight, when it is a kernel chunk the main thread may run itself, and when it was posted. */
  #claimable: unknown;
  #postedAt = 0;
  /** How many requests went by message (first dispatches, init, routines): for tests. */
  sentByMessage = 0;
  /** How many kernel chunks the main thread ran because this worker had not started them: for tests and pilots. */
  claimedByMain = 0;
  constructor(source: string) {
    try {
      new Function("self", "postMessage", source)(this.#local, (msg: unknown) => (this.#localReply = msg));
    } catch {
      this.#local = null;
    }
    const sab = new SharedArrayBuffer(4 * (LAYOUT.PTRS + MAX_PTRS));
    this.#c = new Int32Array(sab);
    this.#u = new Uint32Array(sab);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#worker = new NodeWorker(CHANNEL_BOOTSTRAP, {
      eval: true,
      workerData: { source, ctl: sab, port: port2, layout: LAYOUT },
      transferList: [port2],
    });
    this.#worker.unref();
    this.#worker.on("error", (err) => this.onerror?.({ message: String(err) }));
  }
  postMessage(msg: unknown): void {
    const m = msg as { type: string; kernelHash?: string; ptrs?: number[]; begin?: number; end?: number };
    const c = this.#c;
    const isKernel = m.type === "kernel" && Array.isArray(m.ptrs) && m.ptrs.length <= MAX_PTRS;
    const id = isKernel ? this.#ids.get(m.kernelHash!) : undefined;
    if (m.type === "init") this.#runLocal(msg);
    // Only a kernel the worker has seen (its module registered there) may be taken back.
    // It runs with the module the worker registered for that kernel (jax-js sends the same one each time).
    this.#claimable = id !== undefined && this.#local !== null ? { ...m, module: this.#modules.get(m.kernelHash!) } : undefined;
    if (id !== undefined) {
      c[LAYOUT.KIND] = LAYOUT.KIND_KERNEL;
      c[LAYOUT.ID] = id;
      c[LAYOUT.BEGIN] = m.begin!;
      c[LAYOUT.END] = m.end!;
      c[LAYOUT.NPTRS] = m.ptrs!.length;
      for (let i = 0; i < m.ptrs!.length; i++) this.#u[LAYOUT.PTRS + i] = m.ptrs![i];
    } else {
      let newId: number | undefined;
      if (isKernel) {
        newId = this.#ids.size;
        this.#ids.set(m.kernelHash!, newId);
        this.#modules.set(m.kernelHash!, (m as { module?: unknown }).module);
      }
      this.#port.postMessage({ id: newId, msg });
      this.sentByMessage++;
      c[LAYOUT.KIND] = LAYOUT.KIND_PORT;
    }
    const seq = ++this.#seq;
    Atomics.store(c, LAYOUT.CLAIM, seq);
    this.#postedAt = performance.now();
    Atomics.store(c, LAYOUT.SEQ, seq);
    Atomics.notify(c, LAYOUT.SEQ);
    queueMicrotask(() => this.#collect(seq));
  }
  #collect(seq: number): void {
    const c = this.#c;
    if (Atomics.load(c, LAYOUT.DONE) !== seq && this.#claimable !== undefined && chunkClaim) {
      // A chunk the worker has not started within CLAIM_AFTER_MS of posting (normally the main thread
      // has just run its own chunk by then) is run here instead: a descheduled worker thread then
      // costs no more than running the kernel on one thread. The same kernel code runs the same
      // range, so values do not depend on which thread ran it.
      while (Atomics.load(c, LAYOUT.CLAIM) === seq && performance.now() - this.#postedAt < CLAIM_AFTER_MS) {
        /* spin: a running worker takes it within microseconds */
      }
      if (Atomics.compareExchange(c, LAYOUT.CLAIM, seq, 0) === seq) {
        this.claimedByMain++;
        const data = this.#runLocal(this.#claimable);
        deliver(() => this.onmessage?.({ data }));
        return;
      }
    }
    if (Atomics.load(c, LAYOUT.DONE) !== seq) {
      const t0 = performance.now();
      while (Atomics.load(c, LAYOUT.DONE) !== seq && performance.now() - t0 < LAYOUT.spinMs) {
        /* spin: the worker's chunk is usually about as long as the one we just ran */
      }
      while (Atomics.load(c, LAYOUT.DONE) !== seq) Atomics.wait(c, LAYOUT.DONE, Atomics.load(c, LAYOUT.DONE), 1000);
    }
    const data = c[LAYOUT.OK] === 1 ? { type: "done", ok: true } : receiveMessageOnPort(this.#port)?.message;
    deliver(() => this.onmessage?.({ data }));
  }
  /**
   * Tests: while held, the worker thread takes no request (as when the OS does not schedule it), so
   * every kernel chunk it has seen before is run by the main thread; a request by message then waits.
   */
  hold(on: boolean): void {
    Atomics.store(this.#c, LAYOUT.HOLD, on ? 1 : 0);
    Atomics.notify(this.#c, LAYOUT.HOLD);
  }
  /** Run a request through the main thread's copy of the worker script; returns its reply. */
  #runLocal(msg: unknown): unknown {
    this.#localReply = undefined;
    try {
      this.#local?.onmessage?.({ data: msg });
    } catch (e) {
      return { type: "done", ok: false, error: String(e) };
    }
    return this.#localReply ?? { type: "done", ok: false, error: "shared channel: the main thread's run sent no reply" };
  }
  terminate(): void {
    void this.#worker.terminate();
  }
}

const inlineTaken = new Set<string>();
/**
 * The `Worker` global: the first worker of each pool (per script URL) is inline. jax-js calls
 * `new Worker(url)`; a plain function that returns an object serves as that constructor.
 */
function PoolWorker(url: string | URL): InlineWorker | ShimWorker | SharedChannelWorker {
  const href = String(url);
  const source = blobSources.get(href);
  if (source === undefined) throw new Error(`Worker shim: only jax-js blob: URLs are supported, got ${href}`);
  if (process.env.TINYFOUNDRY_INLINE_WORKER !== "0" && !inlineTaken.has(href)) {
    inlineTaken.add(href);
    return new InlineWorker(source);
  }
  if (workerChannel() === "message") return new ShimWorker(url);
  return new SharedChannelWorker(source);
}

/** Blobs made by jax-js hold one string part; keep that string when the URL is created. */
const blobSources = new Map<string, string>();
const blobSourceOf = new WeakMap<Blob, string>();

function installBlobCapture(): void {
  const OrigBlob = globalThis.Blob;
  if ("__tinyfoundry" in OrigBlob) return;
  class CapturingBlob extends OrigBlob {
    static __tinyfoundry = true;
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts && parts.every((p) => typeof p === "string")) blobSourceOf.set(this, (parts as string[]).join(""));
    }
  }
  globalThis.Blob = CapturingBlob as typeof Blob;
  const origCreate = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (obj: Blob) => {
    const url = origCreate(obj);
    const src = blobSourceOf.get(obj);
    if (src !== undefined) blobSources.set(url, src);
    return url;
  };
}

let workerShimInstalled = false;
/** Install the `Worker` global so jax-js starts a pool of `threads` wasm workers. */
export function installWorkerShim(threads: number): void {
  installNavigator(threads);
  if (threads <= 1 || workerShimInstalled || g.Worker !== undefined) return;
  installBlobCapture();
  g.Worker = PoolWorker;
  workerShimInstalled = true;
}

export function workerShimActive(): boolean {
  return workerShimInstalled;
}

/**
 * Node 20 has no `Float16Array`; jax-js tests `data instanceof Float16Array` when it builds an
 * array from JS data, which throws a ReferenceError without it. A placeholder class makes the
 * test false; constructing one says what is missing (float16 is not used on wasm anyway).
 */
function installFloat16Placeholder(): void {
  if ("Float16Array" in globalThis) return;
  Object.defineProperty(globalThis, "Float16Array", {
    configurable: true,
    writable: true,
    value: class Float16Array {
      constructor() {
        throw new Error("Float16Array needs Node 22 or newer; use float32 on this Node version");
      }
    },
  });
}

/** A one-function wasm module using `f32x4.relaxed_madd` (the probe jax-js itself validates). */
const RELAXED_MADD_PROBE = "0061736d0100000001080160037b7b7b017b030201000a0d010b00200020012002fd85020b";
const validates = (hex: string) => WebAssembly.validate(Uint8Array.from(Buffer.from(hex, "hex")));

/**
 * Relaxed SIMD (fused multiply-add in jax-js's matmul kernels). Node 22+ has it on; Node 20 has it
 * behind `--experimental-wasm-relaxed-simd`, a V8 flag that NODE_OPTIONS does not accept and that
 * a child process does not inherit, so it is set here, in-process, before jax-js probes for it
 * (its probe result is cached, and kernels are generated on the main thread; V8 flags are
 * process-wide, so the pool's workers compile the same instructions). `TINYFOUNDRY_RELAXED_SIMD=0`
 * leaves the runtime's default. Returns whether relaxed SIMD is available afterwards.
 */
export function enableRelaxedSimd(): boolean {
  if (validates(RELAXED_MADD_PROBE)) return true;
  if (process.env.TINYFOUNDRY_RELAXED_SIMD === "0") return false;
  setFlagsFromString("--experimental-wasm-relaxed-simd");
  return validates(RELAXED_MADD_PROBE);
}

/** Whether this process's wasm has relaxed SIMD (so jax-js emits fused multiply-adds). */
export function relaxedSimdActive(): boolean {
  return validates(RELAXED_MADD_PROBE);
}

const threads = requestedThreads();
workerChannel(); // a bad value fails at import, before any work
enableRelaxedSimd();
installFloat16Placeholder();
installNavigator(threads);
installIteratorHelpers();
installWorkerShim(threads);
