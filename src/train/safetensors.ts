/**
 * The safetensors format (https://github.com/huggingface/safetensors): 8-byte little-endian
 * header length N, N bytes of JSON header `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}}` padded with spaces to a multiple of 8, then the raw
 * little-endian tensor bytes in header order. Files written here load with Python's `safetensors`.
 */
export type STDtype = "F32" | "F64" | "I32" | "U32" | "U8" | "I64" | "F16";
export type STTensor = { dtype: STDtype; shape: number[]; data: Uint8Array };

const WIDTH: Record<STDtype, number> = { F32: 4, F64: 8, I32: 4, U32: 4, U8: 1, I64: 8, F16: 2 };

export function tensorF32(shape: number[], data: Float32Array): STTensor {
  return { dtype: "F32", shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
export function tensorI32(shape: number[], data: Int32Array): STTensor {
  return { dtype: "I32", shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
export function tensorU32(shape: number[], data: Uint32Array): STTensor {
  return { dtype: "U32", shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Serialize tensors (sorted by name, as the reference implementation does) and metadata. */
export function encodeSafetensors(tensors: Record<string, STTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const name of names) {
    const t = tensors[name];
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.byteLength !== n * WIDTH[t.dtype]) {
      throw new Error(`safetensors: ${name} has ${t.data.byteLength} bytes, shape [${t.shape}] ${t.dtype} needs ${n * WIDTH[t.dtype]}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const hb = new TextEncoder().encode(json);
  const pad = (8 - (hb.length % 8)) % 8;
  json += " ".repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let p = 8 + headerBytes.length;
  for (const name of names) {
    out.set(tensors[name].data, p);
    p += tensors[name].data.byteLength;
  }
  return out;
}

/** A file that does not follow the safetensors format (or a checkpoint's expectations); one line naming the field. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/**
 * Parse a safetensors buffer, validating everything the spec requires before any tensor is
 * copied: the header length, the header as a JSON object, `__metadata__` as string to string, each
 * tensor's dtype, shape and `data_offsets` (inside the data section, matching the shape, and
 * together covering it without gaps or overlaps). Errors are one line that starts with `source`
 * (e.g. `checkpoint runs/x/checkpoints/latest.safetensors`) and names the field.
 */
export function decodeSafetensors(buf: Uint8Array, source = "safetensors"): { tensors: Record<string, STTensor>; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (buf.byteLength < 8) fail(`the file has ${buf.byteLength} bytes; a safetensors file has at least 8`);
  const n64 = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  if (n64 > BigInt(buf.byteLength - 8) || n64 > 100_000_000n) fail(`header length ${n64} exceeds the file's ${buf.byteLength} bytes`);
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch {
    fail("the header is not valid JSON");
  }
  if (!isObject(header)) fail("the header is not a JSON object");
  const h = header as Record<string, unknown>;
  const base = 8 + n;
  const dataBytes = buf.byteLength - base;
  let metadata: Record<string, string> = {};
  const spans: { name: string; b: number; e: number; dtype: STDtype; shape: number[] }[] = [];
  for (const [name, v] of Object.entries(h)) {
    if (name === "__metadata__") {
      if (!isObject(v)) fail("__metadata__ is not an object of strings");
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x !== "string") fail(`__metadata__.${k} is ${JSON.stringify(x)}; expected a string`);
      metadata = v as Record<string, string>;
      continue;
    }
    const t = `tensor ${JSON.stringify(name)}`;
    if (!isObject(v)) fail(`${t} is ${JSON.stringify(v)}; expected {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets } = v as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in WIDTH)) fail(`${t} dtype is ${JSON.stringify(dtype)}; expected one of ${Object.keys(WIDTH).join(", ")}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${t} shape is ${JSON.stringify(shape)}; expected a list of non-negative integers`);
    if (data_offsets === undefined) fail(`${t} data_offsets is missing; expected [begin, end]`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every(isCount)) fail(`${t} data_offsets is ${JSON.stringify(data_offsets)}; expected [begin, end]`);
    const [b, e] = data_offsets as [number, number];
    const where = `${t} data_offsets [${b}, ${e}]`;
    if (e > dataBytes) fail(`${where} end past the ${dataBytes} data bytes of the file`);
    const count = (shape as number[]).reduce((a, c) => a * c, 1);
    if (b > e || e - b !== count * WIDTH[dtype as STDtype]) fail(`${where} do not match its shape [${(shape as number[]).join(", ")}] ${dtype} (bad data_offsets)`);
    spans.push({ name, b, e, dtype: dtype as STDtype, shape: shape as number[] });
  }
  // The spec: tensors cover the data section exactly, no holes and no overlaps.
  spans.sort((x, y) => x.b - y.b || x.e - y.e);
  let at = 0;
  for (const s of spans) {
    if (s.b !== at) fail(`tensor ${JSON.stringify(s.name)} data_offsets [${s.b}, ${s.e}] ${s.b < at ? "overlap the tensor before it" : `leave a gap after byte ${at}`} (bad data_offsets)`);
    at = s.e;
  }
  if (at !== dataBytes) fail(`the data section has ${dataBytes} bytes but the tensors cover ${at} (bad data_offsets)`);
  const tensors: Record<string, STTensor> = {};
  for (const s of spans) {
    const data = new Uint8Array(s.e - s.b);
    data.set(buf.subarray(base + s.b, base + s.e));
    tensors[s.name] = { dtype: s.dtype, shape: s.shape, data };
  }
  return { tensors, metadata };
}

export function asF32(t: STTensor): Float32Array {
  if (t.dtype !== "F32") throw new Error(`safetensors: expected F32, got ${t.dtype}`);
  return new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
}
