/**
 * FP4 training benchmark (issue 4, arXiv 2501.17116): the cost of the FP4 linear layer's forward +
 * backward relative to the float32 linear, same shapes, same process run.
 *
 * For each linear of the `quick` model (tokens N = 16·64 = 1024; attn.qkv 128→384, attn.out
 * 128→128, mlp.up 128→512, mlp.down 512→128) and for the whole set, one jitted function computes
 * y = linear(x, W) and the gradients of sum(y ⊙ G) with respect to x and W, for: fp32, W4A4
 * direct cast, W4A4 + DGE + OCC (the method) and the tensor-wise variant. Variants are timed
 * round-robin (so a busy machine slows all of them alike); figures are medians after warm-up.
 *
 * This is a simulation: FP4 values are made and multiplied in float32, so the FP4 layer costs
 * more than fp32 here (the quantizers are extra work and nothing runs faster in 4 bits). The
 * paper's speed-up (3.12x theoretical, 2.95x with DGE and OCC, App. B) needs FP4 tensor cores.
 * Run alone: `npx tsx bench/fp4-training.ts` (add `--readme src/papers/fp4-training/README.md` to
 * write the table into the paper's README between its bench markers).
 */
import { pathToFileURL } from "node:url";
import { machineInfo } from "../src/train/run-dir.js";
import { injectResultsFile } from "../src/report/readme.js";
import { np, jit, initEngine, random, valueAndGrad, type Array } from "../src/engine/index.js";
import { fp4Linear, defaultActivationQuant, defaultWeightQuant, type FP4LinearConfig } from "../src/papers/fp4-training/model.js";
import type { BenchFigure, BenchFn } from "./types.js";

const SHAPES: { site: string; din: number; dout: number }[] = [
  { site: "attn.qkv", din: 128, dout: 384 },
  { site: "attn.out", din: 128, dout: 128 },
  { site: "mlp.up", din: 128, dout: 512 },
  { site: "mlp.down", din: 512, dout: 128 },
];
const N = 1024;

const VARIANTS: { name: string; cfg: FP4LinearConfig | null }[] = [
  { name: "fp32", cfg: null },
  { name: "w4a4-direct", cfg: { weight: { ...defaultWeightQuant, estimator: "ste" }, activation: { ...defaultActivationQuant, occ: "none" } } },
  { name: "w4a4-dge-occ", cfg: { weight: defaultWeightQuant, activation: defaultActivationQuant } },
  { name: "w4a4-dge-occ-tensor", cfg: { weight: { ...defaultWeightQuant, granularity: "tensor" }, activation: { ...defaultActivationQuant, granularity: "tensor" } } },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A jitted forward + backward over the given shapes: returns the loss and both gradients. */
function makeFn(cfg: FP4LinearConfig | null) {
  return jit((xs: Array[], ws: Array[], gs: Array[]) => {
    const loss = (x: Array[], w: Array[]) => {
      let s: Array | null = null;
      x.forEach((xi, i) => {
        const y = cfg ? fp4Linear({ w: w[i] }, xi, cfg) : np.matmul(xi, w[i]); // [N, out]
        const t = y.mul(gs[i].ref).sum();
        s = s ? s.add(t) : t;
      });
      gs.forEach((g) => g.dispose());
      return s!;
    };
    const [l, grads] = valueAndGrad(loss, { argnums: [0, 1] })(xs, ws);
    return [l, ...grads[0], ...grads[1]];
  });
}

export async function fp4LinearTimes(opts: { shapes?: typeof SHAPES; reps?: number; warmup?: number } = {}): Promise<Record<string, Record<string, number>>> {
  const shapes = opts.shapes ?? SHAPES;
  const reps = opts.reps ?? 15;
  const warmup = opts.warmup ?? 3;
  const sets = [...shapes.map((s) => [s]), shapes]; // each site alone, then all together
  const labels = [...shapes.map((s) => s.site), "all four"];
  const out: Record<string, Record<string, number>> = {};
  for (let si = 0; si < sets.length; si++) {
    const set = sets[si];
    const xs = set.map((s, i) => random.normal(random.key(100 + i), [N, s.din]));
    const ws = set.map((s, i) => random.normal(random.key(200 + i), [s.din, s.dout]).mul(0.02));
    const gs = set.map((s, i) => random.normal(random.key(300 + i), [N, s.dout]));
    const fns = VARIANTS.map((v) => makeFn(v.cfg));
    const times = VARIANTS.map(() => [] as number[]);
    for (let r = 0; r < warmup + reps; r++) {
      for (let v = 0; v < VARIANTS.length; v++) {
        const t0 = performance.now();
        const res = fns[v](xs.map((a) => a.ref), ws.map((a) => a.ref), gs.map((a) => a.ref));
        for (const a of res) await a.data();
        if (r >= warmup) times[v].push(performance.now() - t0);
      }
    }
    out[labels[si]] = Object.fromEntries(VARIANTS.map((v, i) => [v.name, median(times[i])]));
    fns.forEach((f) => f.dispose());
    [...xs, ...ws, ...gs].forEach((a) => a.dispose());
  }
  return out;
}

export const bench: BenchFn = async () => {
  await initEngine();
  const t = await fp4LinearTimes();
  const figs: BenchFigure[] = [];
  for (const [set, byVariant] of Object.entries(t)) {
    const base = byVariant.fp32;
    for (const [variant, ms] of Object.entries(byVariant)) {
      figs.push({
        bench: "fp4-linear",
        metric: "forward+backward ms",
        value: ms,
        unit: "ms",
        variant,
        shape: set === "all four" ? `N=${N}, the 4 linears of one block` : `N=${N}, ${set}`,
        ...(variant === "fp32" ? {} : { baseline: "fp32 linear, same shapes, same run", ratio: ms / base }),
      });
    }
  }
  return figs;
};

/** The figures as a Markdown table: one row per shape set, ms and ratio to fp32 per variant. */
export function benchTable(figs: BenchFigure[], threads: string): string {
  const variants = VARIANTS.map((v) => v.name);
  const shapes = [...new Set(figs.map((f) => String(f.shape)))];
  const m = machineInfo();
  const rows = shapes.map((sh) => {
    const cells = variants.map((v) => {
      const f = figs.find((x) => x.shape === sh && x.variant === v)!;
      return v === "fp32" ? `${f.value.toFixed(2)} ms` : `${f.value.toFixed(2)} ms (${f.ratio!.toFixed(2)}x)`;
    });
    return `| ${sh} | ${cells.join(" | ")} |`;
  });
  return [
    `Forward + backward of the linear (gradients for x and W), median ms over 15 round-robin repetitions; ratio to the fp32 linear of the same shapes in the same run. Measured ${new Date().toISOString().slice(0, 10)} on ${m.cpu}, ${m.cores} cores, Node ${m.node}, jax-js 0.1.25, ${threads} wasm thread(s), by \`npx tsx bench/fp4-training.ts\`.`,
    "",
    `| shapes | ${variants.join(" | ")} |`,
    `|---|${variants.map(() => "---").join("|")}|`,
    ...rows,
  ].join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const figs = await bench();
  for (const f of figs) console.log(JSON.stringify(f));
  const i = process.argv.indexOf("--readme");
  if (i >= 0 && process.argv[i + 1]) {
    const { requestedThreads } = await import("../src/engine/node-shims.js");
    injectResultsFile(process.argv[i + 1], benchTable(figs, String(requestedThreads())), "bench", "npx tsx bench/fp4-training.ts --readme");
    console.error(`updated ${process.argv[i + 1]}`);
  }
  process.exit(0);
}
