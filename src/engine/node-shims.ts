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
 */
import { cpus } from "node:os";
import { Worker as NodeWorker } from "node:worker_threads";

type Nav = { hardwareConcurrency: number; userAgent: string; gpu?: unknown };
const g = globalThis as unknown as { navigator?: Nav; Worker?: unknown; Iterator?: { prototype: object } };

/** Number of wasm worker threads jax-js will use (1 means the main thread only). */
export function requestedThreads(): number {
  const raw = process.env.TINYFOUNDRY_THREADS;
  if (raw === undefined || raw === "") return Math.min(2, cpus().length);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(`TINYFOUNDRY_THREADS: expected an integer from 1 to 64, got ${JSON.stringify(raw)}`);
  }
  return n;
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
    const post = (msg: unknown) => queueMicrotask(() => this.onmessage?.({ data: msg }));
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

const inlineTaken = new Set<string>();
/** The `Worker` global: the first worker of each pool (per script URL) is inline. */
class PoolWorker {
  constructor(url: string | URL) {
    const href = String(url);
    const source = blobSources.get(href);
    if (source === undefined) throw new Error(`Worker shim: only jax-js blob: URLs are supported, got ${href}`);
    if (process.env.TINYFOUNDRY_INLINE_WORKER !== "0" && !inlineTaken.has(href)) {
      inlineTaken.add(href);
      return new InlineWorker(source) as unknown as PoolWorker;
    }
    return new ShimWorker(url) as unknown as PoolWorker;
  }
}

/** Blobs made by jax-js hold one string part; keep that string when the URL is created. */
const blobSources = new Map<string, string>();
const blobSourceOf = new WeakMap<Blob, string>();

function installBlobCapture(): void {
  const OrigBlob = globalThis.Blob;
  if ((OrigBlob as unknown as { __tinyfoundry?: boolean }).__tinyfoundry) return;
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
  const gg = globalThis as unknown as { Float16Array?: unknown };
  if (gg.Float16Array !== undefined) return;
  gg.Float16Array = class Float16Array {
    constructor() {
      throw new Error("Float16Array needs Node 22 or newer; use float32 on this Node version");
    }
  };
}

const threads = requestedThreads();
installFloat16Placeholder();
installNavigator(threads);
installIteratorHelpers();
installWorkerShim(threads);
