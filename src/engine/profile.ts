/**
 * Kernel counts and time shares of one piece of work, from jax-js's own trace (`profiler`), which
 * records every dispatch as a `performance.measure` entry with the kernel's expression.
 *
 * Timings are real only with one wasm thread: there a dispatch runs the kernel before it returns.
 * With a worker pool a dispatch only queues the kernel, so `timed` is false and only the counts
 * mean anything.
 */
import { workerShimActive } from "./node-shims.js"; // first: the shims must run before jax-js loads
import * as jax from "@jax-js/jax";

export type KernelProfile = {
  /** Everything dispatched: kernels plus routines (JS routines such as scatter, sort). */
  dispatches: number;
  kernels: number;
  /** Kernels with a reduction (matmuls, sums, maxima). */
  reductions: number;
  /** Matmul-shaped kernels: a sum over k of a product of two array reads. */
  matmuls: number;
  routines: number;
  /** Whether the times below are kernel run times (one thread) rather than dispatch times. */
  timed: boolean;
  msTotal: number;
  msMatmul: number;
  /** msMatmul / msTotal (NaN when not timed). */
  matmulShare: number;
};

type Measure = { name: string; duration: number; detail?: { devtools?: { trackGroup?: string; properties?: [string, string][] } } };

/** `(A[...] * B[...])` with plain array reads on both sides: jax-js's form of a contraction's body. */
const READ = String.raw`GV_\d+<float32>\{[^}]*\}\[[^\]]*\]`;
const MATMUL_BODY = new RegExp(String.raw`^\((${READ}) \* (${READ})\)$`);

/**
 * Whether a traced kernel (its properties) is a matmul: an Add-reduction of a product of two
 * different reads (the same read twice is a sum of squares, e.g. a gradient norm).
 */
export function isMatmulKernel(props: Record<string, string>): boolean {
  const m = MATMUL_BODY.exec(props.exp ?? "");
  return (props.reduction ?? "").startsWith("Add:") && m !== null && m[1] !== m[2];
}

/** Trace `work` (which should end by reading a result back) and summarise its kernels. */
export async function kernelProfile(work: () => Promise<void>): Promise<KernelProfile> {
  performance.clearMeasures();
  jax.profiler.startTrace();
  try {
    await work();
  } finally {
    jax.profiler.stopTrace();
  }
  const entries = (performance.getEntriesByType("measure") as unknown as Measure[]).filter((m) => m.detail?.devtools?.trackGroup === "JAX Profiler");
  performance.clearMeasures();
  let kernels = 0;
  let reductions = 0;
  let matmuls = 0;
  let msTotal = 0;
  let msMatmul = 0;
  for (const m of entries) {
    msTotal += m.duration;
    if (!m.name.startsWith("Kernel[")) continue;
    kernels++;
    const props = Object.fromEntries(m.detail?.devtools?.properties ?? []);
    if (props.reduction) reductions++;
    if (isMatmulKernel(props)) {
      matmuls++;
      msMatmul += m.duration;
    }
  }
  const timed = !workerShimActive();
  return {
    dispatches: entries.length,
    kernels,
    reductions,
    matmuls,
    routines: entries.length - kernels,
    timed,
    msTotal,
    msMatmul,
    matmulShare: timed && msTotal > 0 ? msMatmul / msTotal : NaN,
  };
}
