/**
 * Browser entry of the WebGPU check (bundled by src/engine/webgpu.test.ts with esbuild; jax-js
 * itself comes from node_modules through the page's import map). Exposes
 * `globalThis.tinyfoundryRefSteps(device, options)`, which starts the engine on that device and
 * trains the reference steps there.
 */
import { initEngine, type Device } from "../../src/engine/index.js";
import { runRefSteps, type RefStepsOptions, type RefStepsResult } from "./ref-steps.js";

export type PageRun = RefStepsResult & { device: Device; available: Device[]; userAgent: string; adapter: string };

type AdapterInfo = { vendor?: string; architecture?: string; description?: string };
type GPULike = { requestAdapter(): Promise<{ info?: AdapterInfo } | null> };

/** The WebGPU adapter the page gets (SwiftShader without a GPU), as "vendor architecture description". */
async function adapterName(): Promise<string> {
  const gpu = (navigator as unknown as { gpu?: GPULike }).gpu;
  const info = (await gpu?.requestAdapter())?.info;
  if (!info) return "none";
  return [info.vendor, info.architecture, info.description].filter((s) => s).join(" ") || "unnamed";
}

async function tinyfoundryRefSteps(device: Device, options: RefStepsOptions): Promise<PageRun> {
  const info = await initEngine({ device });
  const result = await runRefSteps(options);
  return { ...result, device: info.device, available: info.available, userAgent: navigator.userAgent, adapter: await adapterName() };
}

(globalThis as unknown as { tinyfoundryRefSteps: typeof tinyfoundryRefSteps }).tinyfoundryRefSteps = tinyfoundryRefSteps;
