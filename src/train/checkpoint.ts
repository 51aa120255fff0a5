/**
 * Checkpoints: parameters, optimizer moments, step and host RNG state in one safetensors file
 * (`params.*`, `opt.m.*`, `opt.v.*` tensors; step, RNG state and extra state in `__metadata__`),
 * written atomically so a kill never leaves a torn checkpoint. Readable from Python:
 * `safetensors.numpy.load_file("checkpoints/latest.safetensors")`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { np, flattenNamed, unflattenNamed, type Array } from "../engine/index.js";

export { flattenNamed, unflattenNamed };
import { writeFileAtomic } from "../util/atomic.js";
import { decodeSafetensors, encodeSafetensors, asF32, type STTensor } from "./safetensors.js";

export type CheckpointState = {
  step: number;
  /** Any JSON-serialisable host state (RNG streams, best loss, ...). */
  state: Record<string, unknown>;
};

/** Read arrays' values (does not consume them). */
async function toTensors(named: Record<string, Array>, prefix: string, out: Record<string, STTensor>): Promise<void> {
  for (const [k, a] of Object.entries(named)) {
    const data = (await a.ref.data()) as Float32Array;
    out[`${prefix}${k}`] = { dtype: "F32", shape: a.shape, data: new Uint8Array(Float32Array.from(data).buffer) };
  }
}

/** Save trees (e.g. `{params, opt}`) and host state to `file` atomically. Nothing is consumed. */
export async function saveCheckpoint(file: string, trees: Record<string, unknown>, ck: CheckpointState): Promise<void> {
  const tensors: Record<string, STTensor> = {};
  for (const [name, t] of Object.entries(trees)) await toTensors(flattenNamed(t), `${name}.`, tensors);
  const meta = { format: "tinyfoundry-checkpoint-v1", step: String(ck.step), state: JSON.stringify(ck.state) };
  writeFileAtomic(file, encodeSafetensors(tensors, meta));
}

/** Load a checkpoint into trees shaped like `templates` (templates are disposed). */
export function loadCheckpoint<T extends Record<string, unknown>>(file: string, templates: T): { trees: T; step: number; state: Record<string, unknown> } {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(file)));
  if (metadata.format !== "tinyfoundry-checkpoint-v1") throw new Error(`checkpoint: ${file} is not a tinyfoundry checkpoint`);
  const trees: Record<string, unknown> = {};
  for (const [name, tmpl] of Object.entries(templates)) {
    const named: Record<string, Array> = {};
    for (const [k, t] of Object.entries(tensors)) {
      if (k.startsWith(`${name}.`)) named[k.slice(name.length + 1)] = np.array(asF32(t)).reshape(t.shape);
    }
    trees[name] = unflattenNamed(tmpl, named);
    for (const a of Object.values(flattenNamed(tmpl))) a.dispose();
  }
  return { trees: trees as T, step: Number(metadata.step), state: JSON.parse(metadata.state ?? "{}") as Record<string, unknown> };
}

export function latestCheckpoint(runDir: string): string | null {
  const f = join(runDir, "checkpoints", "latest.safetensors");
  return existsSync(f) ? f : null;
}

/**
 * The parameters of a finished (or interrupted) run or arm: the `params` tree of its latest
 * checkpoint, shaped like `template` (which is disposed). The one loader every experiment uses to
 * reuse an arm's model.
 */
export function loadRunParams<P>(runDir: string, template: P): P {
  const f = latestCheckpoint(runDir);
  if (!f) throw new Error(`checkpoint: ${runDir} has no checkpoints/latest.safetensors (was the run trained?)`);
  return loadCheckpoint(f, { params: template }).trees.params;
}
