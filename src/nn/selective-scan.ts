/**
 * The selective scan of Mamba (Gu & Dao 2023, arXiv 2312.00752, Algorithm 2 / eqs. 2a-2b with the
 * zero-order-hold discretisation used by `selective_scan_ref` in state-spaces/mamba):
 *
 *   h_t = exp(Δ_t ⊗ A) ⊙ h_{t-1} + (Δ_t ⊙ u_t) ⊗ B_t        h ∈ R^{E×N}, h_{-1} = 0
 *   y_t = h_t · C_t + D ⊙ u_t
 *
 * with u, Δ: [B, T, E] (Δ > 0, already softplus-ed), A: [E, N] (A < 0), B, C: [B, T, N], D: [E].
 *
 * jax-js has no `scan`: a JS loop over T is unrolled by `jit` into ~3 small kernels per step, and
 * the per-kernel overhead dominates (`selectiveScanUnrolled`, the baseline). `selectiveScan` is a
 * two-level chunked scan with the same arithmetic: time is cut into T/L chunks of length L; a loop
 * over the L positions runs the recurrence in every chunk at once (all chunks start from h = 0)
 * and keeps the running decay product P_l = exp(A · Σ_{s≤l} Δ_s) (the cumulative log-decay of the
 * chunk, as a product, so no log-space division can overflow); a short loop over the T/L chunks
 * carries the true initial state of each chunk, h0_{c+1} = P_end,c ⊙ h0_c + h_end,c; and the
 * carried state reaches every position through y_t += (P_t ⊙ h0_c) · C_t. Every factor is a decay
 * in (0, 1], so the chunked scan is exact (no clamping, no exp of a positive number) and equal to
 * the sequential recurrence up to float rounding. Kernels: ~3L + T/L instead of ~3T.
 *
 * `selectiveScanReference` / `selectiveScanReferenceGrad` are plain-JS (float64) sequential
 * kernels: the ground truth for tests and the CPU baseline of the benchmark.
 */
import { np, type Array } from "../engine/index.js";

export type ScanOptions = {
  /** Chunk length L of the chunked scan (default 16; any L ≥ 1, T need not be a multiple). */
  chunk?: number;
};

function checkShapes(u: Array, delta: Array, A: Array, Bm: Array, Cm: Array, D?: Array): [number, number, number, number] {
  const [Bsz, T, E] = u.shape;
  const N = A.shape[1];
  const want = (name: string, x: Array, shape: number[]) => {
    if (x.shape.length !== shape.length || x.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`selectiveScan: ${name} must have shape [${shape.join(", ")}], got [${x.shape.join(", ")}]`);
    }
  };
  if (u.shape.length !== 3) throw new Error(`selectiveScan: u must be [B, T, E], got [${u.shape.join(", ")}]`);
  want("delta", delta, [Bsz, T, E]);
  want("A", A, [E, N]);
  want("B", Bm, [Bsz, T, N]);
  want("C", Cm, [Bsz, T, N]);
  if (D) want("D", D, [E]);
  return [Bsz, T, E, N];
}

/**
 * Chunked selective scan (see the file comment). Consumes its arguments. Returns y: [B, T, E]
 * (including the D skip when `D` is given).
 */
