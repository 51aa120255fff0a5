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
