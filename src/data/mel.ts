/**
 * A Whisper-style log-mel front end and its approximate inverse, in plain TypeScript.
 *
 * - `fft`: mixed-radix Cooley-Tukey (1965) decimation in time for any length (n_fft 400 = 2⁴·5²;
 *   prime factors are done as direct sums), X[k] = Σ_n x[n]·e^{-2πi·kn/N}.
 * - `stft` / `istft`: centred frames with reflect padding and a periodic Hann window (the
 *   `torch.stft(..., center=True, pad_mode="reflect")` convention Whisper uses); the inverse is
 *   weighted overlap-add divided by Σ w² (Griffin & Lim 1984, eq. 6).
 * - `melFilterbank`: the Slaney (Auditory Toolbox) mel scale, linear below 1 kHz (f·3/200) and
 *   logarithmic above (15 + 27·ln(f/1000)/ln 6.4), triangles normalised to equal area
 *   (2 / (f_{i+2} − f_i)), as `librosa.filters.mel(htk=False, norm="slaney")`.
 * - `logMelSpectrogram`: Whisper's `log_mel_spectrogram` (Radford et al. 2022, "Robust Speech
 *   Recognition via Large-Scale Weak Supervision", code `whisper/audio.py`): 16 kHz, n_fft 400,
 *   hop 160 (100 frames/s), power spectrum without the last frame, mel, log10 floored at 1e-10,
 *   clamp at max − 8, then (x + 4) / 4.
 * - `griffinLim`: phase reconstruction from a magnitude spectrogram, with the "fast" momentum
 *   variant (Perraudin, Balazs & Søndergaard 2013, α = 0.99); `melToLinearPower` inverts the
 *   filterbank by non-negative least squares (Lee & Seung 2001 multiplicative updates), and
 *   `vocodeLogMel` chains normalised log-mel → power → magnitude → Griffin-Lim → waveform.
 */
import { Rng } from "../util/rng.js";

// ---------------------------------------------------------------- FFT

const twiddleCache = new Map<number, { cos: Float64Array; sin: Float64Array }>();

function twiddles(n: number): { cos: Float64Array; sin: Float64Array } {
  let t = twiddleCache.get(n);
  if (!t) {
    const cos = new Float64Array(n);
    const sin = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      cos[j] = Math.cos((2 * Math.PI * j) / n);
      sin[j] = -Math.sin((2 * Math.PI * j) / n);
    }
    t = { cos, sin };
    twiddleCache.set(n, t);
  }
  return t;
}

function smallestFactor(n: number): number {
  for (const p of [4, 2, 3, 5]) if (n % p === 0) return p;
  for (let p = 7; p * p <= n; p += 2) if (n % p === 0) return p;
  return n;
}

/** DFT of x[off + k·s], k < n, into y[yo .. yo+n). `N` is the top-level size (twiddle table). */
function fftRec(n: number, N: number, xr: Float64Array, xi: Float64Array, off: number, s: number, yr: Float64Array, yi: Float64Array, yo: number, tr: Float64Array, ti: Float64Array): void {
  if (n === 1) {
    yr[yo] = xr[off];
    yi[yo] = xi[off];
    return;
  }
  const p = smallestFactor(n);
  const m = n / p;
  for (let q = 0; q < p; q++) fftRec(m, N, xr, xi, off + q * s, s * p, yr, yi, yo + q * m, tr, ti);
  // Combine: Y[k + r·m] = Σ_q W_n^{q(k + r·m)} Z_q[k]
  const { cos, sin } = twiddles(N);
  const step = N / n;
  for (let k = 0; k < m; k++) {
    for (let r = 0; r < p; r++) {
      let sr = 0;
      let si = 0;
      for (let q = 0; q < p; q++) {
        const idx = ((q * (k + r * m)) % n) * step;
        const zr = yr[yo + q * m + k];
        const zi = yi[yo + q * m + k];
        sr += zr * cos[idx] - zi * sin[idx];
        si += zr * sin[idx] + zi * cos[idx];
      }
      tr[r] = sr;
      ti[r] = si;
    }
    // Written only after all p outputs are computed: they read the same p slots.
    for (let r = 0; r < p; r++) {
      yr[yo + k + r * m] = tr[r];
      yi[yo + k + r * m] = ti[r];
    }
  }
}

