/**
 * tinyfoundry's numerical engine: @jax-js/jax (pinned) behind one module.
 *
 * Every other file imports jax-js through here, so the Node shims are installed first and an
 * upgrade or a swap stays a local change. Besides re-exporting jax-js, this module adds what
 * jax-js lacks: a cross-entropy that differentiates under `jit`, quantiles, scatter-add, named
 * PRNG streams and live-buffer counting for leak tests.
 */
import "./node-shims.js";
import * as jax from "@jax-js/jax";
import { numpy as np, nn as jnn, lax, random, tree, vjp } from "@jax-js/jax";
import { requestedThreads, workerShimActive } from "./node-shims.js";
import { installBufferCounter } from "./buffers.js";

export { np, jnn, lax, random, tree };
// Re-exported one by one with their declared types (a destructured re-export has an inferred type too
// long for declaration files).
export const jit: typeof jax.jit = jax.jit;
export const grad: typeof jax.grad = jax.grad;
export const valueAndGrad: typeof jax.valueAndGrad = jax.valueAndGrad;
export const vjpFn: typeof jax.vjp = jax.vjp;
export const vmap: typeof jax.vmap = jax.vmap;
export const jvp: typeof jax.jvp = jax.jvp;
export const defaultDevice: typeof jax.defaultDevice = jax.defaultDevice;
export const devices: typeof jax.devices = jax.devices;
export const blockUntilReady: typeof jax.blockUntilReady = jax.blockUntilReady;
export type Array = np.Array;
export type DType = np.DType;
export type Device = jax.Device;
export type JsTree<T> = jax.JsTree<T>;
export { liveBuffers } from "./buffers.js";
export { flattenNamed, unflattenNamed } from "./named.js";

/**
 * `tree.ref` for typed parameter objects. jax-js's `JsTree` type has no optional fields, so a
 * params type like `{ wpe?: Embedding }` needs one cast; it lives here instead of at every call.
 */
export function refTree<T>(t: T): T {
  return tree.ref(t as JsTree<Array>) as T;
}

/** `tree.dispose` for typed parameter and optimizer objects (see `refTree`). */
export function disposeTree(t: unknown): void {
  tree.dispose(t as JsTree<Array>);
}

export type EngineInfo = {
  device: Device;
  available: Device[];
  threads: number;
  workers: boolean;
  jaxVersion: string;
};

/** The exact jax-js version tinyfoundry is tested with (also pinned in package.json). */
export const JAX_VERSION = "0.1.25";

let info: EngineInfo | null = null;

/**
 * Start the engine once per process. `device` picks a backend: `wasm` (default, CPU),
 * `webgpu` (needs the optional `webgpu` npm package and a GPU) or `cpu` (interpreted, debugging).
 * The number of wasm threads is fixed at import by `TINYFOUNDRY_THREADS` (default: min(2, cores)).
 */
export async function initEngine(opts: { device?: Device } = {}): Promise<EngineInfo> {
  const want = opts.device ?? "wasm";
  if (info && info.device === want) return info;
  if (want === "webgpu") await installWebGPU();
  const available = await jax.init();
  if (!available.includes(want)) {
    throw new Error(`device: "${want}" is not available here; available: ${available.join(", ")}`);
  }
  jax.defaultDevice(want);
  await installBufferCounter();
  info = { device: want, available, threads: requestedThreads(), workers: workerShimActive(), jaxVersion: JAX_VERSION };
  return info;
}

async function installWebGPU(): Promise<void> {
  const nav = (globalThis as unknown as { navigator: { gpu?: unknown } }).navigator;
  if (nav.gpu) return;
  let mod: { create: (flags: string[]) => unknown; globals: Record<string, unknown> };
  try {
    mod = (await import(/* optional */ "webgpu" as string)) as typeof mod;
  } catch {
    throw new Error('device: "webgpu" needs the optional npm package `webgpu` (npm install webgpu)');
  }
  Object.assign(globalThis, mod.globals);
  nav.gpu = mod.create([]);
}

/** Shape of an array as a string, for error messages: `[2, 3]`. */
export function shapeStr(x: { shape: number[] }): string {
  return `[${x.shape.join(", ")}]`;
}

/**
 * Mean cross-entropy `-mean(log softmax(logits)[target])` over positions where `mask` is 1.
 * Written as `logSoftmax * oneHot` so its gradient works under `jit` (a gather whose cotangent is a
 * broadcast fails in jax-js 0.1.25). logits: [..., V]; targets: int32 [...]; mask: float [...].
 */
export function crossEntropy(logits: Array, targets: Array, mask?: Array): Array {
  const V = logits.shape[logits.shape.length - 1];
  const logp = jnn.logSoftmax(logits, -1); // [..., V]
  const nll = logp.mul(jnn.oneHot(targets, V)).sum(-1).neg(); // [...]
  if (!mask) return nll.mean();
  const denom = np.maximum(mask.ref.sum(), 1);
  return nll.mul(mask).sum().div(denom);
}

/** Per-position negative log-likelihood, [...] (same trick as `crossEntropy`). */
export function tokenNLL(logits: Array, targets: Array): Array {
  const V = logits.shape[logits.shape.length - 1];
  return jnn.logSoftmax(logits, -1).mul(jnn.oneHot(targets, V)).sum(-1).neg();
}

/**
 * Quantile of `x` along `axis` with NumPy's default linear interpolation
 * (index `q·(n-1)` between the two nearest order statistics). jax-js has no `quantile`.
 */
export function quantile(x: Array, q: number, axis = -1): Array {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be in [0, 1], got ${q}`);
  const ax = axis < 0 ? x.ndim + axis : axis;
  const n = x.shape[ax];
  const sorted = np.sort(x, ax);
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const frac = pos - lo;
  const a = np.take(sorted.ref, np.array([lo], { dtype: np.int32 }), ax);
  const b = np.take(sorted, np.array([hi], { dtype: np.int32 }), ax);
  return np.squeeze(a.mul(1 - frac).add(b.mul(frac)), ax);
}

/**
 * Scatter-add: `out[indices[i]] += updates[i]` along axis 0 of a zero array with `rows` rows.
 * Uses the transpose of `take` (jax-js has no `.at[].add`). indices: int32 [N]; updates: [N, ...].
 */
export function scatterAdd(rows: number, indices: Array, updates: Array): Array {
  const rowShape = updates.shape.slice(1);
  const zeros = np.zeros([rows, ...rowShape], { dtype: updates.dtype });
  const [, pullback] = vjp((t: Array) => np.take(t, indices, 0), [zeros]) as unknown as [
    Array,
    (ct: Array) => Array[],
  ];
  const [out] = pullback(updates);
  (pullback as unknown as { dispose?: () => void }).dispose?.();
  return out;
}

/** Read a scalar array as a JS number (consumes it). */
export async function scalar(x: Array): Promise<number> {
  const d = await x.data();
  return Number(d[0]);
}

/** Read a scalar synchronously (consumes it). */
export function scalarSync(x: Array): number {
  return Number(x.dataSync()[0]);
}

/** FNV-1a 32-bit hash of a string: used to derive named PRNG streams from one seed. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A jax-js PRNG key for the named stream `name` of run seed `seed`: independent streams
 * (`init`, `data`, `dropout`, `sample`, ...) from the one seed in the config.
 */
export function streamKey(seed: number, name: string): Array {
  return random.key((hash32(`${seed}:${name}`) ^ (seed >>> 0)) >>> 0);
}