export function selectiveScan(u: Array, delta: Array, A: Array, Bm: Array, Cm: Array, D?: Array, opts: ScanOptions = {}): Array {
  const [Bsz, T, E, N] = checkShapes(u, delta, A, Bm, Cm, D);
  const L = Math.max(1, Math.min(opts.chunk ?? 16, T));
  if (!Number.isInteger(L)) throw new Error(`selectiveScan: chunk must be a positive integer, got ${opts.chunk}`);
  const nC = Math.ceil(T / L);
  const Tp = nC * L;
  const skip = D ? u.ref.mul(D) : null; // [B, T, E]
  let dl = delta;
  let x = delta.ref.mul(u); // Δ ⊙ u: [B, T, E]
  let Bp = Bm;
  let Cp = Cm;
  if (Tp > T) {
    // Padded steps have Δ = 0 (decay 1, input 0): they never change earlier outputs.
    const padT = (a: Array): Array => np.pad(a, [[0, 0], [0, Tp - T], [0, 0]]);
    dl = padT(dl);
    x = padT(x);
    Bp = padT(Bp);
    Cp = padT(Cp);
  }
  const dc = dl.reshape([Bsz, nC, L, E]); // [B, nC, L, E]
  const xc = x.reshape([Bsz, nC, L, E]);
  const Bc = Bp.reshape([Bsz, nC, L, N]); // [B, nC, L, N]
  const Cc = Cp.reshape([Bsz, nC, L, N]);

  // 1. The recurrence inside every chunk at once, from h = 0.
  let h: Array | null = null; // local state [B, nC, E, N]
  let P: Array | null = null; // cumulative decay of the chunk up to l [B, nC, E, N]
  const Ps: Array[] = [];
  const yLocal: Array[] = [];
  for (let l = 0; l < L; l++) {
    const a = np.exp(dc.ref.slice([], [], l).reshape([Bsz, nC, E, 1]).mul(A.ref)); // [B, nC, E, N]
    const b = xc.ref.slice([], [], l).reshape([Bsz, nC, E, 1]).mul(Bc.ref.slice([], [], l).reshape([Bsz, nC, 1, N]));
    h = h ? a.ref.mul(h).add(b) : b;
    P = P ? P.mul(a) : a;
    Ps.push(P.ref);
    yLocal.push(h.ref.mul(Cc.ref.slice([], [], l).reshape([Bsz, nC, 1, N])).sum(-1)); // [B, nC, E]
  }
  dc.dispose();
  xc.dispose();
  Bc.dispose();
  A.dispose();

  // 2. Carry the state across chunks: h0_0 = 0, h0_{c+1} = P_end,c ⊙ h0_c + h_end,c.
  let out: Array;
  if (nC === 1) {
    h!.dispose();
    P!.dispose();
    for (const p of Ps) p.dispose();
    Cc.dispose();
    out = np.stack(yLocal, 2); // [B, 1, L, E]
  } else {
    let hc: Array = np.zeros([Bsz, E, N]);
    const h0s: Array[] = [hc.ref];
    for (let c = 0; c < nC - 1; c++) {
      hc = P!.ref.slice([], c).mul(hc).add(h!.ref.slice([], c)); // [B, E, N]
      h0s.push(hc.ref);
    }
    hc.dispose();
    P!.dispose();
    h!.dispose();
    const h0 = np.stack(h0s, 1); // [B, nC, E, N]
    // 3. The carried state reaches position l of each chunk decayed by P_l.
    const ys: Array[] = [];
    for (let l = 0; l < L; l++) {
      const carried = Ps[l].mul(h0.ref).mul(Cc.ref.slice([], [], l).reshape([Bsz, nC, 1, N])).sum(-1); // [B, nC, E]
      ys.push(yLocal[l].add(carried));
    }
    h0.dispose();
    Cc.dispose();
    out = np.stack(ys, 2); // [B, nC, L, E]
  }
  let y = out.reshape([Bsz, Tp, E]);
  if (Tp > T) y = y.slice([], [0, T]);
  return skip ? y.add(skip) : y;
}

/**
 * The same scan as a JS loop over time (a port of `selective_scan_ref`): the baseline the issue
 * measures (`jit` unrolls it). Consumes its arguments. Returns y: [B, T, E].
 */
export function selectiveScanUnrolled(u: Array, delta: Array, A: Array, Bm: Array, Cm: Array, D?: Array): Array {
  const [Bsz, T, E, N] = checkShapes(u, delta, A, Bm, Cm, D);
  const skip = D ? u.ref.mul(D) : null;
  const dA = np.exp(delta.ref.reshape([Bsz, T, E, 1]).mul(A)); // [B, T, E, N]
  const dBu = delta.mul(u).reshape([Bsz, T, E, 1]).mul(Bm.reshape([Bsz, T, 1, N])); // [B, T, E, N]
  let h: Array = np.zeros([Bsz, E, N]);
  const ys: Array[] = [];
  for (let t = 0; t < T; t++) {
    h = dA.ref.slice([], t).mul(h).add(dBu.ref.slice([], t)); // [B, E, N]
    ys.push(h.ref.mul(Cm.ref.slice([], t).reshape([Bsz, 1, N])).sum(-1)); // [B, E]
  }
  dA.dispose();
  dBu.dispose();
  Cm.dispose();
  h.dispose();
  const y = np.stack(ys, 1); // [B, T, E]
  return skip ? y.add(skip) : y;
}

