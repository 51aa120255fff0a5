/** Seeded random-crop batches of next-token pairs from a token stream. */
import type { Rng } from "../util/rng.js";

/** x, y: int32 [B*T] row-major, y shifted by one. */
export function randomCropBatch(tokens: Int32Array, B: number, T: number, rng: Rng): { x: Int32Array; y: Int32Array } {
  if (tokens.length < T + 2) throw new Error(`data: need at least ${T + 2} tokens for context ${T}, have ${tokens.length}`);
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const s = rng.int(tokens.length - T - 1);
    x.set(tokens.subarray(s, s + T), b * T);
    y.set(tokens.subarray(s + 1, s + T + 1), b * T);
  }
  return { x, y };
}

/** Deterministic evaluation batches: `nBatches` evenly spaced crops (the same every time). */
export function evalBatches(tokens: Int32Array, B: number, T: number, nBatches: number): { x: Int32Array; y: Int32Array }[] {
  const out: { x: Int32Array; y: Int32Array }[] = [];
  const span = tokens.length - T - 1;
  const n = nBatches * B;
  for (let i = 0; i < nBatches; i++) {
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = Math.floor(((i * B + b) * span) / n);
      x.set(tokens.subarray(s, s + T), b * T);
      y.set(tokens.subarray(s + 1, s + T + 1), b * T);
    }
    out.push({ x, y });
  }
  return out;
}
