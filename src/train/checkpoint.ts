/**
 * Checkpoints: parameters, optimizer moments, step and host RNG state in one safetensors file
 * (`params.*`, `opt.m.*`, `opt.v.*` tensors; step, RNG state and extra state in `__metadata__`),
 * written atomically so a kill never leaves a torn checkpoint. Readable from Python:
 * `safetensors.numpy.load_file("checkpoints/latest.safetensors")`.
 *
 * Loading validates everything before any array is made or any file is touched: the format, the
 * header, every tensor the model expects (present, F32, its shape), every value finite, the step
 * an integer within [0, total steps], the saved state, and the config the checkpoint was written
 * with against the run's. A failure is a `CheckpointError`: one line that names the file and the
 * field.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { np, flattenNamed, unflattenNamed, type Array } from "../engine/index.js";

export { flattenNamed, unflattenNamed };
import { writeFileAtomic } from "../util/atomic.js";
import { decodeSafetensors, encodeSafetensors, asF32, SafetensorsError, type STTensor } from "./safetensors.js";

export const CHECKPOINT_FORMAT = "tinyfoundry-checkpoint-v1";

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export type CheckpointState = {
  step: number;
  /** Any JSON-serialisable host state (RNG streams, best loss, ...). */
  state: Record<string, unknown>;
  /** The run's total steps (checked on load: the step may not exceed it). */
  totalSteps?: number;
  /** The config the run trains with (checked on load against the resuming run's). */
  config?: unknown;
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
  const meta: Record<string, string> = { format: CHECKPOINT_FORMAT, step: String(ck.step), state: JSON.stringify(ck.state) };
  if (ck.totalSteps !== undefined) meta.totalSteps = String(ck.totalSteps);
  if (ck.config !== undefined) meta.config = JSON.stringify(ck.config);
  writeFileAtomic(file, encodeSafetensors(tensors, meta));
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/** The first dotted path where two JSON values differ, with both values; null when equal. */
export function firstDifference(a: unknown, b: unknown, path = ""): { path: string; a: unknown; b: unknown } | null {
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? null : { path: path || "(the whole config)", a, b };
}

const show = (x: unknown) => (x === undefined ? "nothing" : JSON.stringify(x));

export type CheckpointInfo = {
  step: number;
  state: Record<string, unknown>;
  totalSteps: number | null;
  tensors: Record<string, STTensor>;
};

/**
 * Read and validate a checkpoint file without making any array: the safetensors structure, the
 * format, the step (an integer within [0, total steps], where total steps is `opts.totalSteps`
 * or else the one the file records), the state (JSON; `rngs` as 4 uint32 each; `lastEval` as
 * numbers), every F32 value finite, and, when `opts.config` is given, the config the file was
 * written with. Throws a one-line `CheckpointError`.
 */
export function readCheckpoint(file: string, opts: { totalSteps?: number; config?: unknown } = {}): CheckpointInfo {
  const where = `checkpoint ${file}`;
  const fail = (msg: string): never => {
    throw new CheckpointError(`${where}: ${msg}`);
  };
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(readFileSync(file));
  } catch (e) {
    return fail(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(buf, where);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(e.message);
    throw e;
  }
  const { tensors, metadata } = decoded;
  if (metadata.format !== CHECKPOINT_FORMAT) fail(`__metadata__.format is ${show(metadata.format)}; expected "${CHECKPOINT_FORMAT}"`);

  let recordedTotal: number | null = null;
  if (metadata.totalSteps !== undefined) {
    if (!/^\d{1,15}$/.test(metadata.totalSteps)) fail(`__metadata__.totalSteps is ${show(metadata.totalSteps)}; expected a non-negative integer`);
    recordedTotal = Number(metadata.totalSteps);
  }
  const total = opts.totalSteps ?? recordedTotal;
  const range = total === null ? "a non-negative integer" : `an integer from 0 to ${total}`;
  if (metadata.step === undefined) fail(`__metadata__.step is missing; expected ${range}`);
  if (!/^\d{1,15}$/.test(metadata.step) || (total !== null && Number(metadata.step) > total)) fail(`__metadata__.step is ${show(metadata.step)}; expected ${range}`);
  const step = Number(metadata.step);

  if (opts.config !== undefined && metadata.config !== undefined) {
    let written: unknown;
    try {
      written = JSON.parse(metadata.config);
    } catch {
      fail("__metadata__.config is not valid JSON");
    }
    const d = firstDifference(written, opts.config);
    if (d) fail(`written with ${d.path} = ${show(d.a)}, but the run's config.json has ${d.path} = ${show(d.b)}`);
  }
  if (opts.totalSteps !== undefined && recordedTotal !== null && recordedTotal !== opts.totalSteps) {
    fail(`written for ${recordedTotal} total steps, but the run has ${opts.totalSteps}`);
  }

  let state: unknown = {};
  if (metadata.state !== undefined) {
    try {
      state = JSON.parse(metadata.state);
    } catch {
      fail("__metadata__.state is not valid JSON");
    }
  }
  if (!isObject(state)) return fail(`__metadata__.state is ${show(state)}; expected a JSON object`);
  if (state.rngs !== undefined) {
    if (!isObject(state.rngs)) fail(`__metadata__.state.rngs is ${show(state.rngs)}; expected an object of RNG states`);
    for (const [k, v] of Object.entries(state.rngs as Record<string, unknown>)) {
      const ok = Array.isArray(v) && v.length === 4 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff) && v.some((x) => x !== 0);
      if (!ok) fail(`__metadata__.state.rngs.${k} is ${show(v)}; expected 4 unsigned 32-bit integers, not all 0`);
    }
  }
  if (state.lastEval !== undefined) {
    if (!isObject(state.lastEval)) fail(`__metadata__.state.lastEval is ${show(state.lastEval)}; expected an object of numbers`);
    for (const [k, v] of Object.entries(state.lastEval as Record<string, unknown>)) {
      // A NaN evaluation was written as null by JSON.
      if (typeof v !== "number" && v !== null) fail(`__metadata__.state.lastEval.${k} is ${show(v)}; expected a number`);
    }
  }

  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== "F32") continue;
    const f = asF32(t);
    for (let i = 0; i < f.length; i++) {
      if (!Number.isFinite(f[i])) fail(`tensor ${JSON.stringify(name)} holds ${f[i]} at index ${i}; a checkpoint holds finite values only`);
    }
  }
  return { step, state, totalSteps: recordedTotal, tensors };
}

