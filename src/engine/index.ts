/**
 * tinyfoundry's numerical engine: @jax-js/jax (pinned) behind one module.
 *
 * Every other file imports jax-js through here, so the Node shims are installed first and an
 * upgrade or a swap stays a local change. Besides re-exporting jax-js, this module adds what
 * jax-js lacks: a cross-entropy that differentiates under `jit`, quantiles, typed `jit` and
 * `valueAndGrad` for params objects, and live-buffer counting for leak tests.
 */
import "./node-shims.js";
import * as jax from "@jax-js/jax";
import { numpy as np, nn as jnn, lax, random, tree } from "@jax-js/jax";
import { requestedThreads, workerShimActive, relaxedSimdActive } from "./node-shims.js";
import { installBufferCounter, jaxPatched } from "./buffers.js";

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
export { liveBuffers, jaxPatched } from "./buffers.js";
export { flattenNamed, unflattenNamed } from "./named.js";
export { kernelProfile, isMatmulKernel, type KernelProfile } from "./profile.js";

/**
 * `tree.ref` for typed parameter objects. jax-js's `JsTree` type cannot be checked against a
 * generic params type `P`, so a generic caller needs one cast; it lives here instead of at every call.
 */
export function refTree<T>(t: T): T {
  return tree.ref(t as JsTree<Array>) as T;
}

/** `tree.dispose` for typed parameter and optimizer objects (see `refTree`). */
export function disposeTree(t: unknown): void {
  tree.dispose(t as JsTree<Array>);
}

/** A compiled function and the handle that frees its programs. */
export type Jitted<F> = F & { dispose: () => void };

/**
 * `jit` typed by `f` itself: the compiled function keeps `f`'s signature. jax-js's own `jit` maps
 * the argument types through `MapJsTree`, which TypeScript cannot resolve for a generic params type
 * `P` (a training step written once for every model), and it wants `f` to return a `JsTree`.
 */
export function jitTyped<F extends (...args: never[]) => unknown>(f: F, opts?: { staticArgnums?: number[] }): Jitted<F>;
export function jitTyped(f: (...args: JsTree<Array>[]) => JsTree<Array>, opts?: { staticArgnums?: number[] }) {
  return jax.jit(f, opts);
}

/**
 * `valueAndGrad` with respect to the first argument, typed by `f`: the gradient has the type of
 * the params (`[value, grads]`; with `hasAux`, `f` returns `[loss, aux]` and value is that pair).
 */
export function valueAndGradTyped<P, A extends unknown[], R>(f: (p: P, ...rest: A) => R, opts?: { hasAux?: boolean }): (p: P, ...rest: A) => [R, P];
export function valueAndGradTyped(f: (...args: JsTree<Array>[]) => JsTree<Array>, opts?: { hasAux?: boolean }) {
  return valueAndGrad(f, opts?.hasAux ? { hasAux: true } : undefined);
}

export type EngineInfo = {
  device: Device;
  available: Device[];
  threads: number;
  workers: boolean;
  /** Whether the installed jax-js carries scripts/patch-jax.mjs (the faster matmul micro-tile). */
  jaxPatched: boolean;
  /** Whether wasm relaxed SIMD is on, so jax-js's matmuls use fused multiply-adds (`node-shims.ts`). */
  relaxedSimd: boolean;
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
  info = { device: want, available, threads: requestedThreads(), workers: workerShimActive(), relaxedSimd: relaxedSimdActive(), jaxPatched: jaxPatched(), jaxVersion: JAX_VERSION };
  return info;
}

async function installWebGPU(): Promise<void> {
  const nav: { userAgent: string; gpu?: unknown } = globalThis.navigator; // Node's lib types lack `gpu`
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