/** Complex DFT of (re, im) of any length; returns new arrays. */
export function fft(re: ArrayLike<number>, im?: ArrayLike<number>): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  const xr = Float64Array.from(re);
  const xi = im ? Float64Array.from(im) : new Float64Array(n);
  const yr = new Float64Array(n);
  const yi = new Float64Array(n);
  if (n === 0) return { re: yr, im: yi };
  const tr = new Float64Array(n);
  const ti = new Float64Array(n);
  fftRec(n, n, xr, xi, 0, 1, yr, yi, 0, tr, ti);
  return { re: yr, im: yi };
}

/** Inverse complex DFT (1/N normalised). */
export function ifft(re: ArrayLike<number>, im: ArrayLike<number>): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  const ni = Float64Array.from(im, (v) => -v);
  const r = fft(re, ni);
  for (let i = 0; i < n; i++) {
    r.re[i] /= n;
    r.im[i] = -r.im[i] / n;
  }
  return r;
}

// ---------------------------------------------------------------- STFT

/** Hann window; `periodic` (default, torch.hann_window) divides by n, symmetric by n − 1. */
export function hannWindow(n: number, periodic = true): Float64Array {
  const d = periodic ? n : n - 1;
  return Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / d));
}

export type StftOptions = { nFft: number; hop: number; window?: Float64Array; center?: boolean };

/** A complex spectrogram: `frames` × `bins` (bins = nFft/2 + 1), row-major. */
export type Spectrogram = { re: Float64Array; im: Float64Array; frames: number; bins: number };

function reflectPad(x: ArrayLike<number>, pad: number): Float64Array {
  const n = x.length;
  if (n <= pad) throw new Error(`stft: signal of ${n} samples is too short for reflect padding of ${pad}`);
  const y = new Float64Array(n + 2 * pad);
  for (let i = 0; i < n; i++) y[pad + i] = x[i];
  for (let i = 1; i <= pad; i++) {
    y[pad - i] = x[i];
    y[pad + n - 1 + i] = x[n - 1 - i];
  }
  return y;
}

/** Short-time Fourier transform: 1 + floor(len/hop) frames when centred. */
export function stft(x: ArrayLike<number>, o: StftOptions): Spectrogram {
  const { nFft, hop } = o;
  const win = o.window ?? hannWindow(nFft);
  const center = o.center ?? true;
  const sig = center ? reflectPad(x, nFft / 2) : Float64Array.from(x);
  const frames = sig.length < nFft ? 0 : 1 + Math.floor((sig.length - nFft) / hop);
  const bins = Math.floor(nFft / 2) + 1;
  const re = new Float64Array(frames * bins);
  const im = new Float64Array(frames * bins);
  const buf = new Float64Array(nFft);
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < nFft; i++) buf[i] = sig[f * hop + i] * win[i];
    const X = fft(buf);
    re.set(X.re.subarray(0, bins), f * bins);
    im.set(X.im.subarray(0, bins), f * bins);
  }
  return { re, im, frames, bins };
}

