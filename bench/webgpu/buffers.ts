/**
 * Browser stand-in for src/engine/buffers.ts in the WebGPU page's bundle (the bundler aliases it
 * there): the live-buffer counter reaches jax-js's backend module through Node's module
 * resolution, which a page does not have, so the page counts nothing.
 */
export function installBufferCounter(): Promise<void> {
  return Promise.resolve();
}

export function liveBuffers(_device = "wasm"): number {
  throw new Error("liveBuffers: buffers are not counted in the browser page");
}

/** The page loads jax-js as served; whether it carries the install-time patch is not checked here. */
export function jaxPatched(): boolean {
  return false;
}
