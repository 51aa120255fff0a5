/**
 * Checkpoints: parameters, optimizer moments, step and host RNG state in one safetensors file
 * (`params.*`, `opt.m.*`, `opt.v.*` tensors; step, RNG state and extra state in `__metadata__`),
 * written atomically so a kill never leaves a torn checkpoint. Readable from Python:
 * `safetensors.numpy.load_file("checkpoints/latest.safetensors")`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { np, type Array } from "../engine/index.js";
import { writeFileAtomic } from "../util/atomic.js";
import { decodeSafetensors, encodeSafetensors, asF32, type STTensor } from "./safetensors.js";

/** Flatten a pytree of arrays to `{ "a.b.0.c": Array }` (object keys in insertion order). */
export function flattenNamed(tree: unknown, prefix = "", out: Record<string, Array> = {}): Record<string, Array> {
  if (tree && typeof tree === "object" && !Array.isArray(tree) && "shape" in (tree as object) && "dtype" in (tree as object)) {
    out[prefix] = tree as Array;
  } else if (Array.isArray(tree)) {
    tree.forEach((t, i) => flattenNamed(t, prefix ? `${prefix}.${i}` : String(i), out));
  } else if (tree && typeof tree === "object") {
    for (const [k, v] of Object.entries(tree)) flattenNamed(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

/** Rebuild a tree shaped like `template` from named arrays (template leaves are not consumed). */
export function unflattenNamed<T>(template: T, named: Record<string, Array>, prefix = ""): T {
  const t = template as unknown;
  if (t && typeof t === "object" && !Array.isArray(t) && "shape" in (t as object) && "dtype" in (t as object)) {
    const a = named[prefix];
    if (!a) throw new Error(`checkpoint: missing tensor ${prefix}`);
    const want = (t as Array).shape;
    if (a.shape.join(",") !== want.join(",")) throw new Error(`checkpoint: ${prefix} has shape [${a.shape}], model expects [${want}]`);
    return a as T;
  }
  if (Array.isArray(t)) return t.map((x, i) => unflattenNamed(x, named, prefix ? `${prefix}.${i}` : String(i))) as T;
  if (t && typeof t === "object") {
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, unflattenNamed(v, named, prefix ? `${prefix}.${k}` : k)])) as T;
  }
  return t as T;
}

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
