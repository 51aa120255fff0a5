/**
 * Checks the CLI runs before a run directory exists, so a bad input costs nothing and leaves
 * nothing behind: the output folder (writable, not a pseudo-filesystem), a `--data` file (a
 * regular, non-empty UTF-8 text file long enough for one batch), the memory a model and batch
 * need against jax-js's 4 GiB wasm limit, and a server's reachability for `eval`. Each failure is
 * one line naming the option.
 */
import { readFileSync, statSync } from "node:fs";
import { ConfigError } from "../train/config.js";
import { unwritableDirReason } from "../train/run-dir.js";
import { splitTrainVal } from "../data/corpus.js";
import { mlpWidth } from "../nn/transformer.js";

/** The folder that will hold run directories: it exists or can be made, on a real filesystem. */
export function checkOutDir(dir: string, option = "--out"): void {
  const why = unwritableDirReason(dir);
  if (why) throw new ConfigError(`${option}: ${why}`);
}

/** The corpus loader's minimum (data/corpus.ts). */
const MIN_CHARS = 1000;

/**
 * A user text file for `--data`: exists, a regular file, not empty, UTF-8 without NUL bytes, at
 * least 1000 characters, and (given the config's context length and validation fraction) long
 * enough that both splits hold one sequence of the context. Byte-level counts, the tokens of the
 * byte tokenizer; a BPE only shortens them, which its own loader reports.
 */
export function checkDataFile(file: string, config: { seed?: unknown; model?: { contextLength?: unknown }; data?: { valFraction?: unknown } }): void {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new ConfigError(`--data: file not found: ${file}`);
  }
  if (st.isDirectory()) throw new ConfigError(`--data: ${file} is a directory, not a file`);
  if (!st.isFile()) throw new ConfigError(`--data: ${file} is not a regular file`);
  if (st.size === 0) throw new ConfigError(`--data: ${file} is empty`);
  const bytes = readFileSync(file);
  const nul = bytes.indexOf(0);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`--data: ${file} is not UTF-8 text (invalid byte at offset ${firstInvalidUtf8(bytes)})`);
  }
  if (nul >= 0) throw new ConfigError(`--data: ${file} is not text (a NUL byte at offset ${nul})`);
  if (text.length < MIN_CHARS) throw new ConfigError(`--data: ${file} has ${text.length} characters; need at least ${MIN_CHARS}`);
  const T = config.model?.contextLength;
  const valFraction = config.data?.valFraction;
  if (typeof T === "number" && typeof valFraction === "number" && valFraction > 0 && valFraction < 1) {
    const seed = typeof config.seed === "number" ? config.seed : 0;
    const split = splitTrainVal(Int32Array.from(bytes), { valFraction, seed });
    const hint = "(a longer file or a smaller model.contextLength)";
    if (split.val.length < T + 1) throw new ConfigError(`--data: ${file} gives ${split.val.length} validation tokens; one batch of context ${T} needs at least ${T + 1} ${hint}`);
    if (split.train.length < T + 2) throw new ConfigError(`--data: ${file} gives ${split.train.length} training tokens; one batch of context ${T} needs at least ${T + 2} ${hint}`);
  }
}

/** Offset of the first byte where `bytes` stops being valid UTF-8. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const n = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    // Overlong, surrogate and out-of-range forms are caught by the decoder; report the lead byte.
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(i, i + n + 1));
    } catch {
      return i;
    }
    i += n + 1;
  }
  return bytes.length;
}

/** jax-js's wasm backend uses 32-bit memory: 4 GiB in all. */
export const WASM_LIMIT_BYTES = 4 * 2 ** 30;

type LMShape = { vocabSize: number; dModel: number; nLayers: number; nHeads: number; contextLength: number; mlpRatio?: number; mlpMultipleOf?: number; mlp?: string; tiedHead?: boolean; pos?: string };

const num = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x > 0;

/**
 * A lower bound of the memory one training step of a decoder-only transformer needs, in bytes
 * (float32): parameters, gradients and both AdamW moments (4 copies), the activations kept for the
 * backward pass (per layer and token at least 6·D + 2·H values, H the MLP width, plus the
 * attention probabilities B·heads·T² per layer) and the logits (2·V per token).
 */
export function lmStepBytes(m: LMShape, batchSize: number): { bytes: number; params: number } {
  const D = m.dModel;
  const L = m.nLayers;
  const T = m.contextLength;
  const V = m.vocabSize;
  const H = mlpWidth(D, m.mlpRatio ?? 4, m.mlpMultipleOf);
  const perBlock = 4 * D * D + (m.mlp === "swiglu" ? 3 : 2) * D * H;
  const params = V * D + (m.pos === "rope" ? 0 : T * D) + L * perBlock + (m.tiedHead === false ? V * D : 0);
  const tokens = batchSize * T;
  const floats = 4 * params + tokens * (L * (6 * D + 2 * H) + 2 * V) + L * batchSize * m.nHeads * T * T;
  return { bytes: 4 * floats, params };
}