/** Inverse STFT by windowed overlap-add, Σw²-normalised; `length` trims the output. */
export function istft(S: Spectrogram, o: StftOptions & { length?: number }): Float64Array {
  const { nFft, hop } = o;
  const win = o.window ?? hannWindow(nFft);
  const center = o.center ?? true;
  const total = nFft + hop * (S.frames - 1);
  const y = new Float64Array(total);
  const wsum = new Float64Array(total);
  const fr = new Float64Array(nFft);
  const fi = new Float64Array(nFft);
  for (let f = 0; f < S.frames; f++) {
    for (let k = 0; k < S.bins; k++) {
      fr[k] = S.re[f * S.bins + k];
      fi[k] = S.im[f * S.bins + k];
    }
    for (let k = S.bins; k < nFft; k++) {
      // Hermitian symmetry of a real signal's spectrum
      fr[k] = fr[nFft - k];
      fi[k] = -fi[nFft - k];
    }
    const t = ifft(fr, fi).re;
    for (let i = 0; i < nFft; i++) {
      y[f * hop + i] += t[i] * win[i];
      wsum[f * hop + i] += win[i] * win[i];
    }
  }
  for (let i = 0; i < total; i++) if (wsum[i] > 1e-11) y[i] /= wsum[i];
  const start = center ? nFft / 2 : 0;
  const len = o.length ?? total - 2 * start;
  const out = new Float64Array(len);
  out.set(y.subarray(start, Math.min(total, start + len)));
  return out;
}

// ---------------------------------------------------------------- mel

/** Slaney mel scale (librosa `hz_to_mel(htk=False)`). */
export function hzToMelSlaney(f: number): number {
  const fSp = 200 / 3;
  if (f < 1000) return f / fSp;
  return 1000 / fSp + Math.log(f / 1000) / (Math.log(6.4) / 27);
}

/** Inverse of `hzToMelSlaney`. */
export function melToHzSlaney(m: number): number {
  const fSp = 200 / 3;
  const minLogMel = 1000 / fSp;
  if (m < minLogMel) return m * fSp;
  return 1000 * Math.exp((Math.log(6.4) / 27) * (m - minLogMel));
}

export type MelOptions = { sampleRate: number; nFft: number; nMels: number; fMin?: number; fMax?: number };

/** Slaney-normalised triangular filterbank, [nMels × (nFft/2+1)] row-major. */
export function melFilterbank(o: MelOptions): Float64Array {
  const { sampleRate, nFft, nMels } = o;
  const fMin = o.fMin ?? 0;
  const fMax = o.fMax ?? sampleRate / 2;
  const bins = Math.floor(nFft / 2) + 1;
  const mMin = hzToMelSlaney(fMin);
  const mMax = hzToMelSlaney(fMax);
  const edges = Float64Array.from({ length: nMels + 2 }, (_, i) => melToHzSlaney(mMin + ((mMax - mMin) * i) / (nMels + 1)));
  const W = new Float64Array(nMels * bins);
  for (let m = 0; m < nMels; m++) {
    const lo = edges[m];
    const c = edges[m + 1];
    const hi = edges[m + 2];
    const enorm = 2 / (hi - lo);
    for (let k = 0; k < bins; k++) {
      const f = (k * sampleRate) / nFft;
      const lower = (f - lo) / (c - lo);
      const upper = (hi - f) / (hi - c);
      W[m * bins + k] = Math.max(0, Math.min(lower, upper)) * enorm;
    }
  }
  return W;
}

export type LogMelOptions = { sampleRate?: number; nFft?: number; hop?: number; nMels?: number };
/** A log-mel spectrogram: `frames` × `nMels`, row-major, Whisper-normalised. */
export type LogMel = { data: Float32Array; frames: number; nMels: number };

const fbCache = new Map<string, Float64Array>();
function cachedFilterbank(o: MelOptions): Float64Array {
  const key = `${o.sampleRate}:${o.nFft}:${o.nMels}`;
  let fb = fbCache.get(key);
  if (!fb) fbCache.set(key, (fb = melFilterbank(o)));
  return fb;
}

