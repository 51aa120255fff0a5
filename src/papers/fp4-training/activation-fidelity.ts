/**
 * The Table 1 analogue (§3.2): the activations entering the quantized linears of a trained model,
 * captured on validation batches and quantized token-wise in E2M1 with no clamp, clamp only and
 * clamp + compensation at several α (plus two rows the paper does not have); SIM / MSE / SNR and the
 * residual density, averaged over the tensors.
 */
import { np, jit, refTree, type Array } from "../../engine/index.js";
import { linear, type LinearFn } from "../../nn/linear.js";
import { lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import type { FP4TrainingConfig } from "./config.js";
import { fp4Quantize, quantileClamp, type ClampMode } from "./model.js";
import { fidelity, nonzeroFraction } from "./metrics.js";
import type { FidelityRow } from "./summary.js";

type FidelitySetting = { clamp: ClampMode; quantile: number | null; extra: boolean; granularity: "token" | "tensor" };

/**
 * The rows of the Table 1 analogue: the paper's (no clamp, clamp only at the first α, clamp +
 * compensation at each α, all with per-token scales), then two extra rows not in the paper:
 * clamp only at the second α (0.99), because clamp only at 0.999 is a no-op for rows shorter
 * than 1,000, and one scale per tensor without a clamp (the granularity ablation's activations).
 */
export function fidelitySettings(quantiles: number[]): FidelitySetting[] {
  const rows: FidelitySetting[] = [
    { clamp: "none", quantile: null, extra: false, granularity: "token" },
    { clamp: "clamp", quantile: quantiles[0], extra: false, granularity: "token" },
    ...quantiles.map((q) => ({ clamp: "compensate" as ClampMode, quantile: q, extra: false, granularity: "token" as const })),
  ];
  if (quantiles.length > 1 && quantiles[1] !== quantiles[0]) rows.push({ clamp: "clamp", quantile: quantiles[1], extra: true, granularity: "token" });
  rows.push({ clamp: "none", quantile: null, extra: true, granularity: "tensor" });
  return rows;
}

/**
 * Capture the activations entering every quantizable linear (the A operands) of a model on some
 * batches: a list of [N, C] row-major Float32Arrays. Params are not consumed.
 */
export async function captureActivations(params: LMParams, model: LMConfig, sites: readonly string[], batches: Int32Array[], B: number): Promise<{ data: Float32Array; rows: number; cols: number }[]> {
  const T = model.contextLength;
  const out: { data: Float32Array; rows: number; cols: number }[] = [];
  for (const x of batches) {
    const captured: Array[] = [];
    const capture: LinearFn = (p, a, site) => {
      if (sites.includes(site)) captured.push(a.ref);
      return linear(p, a);
    };
    const { logits } = lmForward(refTree(params), model, np.array(x, { dtype: np.int32 }).reshape([B, T]), { linearFn: capture });
    logits.dispose();
    for (const a of captured) {
      const cols = a.shape[a.ndim - 1];
      const data = (await a.data()) as Float32Array;
      out.push({ data, rows: data.length / cols, cols });
    }
  }
  return out;
}

/**
 * Table 1 analogue over captured activations: each tensor is quantized token-wise (E2M1, absmax
 * per token, as in training) under each setting; SIM, MSE, SNR and the residual density are
 * averaged over the tensors.
 */
export async function fidelityTable(acts: { data: Float32Array; rows: number; cols: number }[], quantiles: number[], fp4: FP4TrainingConfig["fp4"]): Promise<FidelityRow[]> {
  const rows: FidelityRow[] = [];
  for (const s of fidelitySettings(quantiles)) {
    const f = jit((x: Array): [Array, Array] => {
      const q = fp4Quantize(x.ref, { format: fp4.format, granularity: s.granularity, pow2Scale: fp4.pow2Scale, clamp: s.clamp, quantile: s.quantile ?? 0.99, clampAxis: "token" });
      q.scaled.dispose();
      q.scale.dispose();
      const residual = s.clamp === "none" ? np.zerosLike(x) : quantileClamp(x, s.quantile!, "token").residual;
      return [q.value, residual];
    });
    let sim = 0;
    let mse = 0;
    let snr = 0;
    let dens = 0;
    for (const a of acts) {
      const [v, r] = f(np.array(a.data).reshape([a.rows, a.cols]));
      const q = (await v.data()) as Float32Array;
      const res = (await r.data()) as Float32Array;
      const fi = fidelity(a.data, q);
      sim += fi.sim;
      mse += fi.mse;
      snr += fi.snrDb;
      dens += nonzeroFraction(res);
    }
    f.dispose();
    const n = acts.length;
    rows.push({ clamp: s.clamp !== "none", compensate: s.clamp === "compensate", quantile: s.quantile, granularity: s.granularity, sim: sim / n, mse: mse / n, snrDb: snr / n, residualDensity: dens / n, tensors: n, extra: s.extra });
  }
  return rows;
}