function fmtGiB(bytes: number): string {
  const g = bytes / 2 ** 30;
  return g < 1000 ? g.toFixed(1) : Math.round(g).toLocaleString("en-US");
}

/**
 * Refuse a config whose model and batch cannot fit jax-js's 4 GiB wasm memory, before anything is
 * allocated (the engine would otherwise allocate for a minute, or fail with "Invalid typed array
 * length"). Applies to configs with a transformer `model` (vocabSize, dModel, nLayers, nHeads,
 * contextLength); the batch is `train.batchSize` (1 when there is none).
 */
export function checkMemory(config: { model?: Record<string, unknown>; train?: Record<string, unknown>; data?: Record<string, unknown> }): void {
  const m = config.model;
  if (!m || !num(m.vocabSize) || !num(m.dModel) || !num(m.nLayers) || !num(m.nHeads) || !num(m.contextLength)) return;
  const B = num(config.train?.batchSize) ? (config.train!.batchSize as number) : 1;
  const bpe = config.data?.tokenizer === "bpe" && num(config.data?.bpeVocab) ? (config.data.bpeVocab as number) : 0;
  const shape = { ...(m as unknown as LMShape), vocabSize: Math.max(m.vocabSize as number, bpe) };
  const { bytes, params } = lmStepBytes(shape, B);
  if (bytes > WASM_LIMIT_BYTES) {
    throw new ConfigError(
      `memory: this model and batch need about ${fmtGiB(bytes)} GiB (${params.toExponential(2)} parameters, batch ${B} x context ${shape.contextLength}); jax-js's wasm memory is limited to 4 GiB (lower model.nLayers, model.dModel, model.contextLength or train.batchSize)`,
    );
  }
}

/**
 * Is an OpenAI-compatible server answering at `baseUrl` (`GET {baseUrl}/models`)? Any HTTP answer
 * counts; returns the model ids it lists (empty when it lists none). Throws one line naming
 * `--base-url` when nothing answers within `timeoutMs`.
 */
export async function probeServer(baseUrl: string, opts: { apiKey?: string; timeoutMs?: number } = {}): Promise<string[]> {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    url = new URL("about:blank");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`--base-url: ${JSON.stringify(baseUrl)} is not an http(s) URL`);
  const base = baseUrl.replace(/\/+$/, "");
  const ctl = new AbortController();
  const ms = opts.timeoutMs ?? 5000;
  const timer = setTimeout(() => ctl.abort(), ms);
  try {
    const res = await fetch(`${base}/models`, { signal: ctl.signal, headers: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {} });
    const body = (await res.json().catch(() => null)) as { data?: { id?: unknown }[] } | null;
    return Array.isArray(body?.data) ? body.data.map((d) => d?.id).filter((x): x is string => typeof x === "string") : [];
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = ctl.signal.aborted ? `no answer within ${ms / 1000} s` : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new Error(`--base-url: cannot reach ${base} (${why}); start a server (tinyfoundry serve <run-dir>) or pass another --base-url`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Speed notes on a config's top-level `model` (not errors): jax-js's wasm matmuls take their SIMD kernels only when
 * the widths and sequence lengths involved are multiples of 4, and run others up to 5x slower (src/engine/README.md,
 * "Traps"). One line per finding, naming the field and the setting that avoids it; empty when there is nothing to say.
 */
export function speedHints(config: { model?: Record<string, unknown> }): string[] {
  const m = config.model;
  if (!m || typeof m.dModel !== "number") return [];
  const out: string[] = [];
  const slower = "jax-js's SIMD matmuls want multiples of 4 and run other widths up to 5x slower";
  if (m.dModel % 4 !== 0) out.push(`model.dModel: ${m.dModel} is not a multiple of 4; ${slower}`);
  if (typeof m.mlpRatio === "number") {
    const H = mlpWidth(m.dModel, m.mlpRatio, typeof m.mlpMultipleOf === "number" ? m.mlpMultipleOf : undefined);
    if (H % 4 !== 0)
      out.push(`model.mlpRatio: the MLP width ${H} (dModel × mlpRatio, rounded) is not a multiple of 4; ${slower}. Set model.mlpMultipleOf to 4 (LLaMA's multiple_of) to make it ${Math.ceil(H / 4) * 4}`);
  }
  if (typeof m.contextLength === "number" && m.contextLength % 4 !== 0 && typeof m.seqMultipleOf !== "number")
    out.push(`model.contextLength: ${m.contextLength} is not a multiple of 4; ${slower}. Set model.seqMultipleOf to 4 (the forward pads the time axis and slices the padding off) or use a multiple of 4`);
  return out;
}
