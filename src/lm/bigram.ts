/**
 * The bigram baseline: next-token counts on the training split with add-α smoothing, scored on
 * the validation split. α is chosen from a small grid on the validation split itself, which can
 * only make the baseline stronger (a conservative bar for the transformer to beat).
 */
export function bigramLoss(train: Int32Array, val: Int32Array, V: number, alphas = [1, 0.1, 0.01, 0.001]): { nll: number; alpha: number } {
  const counts = new Float64Array(V * V);
  const rows = new Float64Array(V);
  for (let i = 0; i + 1 < train.length; i++) {
    counts[train[i] * V + train[i + 1]]++;
    rows[train[i]]++;
  }
  let best = { nll: Infinity, alpha: alphas[0] };
  for (const a of alphas) {
    let s = 0;
    for (let i = 0; i + 1 < val.length; i++) {
      const p = (counts[val[i] * V + val[i + 1]] + a) / (rows[val[i]] + a * V);
      s -= Math.log(p);
    }
    const nll = s / (val.length - 1);
    if (nll < best.nll) best = { nll, alpha: a };
  }
  return best;
}
