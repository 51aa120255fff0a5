// Imported first by a pilot, before it loads the engine: records every WebAssembly memory jax-js creates, so the
// pilot can print their sizes (a wasm memory only grows, so its size is its peak).
export const wasmMemories: WebAssembly.Memory[] = [];
const Original = WebAssembly.Memory;
const Recording = function (d: WebAssembly.MemoryDescriptor) {
  const m = new Original(d);
  wasmMemories.push(m);
  return m;
} as unknown as typeof WebAssembly.Memory;
Recording.prototype = Original.prototype;
(WebAssembly as { Memory: typeof WebAssembly.Memory }).Memory = Recording;
