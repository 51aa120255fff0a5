/**
 * Audio I/O and simple signal utilities in plain TypeScript (no dependencies):
 *
 * - `decodeWav` / `encodeWav`: RIFF/WAVE files (Microsoft "Multimedia Programming Interface and
 *   Data Specifications 1.0", 1991): PCM 8/16/24/32-bit integer (format 1), 32/64-bit IEEE float
 *   (format 3) and WAVE_FORMAT_EXTENSIBLE (0xFFFE); multi-channel files are mixed down to mono.
 *   Streams written without knowing their length (data size 0 or 0xFFFFFFFF) are read to the end.
 * - `resample`: band-limited resampling by windowed-sinc interpolation (Smith, "Digital Audio
 *   Resampling", 2002): y(t) = Σ_n x[n]·c·sinc(c·(t - n))·w(t - n), cutoff c = 0.95·min(1, to/from)
 *   in input-sample units, Hann window of `halfWidth` zero crossings on each side.
 * - `trimSilence`, `normalizePeak`: the small clean-ups a speech corpus needs.
 */

/** Mono audio: samples in [-1, 1] at `sampleRate` Hz. */
export type Audio = { sampleRate: number; samples: Float32Array };

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

/** Parse a WAV file into mono float samples. Throws with the reason when the file is not one we read. */
export function decodeWav(bytes: Uint8Array): Audio {
  if (bytes.length < 12 || fourcc(bytes, 0) !== "RIFF" || fourcc(bytes, 8) !== "WAVE") {
    throw new Error("decodeWav: not a RIFF/WAVE file (missing 'RIFF'...'WAVE' header)");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | null = null;
  let dataAt = -1;
  let dataLen = 0;
  let p = 12;
  while (p + 8 <= bytes.length) {
    const id = fourcc(bytes, p);
    let size = dv.getUint32(p + 4, true);
    const body = p + 8;
    if (id === "fmt ") {
      let format = dv.getUint16(body, true);
      const channels = dv.getUint16(body + 2, true);
      const sampleRate = dv.getUint32(body + 4, true);
      const bits = dv.getUint16(body + 14, true);
      if (format === 0xfffe && size >= 26) format = dv.getUint16(body + 24, true); // sub-format GUID's first two bytes
      fmt = { format, channels, sampleRate, bits };
    } else if (id === "data") {
      if (size === 0 || size === 0xffffffff || body + size > bytes.length) size = bytes.length - body;
      dataAt = body;
      dataLen = size;
      break;
    }
    p = body + size + (size & 1);
  }
  if (!fmt) throw new Error("decodeWav: no 'fmt ' chunk");
  if (dataAt < 0) throw new Error("decodeWav: no 'data' chunk");
  const { format, channels, sampleRate, bits } = fmt;
  const ok = (format === 1 && [8, 16, 24, 32].includes(bits)) || (format === 3 && (bits === 32 || bits === 64));
  if (!ok) throw new Error(`decodeWav: unsupported sample format ${format} with ${bits} bits; supported: PCM 8/16/24/32-bit, float 32/64-bit`);
  if (channels < 1) throw new Error("decodeWav: file has 0 channels");
  const bps = bits / 8;
  const frames = Math.floor(dataLen / (bps * channels));
  const out = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) {
      const at = dataAt + (i * channels + c) * bps;
      let v: number;
      if (format === 3) v = bits === 32 ? dv.getFloat32(at, true) : dv.getFloat64(at, true);
      else if (bits === 8) v = (bytes[at] - 128) / 128;
      else if (bits === 16) v = dv.getInt16(at, true) / 32768;
      else if (bits === 24) v = (((bytes[at + 2] << 24) | (bytes[at + 1] << 16) | (bytes[at] << 8)) >> 8) / 8388608;
      else v = dv.getInt32(at, true) / 2147483648;
      s += v;
    }
    out[i] = s / channels;
  }
  return { sampleRate, samples: out };
}