/**
 * Load a checkpoint into trees shaped like `templates`. Everything is validated (see
 * `readCheckpoint`; plus every tensor each template expects: present, F32, same shape) before
 * any array is made. The templates are disposed, whether the load succeeds or not.
 */
export function loadCheckpoint<T extends Record<string, unknown>>(
  file: string,
  templates: T,
  opts: { totalSteps?: number; config?: unknown } = {},
): { trees: T; step: number; state: Record<string, unknown> } {
  const disposeTemplates = () => {
    for (const tmpl of Object.values(templates)) for (const a of Object.values(flattenNamed(tmpl))) a.dispose();
  };
  let info: CheckpointInfo;
  try {
    info = readCheckpoint(file, opts);
    for (const [name, tmpl] of Object.entries(templates)) {
      for (const [k, a] of Object.entries(flattenNamed(tmpl))) {
        const key = `${name}.${k}`;
        const t = info.tensors[key];
        const want = `[${a.shape.join(", ")}]`;
        if (!t) throw new CheckpointError(`checkpoint ${file}: tensor ${JSON.stringify(key)} is missing (the model expects shape ${want})`);
        if (t.dtype !== "F32") throw new CheckpointError(`checkpoint ${file}: tensor ${JSON.stringify(key)} dtype is ${t.dtype}; the model expects F32`);
        if (t.shape.join(",") !== a.shape.join(",")) throw new CheckpointError(`checkpoint ${file}: tensor ${JSON.stringify(key)} has shape [${t.shape.join(", ")}]; the model expects ${want}`);
      }
    }
  } catch (e) {
    disposeTemplates();
    throw e;
  }
  const trees: Record<string, unknown> = {};
  for (const [name, tmpl] of Object.entries(templates)) {
    const named: Record<string, Array> = {};
    for (const k of Object.keys(flattenNamed(tmpl))) {
      const t = info.tensors[`${name}.${k}`];
      named[k] = np.array(asF32(t)).reshape(t.shape);
    }
    trees[name] = unflattenNamed(tmpl, named);
  }
  disposeTemplates();
  return { trees: trees as T, step: info.step, state: info.state };
}

export function latestCheckpoint(runDir: string): string | null {
  const f = join(runDir, "checkpoints", "latest.safetensors");
  return existsSync(f) ? f : null;
}

/**
 * Validate every checkpoint of a run before it is resumed: the run's own and each arm's
 * (`arms/<arm>/`, nested), each against the config.json next to it. Throws a one-line
 * `CheckpointError`; touches nothing.
 */
export function checkRunCheckpoints(runDir: string): void {
  const visit = (dir: string, depth: number) => {
    const f = latestCheckpoint(dir);
    if (f) {
      let config: unknown;
      const cf = join(dir, "config.json");
      if (existsSync(cf)) {
        try {
          config = JSON.parse(readFileSync(cf, "utf8"));
        } catch {
          throw new CheckpointError(`run directory ${dir}: config.json is not valid JSON`);
        }
      }
      readCheckpoint(f, { config });
    }
    const arms = join(dir, "arms");
    if (depth < 3 && existsSync(arms)) for (const a of readdirSync(arms).sort()) visit(join(arms, a), depth + 1);
  };
  visit(runDir, 0);
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