/** Host-side inputs of the reference kernel (row-major, the shapes of `selectiveScan`). */
export type ScanHostInputs = {
  Bsz: number;
  T: number;
  E: number;
  N: number;
  u: ArrayLike<number>;
  delta: ArrayLike<number>;
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  C: ArrayLike<number>;
  D?: ArrayLike<number>;
};

export type ScanHostGrads = { u: Float64Array; delta: Float64Array; A: Float64Array; B: Float64Array; C: Float64Array; D: Float64Array };

/** Plain-JS sequential selective scan in float64. Returns y [B*T*E] and (when asked) every state. */
export function selectiveScanReference(inp: ScanHostInputs, keepStates = false): { y: Float64Array; states?: Float64Array } {
  const { Bsz, T, E, N, u, delta, A, B, C, D } = inp;
  const y = new Float64Array(Bsz * T * E);
  const states = keepStates ? new Float64Array(Bsz * T * E * N) : undefined;
  const h = new Float64Array(E * N);
  for (let b = 0; b < Bsz; b++) {
    h.fill(0);
    for (let t = 0; t < T; t++) {
      const bt = b * T + t;
      for (let e = 0; e < E; e++) {
        const d = delta[bt * E + e];
        const du = d * u[bt * E + e];
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const i = e * N + n;
          const hv = Math.exp(d * A[i]) * h[i] + du * B[bt * N + n];
          h[i] = hv;
          acc += hv * C[bt * N + n];
        }
        y[bt * E + e] = acc + (D ? D[e] * u[bt * E + e] : 0);
      }
      if (states) states.set(h, bt * E * N);
    }
  }
  return { y, states };
}

/**
 * Reverse-mode gradient of Σ dy ⊙ y for the reference scan (float64, hand-written backward):
 * G_t = dy_t ⊗ C_t + exp(Δ_{t+1} A) ⊙ G_{t+1}; dC_t = Σ_e dy_t h_t; dA += G_t h_{t-1} a_t Δ_t;
 * dΔ_t = Σ_n G_t (h_{t-1} a_t A + u_t B_t); du_t = Σ_n G_t Δ_t B_t + dy_t D; dB_t = Σ_e G_t Δ_t u_t.
 */
export function selectiveScanReferenceGrad(inp: ScanHostInputs, dy: ArrayLike<number>): ScanHostGrads {
  const { Bsz, T, E, N, u, delta, A, B, C, D } = inp;
  const { states } = selectiveScanReference(inp, true);
  const g: ScanHostGrads = {
    u: new Float64Array(Bsz * T * E),
    delta: new Float64Array(Bsz * T * E),
    A: new Float64Array(E * N),
    B: new Float64Array(Bsz * T * N),
    C: new Float64Array(Bsz * T * N),
    D: new Float64Array(E),
  };
  const G = new Float64Array(E * N);
  for (let b = 0; b < Bsz; b++) {
    G.fill(0);
    for (let t = T - 1; t >= 0; t--) {
      const bt = b * T + t;
      const hOff = bt * E * N;
      const prevOff = t > 0 ? hOff - E * N : -1;
      for (let e = 0; e < E; e++) {
        const dye = dy[bt * E + e];
        const d = delta[bt * E + e];
        const ue = u[bt * E + e];
        if (D) {
          g.D[e] += dye * ue;
          g.u[bt * E + e] += dye * D[e];
        }
        let dDelta = 0;
        let dU = 0;
        for (let n = 0; n < N; n++) {
          const i = e * N + n;
          const ht = states![hOff + i];
          g.C[bt * N + n] += dye * ht;
          const Gi = G[i] + dye * C[bt * N + n]; // dL/dh_t
          const a = Math.exp(d * A[i]);
          const hPrev = prevOff >= 0 ? states![prevOff + i] : 0;
          const da = Gi * hPrev;
          g.A[i] += da * a * d;
          dDelta += da * a * A[i] + Gi * ue * B[bt * N + n];
          dU += Gi * d * B[bt * N + n];
          g.B[bt * N + n] += Gi * d * ue;
          G[i] = Gi * a; // flows to h_{t-1}
        }
        g.delta[bt * E + e] += dDelta;
        g.u[bt * E + e] += dU;
      }
    }
  }
  return g;
}