/** Mel power (before the log) of each STFT frame, Whisper's frame convention (last frame dropped). */
export function melPower(samples: ArrayLike<number>, o: LogMelOptions = {}): { power: Float64Array; frames: number; nMels: number } {
  const sampleRate = o.sampleRate ?? 16000;
  const nFft = o.nFft ?? 400;
  const hop = o.hop ?? 160;
  const nMels = o.nMels ?? 80;
  const S = stft(samples, { nFft, hop });
  const frames = Math.max(0, S.frames - 1);
  const fb = cachedFilterbank({ sampleRate, nFft, nMels });
  const power = new Float64Array(frames * nMels);
  const bins = S.bins;
  const mag2 = new Float64Array(bins);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < bins; k++) {
      const r = S.re[f * bins + k];
      const i = S.im[f * bins + k];
      mag2[k] = r * r + i * i;
    }
    for (let m = 0; m < nMels; m++) {
      let s = 0;
      for (let k = 0; k < bins; k++) s += fb[m * bins + k] * mag2[k];
      power[f * nMels + m] = s;
    }
  }
  return { power, frames, nMels };
}

/** Whisper's log normalisation of mel power, in place semantics on a copy: log10, max−8 floor, (x+4)/4. */
export function whisperLogNormalize(power: ArrayLike<number>): Float32Array {
  const out = new Float32Array(power.length);
  let max = -Infinity;
  for (let i = 0; i < power.length; i++) {
    out[i] = Math.log10(Math.max(power[i], 1e-10));
    if (out[i] > max) max = out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] = (Math.max(out[i], max - 8) + 4) / 4;
  return out;
}

/** Whisper log-mel spectrogram of 16 kHz samples: floor(len/hop) frames of `nMels` (default 80). */
export function logMelSpectrogram(samples: ArrayLike<number>, o: LogMelOptions = {}): LogMel {
  const { power, frames, nMels } = melPower(samples, o);
  return { data: whisperLogNormalize(power), frames, nMels };
}

/** Undo the (x+4)/4 and log10 steps: normalised log-mel -> mel power (the floor is not undone). */
export function logMelToPower(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => Math.pow(10, 4 * v - 4));
}

/**
 * Non-negative least-squares inverse of the filterbank: linear power S ≥ 0 with fb·S ≈ P, per
 * frame, by `iters` multiplicative updates S ← S ⊙ (fbᵀP) / (fbᵀfb·S). Returns [frames × bins].
 */
export function melToLinearPower(power: Float64Array, frames: number, o: MelOptions & { iters?: number }): Float64Array {
  const { nMels } = o;
  const bins = Math.floor(o.nFft / 2) + 1;
  const fb = cachedFilterbank(o);
  const iters = o.iters ?? 40;
  const G = new Float64Array(bins * bins); // fbᵀ fb
  for (let a = 0; a < bins; a++)
    for (let b = 0; b < bins; b++) {
      let s = 0;
      for (let m = 0; m < nMels; m++) s += fb[m * bins + a] * fb[m * bins + b];
      G[a * bins + b] = s;
    }
  const out = new Float64Array(frames * bins);
  const num = new Float64Array(bins);
  const S = new Float64Array(bins);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < bins; k++) {
      let s = 0;
      for (let m = 0; m < nMels; m++) s += fb[m * bins + k] * power[f * nMels + m];
      num[k] = s;
      S[k] = s + 1e-12;
    }
    for (let it = 0; it < iters; it++) {
      for (let k = 0; k < bins; k++) {
        let den = 0;
        for (let j = 0; j < bins; j++) den += G[k * bins + j] * S[j];
        S[k] = (S[k] * num[k]) / (den + 1e-20);
      }
    }
    out.set(S, f * bins);
  }
  return out;
}

/**
 * Griffin-Lim phase reconstruction (fast variant with momentum) from a magnitude spectrogram
 * [frames × bins]. Returns a waveform of `length` samples (default (frames−1)·hop).
 */