/** Encode mono samples as a 16-bit PCM WAV file (values outside [-1, 1] are clipped). */
export function encodeWav(samples: Float32Array, sampleRate: number): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new Error(`encodeWav: sampleRate must be a positive integer, got ${sampleRate}`);
  const n = samples.length;
  const out = new Uint8Array(44 + 2 * n);
  const dv = new DataView(out.buffer);
  const w4 = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  w4(0, "RIFF");
  dv.setUint32(4, 36 + 2 * n, true);
  w4(8, "WAVE");
  w4(12, "fmt ");
  dv.setUint32(16, 16, true);
  dv.setUint16(20, 1, true); // PCM
  dv.setUint16(22, 1, true); // mono
  dv.setUint32(24, sampleRate, true);
  dv.setUint32(28, sampleRate * 2, true); // byte rate
  dv.setUint16(32, 2, true); // block align
  dv.setUint16(34, 16, true);
  w4(36, "data");
  dv.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    dv.setInt16(44 + 2 * i, Math.round(v < 0 ? v * 32768 : v * 32767), true);
  }
  return out;
}

/**
 * Resample `x` from `from` Hz to `to` Hz by windowed-sinc interpolation (anti-aliased when
 * down-sampling). Output length is round(len·to/from).
 */
export function resample(x: Float32Array, from: number, to: number, opts: { halfWidth?: number; rolloff?: number } = {}): Float32Array {
  if (!(from > 0 && to > 0)) throw new Error(`resample: rates must be positive, got ${from} -> ${to}`);
  if (from === to) return Float32Array.from(x);
  const halfWidth = opts.halfWidth ?? 16;
  const rolloff = opts.rolloff ?? 0.95;
  const ratio = to / from;
  const cut = rolloff * Math.min(1, ratio); // cutoff in cycles per input sample ×2 (1 = Nyquist)
  const reach = Math.ceil(halfWidth / cut); // input samples on each side
  const n = Math.round(x.length * ratio);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / ratio; // position in input samples
    const c = Math.floor(t);
    let s = 0;
    for (let k = c - reach + 1; k <= c + reach; k++) {
      if (k < 0 || k >= x.length) continue;
      const d = t - k;
      const u = d * cut;
      const sinc = u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u);
      const wArg = d / (reach + 1);
      if (Math.abs(wArg) >= 1) continue;
      const w = 0.5 + 0.5 * Math.cos(Math.PI * wArg);
      s += x[k] * cut * sinc * w;
    }
    y[i] = s;
  }
  return y;
}

/**
 * Remove leading and trailing silence: frames of `frameMs` whose RMS is below `thresholdDb`
 * relative to the loudest frame are cut, keeping `padMs` of margin on each side.
 */
export function trimSilence(x: Float32Array, sampleRate: number, opts: { thresholdDb?: number; frameMs?: number; padMs?: number } = {}): Float32Array {
  const thr = opts.thresholdDb ?? -40;
  const frame = Math.max(1, Math.round(((opts.frameMs ?? 10) * sampleRate) / 1000));
  const pad = Math.round(((opts.padMs ?? 50) * sampleRate) / 1000);
  const nF = Math.ceil(x.length / frame);
  const db = new Float64Array(nF);
  let maxDb = -Infinity;
  for (let f = 0; f < nF; f++) {
    let s = 0;
    const end = Math.min(x.length, (f + 1) * frame);
    for (let i = f * frame; i < end; i++) s += x[i] * x[i];
    db[f] = 10 * Math.log10(s / Math.max(1, end - f * frame) + 1e-20);
    if (db[f] > maxDb) maxDb = db[f];
  }
  let a = 0;
  while (a < nF && db[a] < maxDb + thr) a++;
  let b = nF - 1;
  while (b > a && db[b] < maxDb + thr) b--;
  if (a >= nF) return new Float32Array(0);
  const start = Math.max(0, a * frame - pad);
  const stop = Math.min(x.length, (b + 1) * frame + pad);
  return x.slice(start, stop);
}

/** Scale so the largest |sample| is `peak` (silence is returned unchanged). */
export function normalizePeak(x: Float32Array, peak = 0.9): Float32Array {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  if (m === 0) return Float32Array.from(x);
  const g = peak / m;
  return x.map((v) => v * g);
}
