/**
 * Imported first by bench/ref-step.ts (before the engine): records the WebAssembly memories and
 * modules jax-js makes, so the bench can say where its resident memory goes (the wasm heap of
 * tensors versus compiled kernels versus the JS heap). Bench-only: it wraps the WebAssembly
 * constructors of this process. A `.mts` file, so bench/run.ts does not take it for a paper bench.
 */
const W = WebAssembly as unknown as Record<string, unknown>;
/** Every WebAssembly memory made in this process since this module loaded (pilots print their sizes). */
export const memories: WebAssembly.Memory[] = [];
let modules = 0;
let moduleBytes = 0;
const OrigMemory = WebAssembly.Memory;
function Memory(d: WebAssembly.MemoryDescriptor): WebAssembly.Memory {
  const m = new OrigMemory(d);
  memories.push(m);
  return m;
}
Memory.prototype = OrigMemory.prototype;
W.Memory = Memory;
const OrigModule = WebAssembly.Module;
function Module(bytes: BufferSource): WebAssembly.Module {
  modules++;
  moduleBytes += bytes.byteLength;
  return new OrigModule(bytes);
}
Module.prototype = OrigModule.prototype;
W.Module = Module;
const origCompile = WebAssembly.compile.bind(WebAssembly);
W.compile = (bytes: BufferSource) => {
  modules++;
  moduleBytes += bytes.byteLength;
  return origCompile(bytes);
};

const MB = (n: number) => Math.round((n / 1048576) * 10) / 10;
/** The largest wasm memory's size (jax-js's heap of tensors), the JS heap, and the kernels compiled. */
export function memoryParts(): { wasmMB: number; heapTotalMB: number; heapUsedMB: number; externalMB: number; wasmModules: number; wasmModuleKB: number } {
  const m = process.memoryUsage();
  return {
    wasmMB: MB(Math.max(0, ...memories.map((x) => x.buffer.byteLength))),
    heapTotalMB: MB(m.heapTotal),
    heapUsedMB: MB(m.heapUsed),
    externalMB: MB(m.external),
    wasmModules: modules,
    wasmModuleKB: Math.round(moduleBytes / 1024),
  };
}
