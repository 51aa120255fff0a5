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

/** Parse a safetensors buffer, validating the header against the spec. */
export function decodeSafetensors(buf: Uint8Array): { tensors: Record<string, STTensor>; metadata: Record<string, string> } {
  if (buf.byteLength < 8) throw new Error("safetensors: file shorter than 8 bytes");
  const n = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true));
  if (n > buf.byteLength - 8 || n > 100_000_000) throw new Error(`safetensors: header length ${n} exceeds file size`);
  const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n))) as Record<string, unknown>;
  const base = 8 + n;
  const tensors: Record<string, STTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = v as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = v as { dtype: STDtype; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in WIDTH)) throw new Error(`safetensors: ${name} has unsupported dtype ${dtype}`);
    const [b, e] = data_offsets;
    const count = shape.reduce((a, c) => a * c, 1);
    if (e - b !== count * WIDTH[dtype] || base + e > buf.byteLength) throw new Error(`safetensors: ${name} has bad data_offsets`);
    const data = new Uint8Array(e - b);
    data.set(buf.subarray(base + b, base + e));
    tensors[name] = { dtype, shape, data };
  }
  return { tensors, metadata };
}

export function asF32(t: STTensor): Float32Array {
  if (t.dtype !== "F32") throw new Error(`safetensors: expected F32, got ${t.dtype}`);
  return new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
}
