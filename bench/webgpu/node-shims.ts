/**
 * Browser stand-in for src/engine/node-shims.ts in the WebGPU page's bundle (the bundler aliases
 * it there): a browser already has `navigator`, `Worker` and iterator helpers, so nothing is
 * installed; jax-js starts its own wasm pool from the browser's `Worker`.
 */
export function requestedThreads(): number {
  return navigator.hardwareConcurrency || 1;
}

export function workerShimActive(): boolean {
  return false;
}

/** Whether this browser's wasm has relaxed SIMD (jax-js probes the same way). */
export function relaxedSimdActive(): boolean {
  const hex = "0061736d0100000001080160037b7b7b017b030201000a0d010b00200020012002fd85020b";
  return WebAssembly.validate(Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16)));
}
