// Pilot (issue 24, the GeneralPoints arms within 25 minutes): process CPU time of the SFT branch's step at the quick
// preset (batch 32, rows of at most 80 tokens, the expert data of the SFT init, lr 3e-4 constant, clip 1) for each
// batch shape of sft.ts's SFT_SHAPES, interleaved in one process. From CKPT (an SFT-init checkpoint; `random` = a fresh
// model) every variant runs STEPS optimizer steps from the same parameters, Adam state and data stream, ROUNDS times
// after one warm-up run (compilation, and one program per padded length it meets); it prints CPU ms per step, every
// step's loss (to all digits) and a checksum of the parameters after the last step. LONG=N: one extra run of N steps per
// variant (after the timed rounds) that prints its loss curve every 25 steps and the checksum (bit-identity over a
// longer run). NAV=1: the same for the sft-vs-rl-nav entry's SFT (navigation expert data). Run with TINYFOUNDRY_THREADS=1.
// Usage: [NAV=1] [LONG=200] npx tsx scripts/pilots/sft-vs-rl-sft-step.mts CKPT [STEPS] [ROUNDS] [VARIANTS comma-separated]
const { initEngine, disposeTree, refTree, tree, np } = await import("../../src/engine/index.js");
const { initLM } = await import("../../src/nn/transformer.js");
const { loadCheckpoint } = await import("../../src/train/checkpoint.js");
const { sftVsRlPresets } = await import("../../src/papers/sft-vs-rl/config.js");
const { setup } = await import("../../src/papers/sft-vs-rl/arms.js");
const { sftLoss } = await import("../../src/papers/sft-vs-rl/model.js");
const { expertDataset, sftBatchArrays, SFT_SHAPES } = await import("../../src/papers/sft-vs-rl/sft.js");
const { gpSpec, navSpec } = await import("../../src/papers/sft-vs-rl/tasks.js");
const { sftVsRlNavPresets } = await import("../../src/papers/sft-vs-rl/nav-entry.js");
const { adamwInit, defaultDecayMask } = await import("../../src/optim/adamw.js");
const { makeTrainStep } = await import("../../src/train/step.js");
const { Rng } = await import("../../src/util/rng.js");
type LMParams = import("../../src/nn/transformer.js").LMParams;
type Array = import("../../src/engine/index.js").Array;
type ShapeName = keyof typeof SFT_SHAPES;

await initEngine();
// NAV=1: the sft-vs-rl-nav entry's quick preset and its navigation expert data (rows of up to 256 tokens).
const nav = !!process.env.NAV;
const cfg = nav ? sftVsRlNavPresets.quick : sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = nav ? navSpec(cfg, tok, model.contextLength) : gpSpec(cfg);
const [ck, stepsArg, roundsArg, variantsArg] = process.argv.slice(2);
const lm = ck === "random" ? initLM(model, 0) : (loadCheckpoint(ck, { params: initLM(model, 0) }).trees.params as LMParams);
const data = expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec);
const T = spec.sftInit.seqLen;
const B = cfg.sft.batchSize;
const lens = data.map((d) => d.prompt.length + d.response.length - 1).sort((a, b) => a - b);
const resp = data.map((d) => d.response.length).sort((a, b) => a - b);
const q = (a: number[], p: number) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
console.log(JSON.stringify({ examples: data.length, T, B, rowLen: { min: lens[0], p50: q(lens, 0.5), p90: q(lens, 0.9), max: lens[lens.length - 1] }, response: { min: resp[0], p50: q(resp, 0.5), max: resp[resp.length - 1] }, vocab: model.vocabSize }));
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const names = (variantsArg ?? Object.keys(SFT_SHAPES).join(",")).split(",") as ShapeName[];
const adamw = { beta1: 0.9, beta2: 0.98, eps: 1e-7, weightDecay: 0 };
const steps = Object.fromEntries(
  names.map((nm) => {
    const head = SFT_SHAPES[nm].responseHead;
    return [nm, makeTrainStep<LMParams>((p, x, y, m, rows) => sftLoss(p, model, x, y, m, head ? rows : undefined), { adamw, clip: cfg.sft.clip, decayMask: defaultDecayMask(lm) })];
  }),
);
const checksum = async (p: LMParams): Promise<string> => {
  let s = 0;
  let a = 0;
  for (const l of tree.flatten<Array>(refTree(p))[0]) for (const v of (await l.data()) as Float32Array) {
    s += v;
    a += Math.abs(v);
  }
  return `${s} ${a}`;
};
const run = async (nm: ShapeName, n: number, every = 0) => {
  let params = refTree(lm);
  let opt = adamwInit(params);
  const rng = Rng.stream(0, "sft-data");
  const losses: number[] = [];
  let pad = 0;
  const t0 = cpuMs();
  for (let s = 1; s <= n; s++) {
    const picked = Array.from({ length: B }, () => data[rng.int(data.length)]);
    const a = sftBatchArrays(picked, T, SFT_SHAPES[nm]);
    pad += a.T;
    const W = a.rows ? a.R : a.T;
    const batch = [np.array(a.x, { dtype: np.int32 }).reshape([B, a.T]), np.array(a.y, { dtype: np.int32 }).reshape([B, W]), np.array(a.mask).reshape([B, W]), ...(a.rows ? [np.array(a.rows).reshape([B, a.R, a.T])] : [])];
    const out = steps[nm].step(params, opt, batch, cfg.sft.lr, s);
    params = out.params;
    opt = out.opt;
    losses.push(Number((await out.loss.data())[0]));
    out.gradNorm.dispose();
    if (every && s % every === 0) console.log(JSON.stringify({ variant: nm, step: s, loss: losses[s - 1] }));
  }
  const ms = cpuMs() - t0;
  const sum = await checksum(params);
  disposeTree(params);
  disposeTree(opt);
  return { cpuMsPerStep: Math.round(ms / n), meanPaddedT: pad / n, losses: losses.join(" "), params: sum };
};
const n = Number(stepsArg ?? 10);
for (const nm of names) console.log(JSON.stringify({ warmup: nm, ...(await run(nm, n)) }));
const rounds = Number(roundsArg ?? 2);
for (let k = 0; k < rounds; k++) for (const nm of names) console.log(JSON.stringify({ variant: nm, round: k, ...(await run(nm, n)) }));
const long = Number(process.env.LONG ?? 0);
if (long > 0) for (const nm of names) console.log(JSON.stringify({ long: nm, ...(await run(nm, long, 25)), losses: undefined }));
process.exit(0);
