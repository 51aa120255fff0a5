/**
 * Packing prompt + response rows into the host arrays of a response-only loss, shared by the SFT step (`sft.ts`) and
 * the PPO learner (`ppo.ts`): both train on the response tokens only ("SFT Memorizes, RL Generalizes", arXiv 2501.17161,
 * App. C: the loss is masked to the answer), so both lay out a batch the same way.
 *
 * Two layouts. Whole rows (`R` null): y and w [B, T], the target of position t at column t, weight 0 on prompt targets.
 * Response columns (`R` a number): y and w [B, R] over the response targets only, plus one-hot rows [B, R, T] that pick
 * each target's position (`lmForward`'s `headRows`), so the LM head runs at R columns instead of T. Response target j of
 * a row sits in column (promptLen − 1) mod 16 + j: the column keeps its position's residue mod 16, so sums over columns
 * add the same numbers in the same SIMD lanes as sums over whole rows, and both layouts give the same loss and
 * gradients bit for bit (sft.test.ts, learner.test.ts).
 */

/** One row: its tokens, how many of them are prompt, and the loss weight of response target j. */
export type PackRow = { seq: readonly number[]; promptLen: number; weight: (j: number) => number };

/** The column of a row's first response target in the response layout. */
export const firstResponseColumn = (promptLen: number): number => (promptLen - 1) % 16;

/** R: the widest row's last response column + 1, rounded up to `multiple`, at most T. */
export function responseWidth(rows: readonly PackRow[], T: number, multiple: number): number {
  const need = Math.max(...rows.map((r) => firstResponseColumn(r.promptLen) + r.seq.length - r.promptLen));
  return Math.min(T, Math.ceil(need / multiple) * multiple);
}

/** x [B, T] (the inputs, seq[0..len−2]), and y, w in the layout `R` selects (see the file comment); `pick` only with R. */
export function packRows(rows: readonly PackRow[], T: number, R: number | null): { x: Int32Array; y: Int32Array; w: Float32Array; pick: Float32Array | null } {
  const B = rows.length;
  const C = R ?? T;
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * C);
  const w = new Float32Array(B * C);
  const pick = R === null ? null : new Float32Array(B * R * T);
  rows.forEach((r, b) => {
    if (r.seq.length - 1 > T) throw new Error(`packRows: row ${b} has ${r.seq.length} tokens, more than T + 1 = ${T + 1}`);
    const off = firstResponseColumn(r.promptLen);
    for (let t = 0; t < r.seq.length - 1; t++) {
      x[b * T + t] = r.seq[t];
      const j = t + 1 - r.promptLen; // index of the response token predicted at t (a prompt token when < 0)
      if (!pick) {
        y[b * T + t] = r.seq[t + 1];
        if (j >= 0) w[b * T + t] = r.weight(j);
      } else if (j >= 0) {
        const col = off + j;
        y[b * C + col] = r.seq[t + 1];
        w[b * C + col] = r.weight(j);
        pick[(b * C + col) * T + t] = 1;
      }
    }
  });
  return { x, y, w, pick };
}
