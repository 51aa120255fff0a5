/**
 * FNV-1a, 32 bits (Fowler, Noll, Vo): h ← (h xor byte) · 16777619 from the offset basis 2166136261,
 * over the string's UTF-16 code units. Small and stable across platforms: it derives named random
 * streams from one seed and names cache files after their contents.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** `fnv1a32` as 8 lower-case hex digits (for file names). */
export function fnv1a32Hex(s: string): string {
  return fnv1a32(s).toString(16).padStart(8, "0");
}
