/**
 * Sample-quality metrics, in plain JS on the host (sets of at most a few thousand points):
 * - MMD² with a sum of Gaussian kernels (Gretton et al. 2012, unbiased U-statistic), the primary
 *   "same distribution?" test between samplers (GFT at β = 1/w vs CFG at w);
 * - k-NN precision / recall (Kynkäänniemi et al. 2019): precision = share of generated points inside the
 *   union of real k-NN balls, recall = share of real points inside the union of generated k-NN balls;
 * - the Fréchet distance between Gaussians fitted to two feature sets (the FID formula of Heusel et al. 2017,
 *   ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2(Σ1Σ2)^{1/2})); with our small digit classifier's features it is an FID
 *   substitute, not FID.
 */

/** Squared Euclidean distance between row i of a and row j of b (rows of length d). */
function sqDist(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const v = a[i * d + k] - b[j * d + k];
    s += v * v;
  }
  return s;
}

/**
 * Unbiased MMD² between point sets a [n·d] and b [m·d] with k(x, y) = Σ_σ exp(−‖x − y‖² / (2σ²)) / |σ|.
 * Can be slightly negative when the sets come from the same law.
 */
export function mmd2(a: Float32Array, b: Float32Array, d: number, bandwidths: number[]): number {
  const n = a.length / d;
  const m = b.length / d;
  if (n < 2 || m < 2) throw new Error(`mmd2: need at least 2 points per set, got ${n} and ${m}`);
  const inv = bandwidths.map((s) => 1 / (2 * s * s));
  const k = (d2: number) => {
    let s = 0;
    for (const c of inv) s += Math.exp(-d2 * c);
    return s / inv.length;
  };
  let kaa = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) kaa += k(sqDist(a, i, a, j, d));
  let kbb = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) kbb += k(sqDist(b, i, b, j, d));
  let kab = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) kab += k(sqDist(a, i, b, j, d));
  return (2 * kaa) / (n * (n - 1)) + (2 * kbb) / (m * (m - 1)) - (2 * kab) / (n * m);
}

/** Distance to the k-th nearest other point of the same set, per point. */
function knnRadii(x: Float32Array, d: number, k: number): Float64Array {
  const n = x.length / d;
  if (n <= k) throw new Error(`knn: need more than k = ${k} points, got ${n}`);
  const r = new Float64Array(n);
  const dist = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) dist[j] = j === i ? Infinity : sqDist(x, i, x, j, d);
    // k-th smallest by partial selection
    const best = new Float64Array(k).fill(Infinity);
    for (let j = 0; j < n; j++) {
      const v = dist[j];
      if (v < best[k - 1]) {
        let p = k - 1;
        while (p > 0 && best[p - 1] > v) {
          best[p] = best[p - 1];
          p--;
        }
        best[p] = v;
      }
    }
    r[i] = best[k - 1];
  }
  return r; // squared radii
}

function coverage(ref: Float32Array, radii: Float64Array, query: Float32Array, d: number): number {
  const n = ref.length / d;
  const m = query.length / d;
  let inside = 0;
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) {
      if (sqDist(query, j, ref, i, d) <= radii[i]) {
        inside++;
        break;
      }
    }
  }
  return inside / m;
}

/** k-NN precision and recall of generated points `fake` against `real` (both [·d]). */
export function precisionRecall(real: Float32Array, fake: Float32Array, d: number, k = 3): { precision: number; recall: number } {
  return { precision: coverage(real, knnRadii(real, d, k), fake, d), recall: coverage(fake, knnRadii(fake, d, k), real, d) };
}

/** Mean [d] and covariance [d·d] (unbiased) of rows of x [n·d]. */
export function meanCov(x: Float32Array, d: number): { mean: Float64Array; cov: Float64Array } {
  const n = x.length / d;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] += x[i * d + k];
  for (let k = 0; k < d; k++) mean[k] /= n;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) c[k] = x[i * d + k] - mean[k];
    for (let a = 0; a < d; a++) {
      const ca = c[a];
      for (let b = a; b < d; b++) cov[a * d + b] += ca * c[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= Math.max(n - 1, 1);
      cov[b * d + a] = cov[a * d + b];
    }
  }
  return { mean, cov };
}

/** Eigen-decomposition of a symmetric matrix [n·n] by cyclic Jacobi rotations: values and column eigenvectors. */
export function symmetricEigen(A: Float64Array, n: number, opts: { tol?: number; maxSweeps?: number } = {}): { values: Float64Array; vectors: Float64Array } {
  const { tol = 1e-12, maxSweeps = 100 } = opts;
  const a = Float64Array.from(A);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < n; p++) {
      diag += a[p * n + p] ** 2;
      for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    }
    if (off <= tol * tol * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
    const aik = a[i * n + k];
    if (aik === 0) continue;
    for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
  }
  return c;
}

/** Symmetric PSD square root via eigen-decomposition (negative eigenvalues clipped to 0). */
export function sqrtPSD(A: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(A, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * s;
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k];
    }
  }
  return out;
}

/**
 * Fréchet distance between Gaussians (μ1, Σ1) and (μ2, Σ2):
 * ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}.
 */
export function frechetFromStats(m1: Float64Array, c1: Float64Array, m2: Float64Array, c2: Float64Array, d: number): number {
  let dm = 0;
  for (let k = 0; k < d; k++) dm += (m1[k] - m2[k]) ** 2;
  let tr = 0;
  for (let k = 0; k < d; k++) tr += c1[k * d + k] + c2[k * d + k];
  const s1 = sqrtPSD(c1, d);
  const inner = matmul(matmul(s1, c2, d), s1, d);
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) {
    const m = (inner[i * d + j] + inner[j * d + i]) / 2;
    inner[i * d + j] = m;
    inner[j * d + i] = m;
  }
  const { values } = symmetricEigen(inner, d);
  let trSqrt = 0;
  for (const v of values) trSqrt += Math.sqrt(Math.max(v, 0));
  return dm + tr - 2 * trSqrt;
}

/** Fréchet distance between two feature sets [n·d], [m·d]. */
export function frechetDistance(f1: Float32Array, f2: Float32Array, d: number): number {
  const a = meanCov(f1, d);
  const b = meanCov(f2, d);
  return frechetFromStats(a.mean, a.cov, b.mean, b.cov, d);
}
