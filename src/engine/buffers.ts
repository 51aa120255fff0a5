/**
 * Live-buffer counting for leak tests. jax-js keeps its buffers in a private map, so we count
 * allocations by wrapping the backend's `malloc`/`incRef`/`decRef` (same semantics, one extra
 * Map update each). The backend module is reached by file URL because jax-js's package `exports`
 * hide it; the file name is fixed for the pinned version, and the test of this module fails if
 * an upgrade moves it.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readFileSync, readdirSync } from "node:fs";
import { pathToFileURL } from "node:url";

type Backend = {
  type: string;
  malloc: (size: number, init?: Uint8Array) => number;
  incRef: (slot: number) => void;
  decRef: (slot: number) => void;
  /** Set once our counter wraps this backend. */
  __counted?: boolean;
};
const counts = new Map<string, Map<number, number>>();
let installed = false;
let getBackendFn: ((device?: string) => Backend) | null = null;

async function loadGetBackend(): Promise<(device?: string) => Backend> {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve("@jax-js/jax"));
  const file = readdirSync(dist).find((f) => /^backend-.*\.js$/.test(f));
  if (!file) throw new Error("liveBuffers: jax-js backend module not found (jax-js layout changed?)");
  const mod = (await import(pathToFileURL(join(dist, file)).href)) as Record<string, unknown>;
  const fn = Object.values(mod).find((v) => typeof v === "function" && v.name === "getBackend");
  if (!fn) throw new Error("liveBuffers: getBackend not found in jax-js backend module");
  return fn as (device?: string) => Backend;
}

let loading: Promise<void> | null = null;
export function installBufferCounter(): Promise<void> {
  if (installed) return Promise.resolve();
  loading ??= (async () => {
    getBackendFn = await loadGetBackend();
    for (const dev of ["wasm", "cpu", "webgpu"]) {
      let be: Backend;
      try {
        be = getBackendFn(dev);
      } catch {
        continue;
      }
      if (!be || be.__counted) continue;
      const live = new Map<number, number>();
      counts.set(dev, live);
      const malloc = be.malloc.bind(be);
      const incRef = be.incRef.bind(be);
      const decRef = be.decRef.bind(be);
      be.malloc = (size, init) => {
        const slot = malloc(size, init);
        live.set(slot, 1);
        return slot;
      };
      be.incRef = (slot) => {
        incRef(slot);
        live.set(slot, (live.get(slot) ?? 0) + 1);
      };
      be.decRef = (slot) => {
        decRef(slot);
        const c = (live.get(slot) ?? 1) - 1;
        if (c <= 0) live.delete(slot);
        else live.set(slot, c);
      };
      be.__counted = true;
    }
    installed = true;
  })();
  return loading;
}

/** Number of device buffers alive now on `device` (wasm by default). */
export function liveBuffers(device = "wasm"): number {
  if (!installed) throw new Error("liveBuffers: call `await initEngine()` first");
  return counts.get(device)?.size ?? 0;
}

/** Whether the installed jax-js's wasm backend carries the install-time patch (`npm install` applies it). */
export function jaxPatched(): boolean {
  try {
    const dist = dirname(createRequire(import.meta.url).resolve("@jax-js/jax"));
    return readdirSync(dist)
      .filter((f) => /^backend-.*\.js$/.test(f))
      .some((f) => readFileSync(join(dist, f), "utf8").includes("/* tinyfoundry patch-jax:"));
  } catch {
    return false;
  }
}