export function griffinLim(mag: Float64Array, frames: number, o: { nFft: number; hop: number; iters?: number; momentum?: number; length?: number; rng?: Rng }): Float64Array {
  const { nFft, hop } = o;
  const bins = Math.floor(nFft / 2) + 1;
  const iters = o.iters ?? 32;
  const alpha = o.momentum ?? 0.99;
  const length = o.length ?? (frames - 1) * hop;
  const n = frames * bins;
  let ar: Float64Array = new Float64Array(n);
  let ai: Float64Array = new Float64Array(n);
  const rng = o.rng;
  for (let i = 0; i < n; i++) {
    const ph = rng ? 2 * Math.PI * rng.next() : 0;
    ar[i] = Math.cos(ph);
    ai[i] = Math.sin(ph);
  }
  let prevR: Float64Array = new Float64Array(n);
  let prevI: Float64Array = new Float64Array(n);
  let y: Float64Array = new Float64Array(length);
  for (let it = 0; it < iters; it++) {
    const S: Spectrogram = { re: new Float64Array(n), im: new Float64Array(n), frames, bins };
    for (let i = 0; i < n; i++) {
      S.re[i] = mag[i] * ar[i];
      S.im[i] = mag[i] * ai[i];
    }
    y = istft(S, { nFft, hop, length });
    const R = stft(y, { nFft, hop });
    const nr = new Float64Array(n);
    const ni = new Float64Array(n);
    const c = alpha / (1 + alpha);
    for (let i = 0; i < n && i < R.re.length; i++) {
      const tr = R.re[i] - c * prevR[i];
      const ti = R.im[i] - c * prevI[i];
      const a = Math.hypot(tr, ti) + 1e-16;
      nr[i] = tr / a;
      ni[i] = ti / a;
    }
    prevR = R.re;
    prevI = R.im;
    ar = nr;
    ai = ni;
  }
  const S: Spectrogram = { re: new Float64Array(n), im: new Float64Array(n), frames, bins };
  for (let i = 0; i < n; i++) {
    S.re[i] = mag[i] * ar[i];
    S.im[i] = mag[i] * ai[i];
  }
  return istft(S, { nFft, hop, length });
}

/** Spectral convergence ‖|STFT(y)| − M‖_F / ‖M‖_F of a waveform against a target magnitude. */
export function spectralConvergence(y: ArrayLike<number>, mag: Float64Array, o: { nFft: number; hop: number }): number {
  const R = stft(y, o);
  let num = 0;
  let den = 0;
  for (let i = 0; i < mag.length; i++) {
    const m = i < R.re.length ? Math.hypot(R.re[i], R.im[i]) : 0;
    num += (m - mag[i]) ** 2;
    den += mag[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/**
 * Waveform from a Whisper-normalised log-mel [frames × nMels]: power, NNLS to linear power,
 * magnitude, Griffin-Lim. Length frames·hop samples. A listening aid, not a neural vocoder.
 */
export function vocodeLogMel(logmel: LogMel, o: { sampleRate?: number; nFft?: number; hop?: number; iters?: number; rng?: Rng } = {}): Float32Array {
  const sampleRate = o.sampleRate ?? 16000;
  const nFft = o.nFft ?? 400;
  const hop = o.hop ?? 160;
  const { frames, nMels } = logmel;
  if (frames === 0) return new Float32Array(0);
  const bins = nFft / 2 + 1;
  const power = logMelToPower(logmel.data);
  const lin = melToLinearPower(power, frames, { sampleRate, nFft, nMels });
  // Whisper drops the last STFT frame; repeat the final frame so the centred STFT grid matches.
  const F = frames + 1;
  const mag = new Float64Array(F * bins);
  for (let i = 0; i < frames * bins; i++) mag[i] = Math.sqrt(lin[i]);
  mag.copyWithin(frames * bins, (frames - 1) * bins, frames * bins);
  const y = griffinLim(mag, F, { nFft, hop, iters: o.iters ?? 32, length: frames * hop, rng: o.rng });
  return Float32Array.from(y);
}
