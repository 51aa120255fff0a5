/**
 * The PPO training loop of branch B ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §3, App. C.2; released
 * `rl/trainer`, RL4VLM-style): per update, a rollout of `slots × rounds` policy calls with verifier rewards and
 * multi-turn revision, GAE per slot, advantage normalisation over the buffer, then `epochs` passes of `minibatches`
 * clipped-surrogate steps (loss, gradients, global-norm clip and Adam in one jitted step), cosine LR stepped once per
 * update. FLOPs: 2N per rollout token (prompt + generated) and 6N per trained token per epoch.
 *
 * It is not `trainLoop` because a PPO "batch" needs async generation with the current parameters; it keeps the
 * same guarantees at update granularity: metrics.jsonl rows, a checkpoint after every update (params, Adam moments,
 * RNG streams, FLOPs, episode counter), resume, NaN stop.
 */
import { blockUntilReady, disposeTree, jit, np, refTree, tree, valueAndGrad, type Array } from "../../engine/index.js";
import type { Env } from "../../envs/index.js";
import { adamwInit, adamwScalars, adamwUpdate, clipByGlobalNorm, defaultDecayMask, type AdamWConfig, type AdamWState } from "../../optim/adamw.js";
import type { LMConfig, LMParams } from "../../nn/transformer.js";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../../train/checkpoint.js";
import { DivergedError, type ProgressEvent } from "../../train/loop.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng, type RngState } from "../../util/rng.js";
import type { SftVsRlConfig } from "./config.js";
import { gae, inferenceFlops, initValueHead, keySplitWeights, normalizeAdvantages, ppoLoss, trainFlops, valueHeadToHost, weightedLogProb, type PolicyParams, type PPOLossConfig } from "./model.js";
import { packRows, responseWidth, type PackRow } from "./pack.js";
import { collectRollout, initRolloutState, type BatchShape, type SamplingConfig, type Transition } from "./rollout.js";
import type { PhraseTokenizer } from "./tokenizer.js";
import { imageBatch, type VisionParams } from "./vision.js";

export type PPOOptions = {
  run: RunDir;
  ppo: SftVsRlConfig["ppo"];
  sampling: SamplingConfig;
  model: LMConfig;
  tok: PhraseTokenizer;
  /** Number of PPO parameter N of the FLOP formulas. */
  nParams: number;
  seed: number;
  updates: number;
  /** The starting LM (not consumed). */
  initLm: LMParams;
  makeEnv: () => Env;
  /** Vision-language policy (GP-VL): the starting encoder (not consumed), the placeholder id and the env's image. */
  vision?: { init: VisionParams; imageId: number; image: (env: Env) => Float32Array };
  /** Evaluate the LM (and the encoder of a vision-language policy) after `update` updates (0 = before training); its numbers go to metrics.jsonl. */
  evaluate?: (lm: LMParams, update: number, flops: number, vis?: VisionParams) => Promise<Record<string, number>>;
  evalEvery: number;
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  /** Batch shaping of the rollouts' policy rounds (default DEFAULT_BATCH_SHAPE). */
  shape?: BatchShape;
  /** How the learner shapes its micro-batches (default DEFAULT_LEARNER; every choice computes the same update). */
  learner?: LearnerShape;
  /** Called as each phase of an update begins (pilots time them; `update` counts finished updates). */
  onPhase?: (phase: "rollout" | "learn" | "evaluate" | "save", update: number) => void;
};

export type PPOResult = { lm: LMParams; vis?: VisionParams; updates: number; flops: number; status: "completed" | "interrupted"; lastEval: Record<string, number> };

/** Cosine schedule of the released trainer: lr at update u, from `lr` to `minLr` over `lrMaxSteps` updates. */
export function ppoLr(u: number, p: { lr: number; minLr: number; lrMaxSteps: number }): number {
  const x = Math.min(u, p.lrMaxSteps) / p.lrMaxSteps;
  return p.minLr + 0.5 * (p.lr - p.minLr) * (1 + Math.cos(Math.PI * x));
}

/** One PPO sample ready for a minibatch. */
export type Sample = { seq: number[]; promptLen: number; weights: number[]; oldLogp: number; oldValue: number; ret: number; adv: number; image?: Float32Array };

/** Turn a rollout into PPO samples (GAE per slot, advantage normalisation over the buffer). */
export function buildSamples(transitions: Transition[][], nextValues: number[], tok: PhraseTokenizer, p: SftVsRlConfig["ppo"]): Sample[] {
  const flat: Omit<Sample, "adv">[] = [];
  const advs: number[] = [];
  transitions.forEach((tr, slot) => {
    const masks = tr.map((t) => (t.done && !(p.timeLimitQuirk && t.truncated) ? 0 : 1));
    const { advantages, returns } = gae(
      tr.map((t) => t.reward),
      tr.map((t) => t.value),
      masks,
      nextValues[slot],
      p.gamma,
      p.lambda,
    );
    tr.forEach((t, i) => {
      const weights = keySplitWeights(tok, t.response, p.answerKey, p.thoughtCoef);
      flat.push({ seq: [...t.prompt, ...t.response], promptLen: t.prompt.length, weights, oldLogp: weightedLogProb(t.logprobs, weights), oldValue: t.value, ret: returns[i], ...(t.image ? { image: t.image } : {}) });
      advs.push(advantages[i]);
    });
  });
  const norm = normalizeAdvantages(advs);
  return flat.map((s, i) => ({ ...s, adv: norm[i] }));
}

/**
 * How the learner shapes and runs its micro-batches (the numbers it computes are the same; see PPO_LEARNERS).
 * `padMultiple`: a micro-batch is padded to its longest sequence rounded up to a multiple of this (0: to 128, or the
 * context when longer, the shapes before issue 24's 40 updates). `fusedAccumulate`: the micro-batch gradients are
 * summed inside the jitted gradient call (one call per micro-batch) instead of one eager add per parameter leaf.
 * `responseHead`: the LM head (logits, log-softmax) runs only at the response positions, where the policy loss reads
 * it, instead of at every position of the padded sequence (the loss masks the others with weight 0).
 */
export type LearnerShape = { padMultiple: number; fusedAccumulate: boolean; responseHead: boolean };
export const PPO_LEARNERS = {
  legacy: { padMultiple: 0, fusedAccumulate: false, responseHead: false },
  pad16: { padMultiple: 16, fusedAccumulate: false, responseHead: false },
  fused: { padMultiple: 0, fusedAccumulate: true, responseHead: false },
  pad16fused: { padMultiple: 16, fusedAccumulate: true, responseHead: false },
  pad32fused: { padMultiple: 32, fusedAccumulate: true, responseHead: false },
  pad16fusedHead: { padMultiple: 16, fusedAccumulate: true, responseHead: true },
  pad32fusedHead: { padMultiple: 32, fusedAccumulate: true, responseHead: true },
} satisfies Record<string, LearnerShape>;
/**
 * The learner every PPO arm uses since issue 24's 40 updates: pad to a multiple of 16, sum micro-batch gradients in
 * the jitted call, the head at the response positions only. Bit-identical to `legacy` (learner.test.ts; the pilot
 * scripts/pilots/sft-vs-rl-learner.mts printed the same metric sums and parameter checksums at the quick preset) and
 * cheaper in CPU (numbers in the README's sizing section).
 */
export const DEFAULT_LEARNER: LearnerShape = PPO_LEARNERS.pad16fusedHead;

/**
 * Padded length of a PPO micro-batch whose longest input is `maxLen` tokens: with `padMultiple` 0, 128, then the
 * context (few shapes mean few compilations, and jax-js 0.1.25's wasm allocator never merged free blocks of
 * different sizes, so every new shape added its peak); otherwise `maxLen` rounded up to a multiple of `padMultiple`
 * (at most the context).
 */
export function lengthBucket(maxLen: number, contextLength: number, padMultiple = 0): number {
  if (padMultiple > 0) return Math.min(contextLength, Math.ceil(maxLen / padMultiple) * padMultiple);
  for (const b of [128]) if (maxLen <= b && b < contextLength) return b;
  return contextLength;
}

/**
 * Host arrays of one micro-batch, padded to `lengthBucket` of its longest sequence: x, y, w, last [B, T], oldLogp,
 * oldValue, returns, adv [B]; with `imageId` (vision-language policy) then the image slots and patches of each
 * sample's prompt. With `learner.responseHead`, y and w are [B, R] over the response positions only (R: the longest
 * response plus its column offset, rounded up to a multiple of 64) and the last array is the one-hot [B, R, T] that picks those positions
 * (`lmForward`'s `headRows`).
 */
export function minibatchArrays(samples: Sample[], contextLength: number, imageId?: number, learner: LearnerShape = PPO_LEARNERS.legacy): Array[] {
  const B = samples.length;
  const maxLen = Math.max(...samples.map((s) => s.seq.length - 1));
  const T = lengthBucket(maxLen, contextLength, learner.padMultiple);
  const rows: PackRow[] = samples.map((s) => ({ seq: s.seq, promptLen: s.promptLen, weight: (j) => s.weights[j] }));
  // R: a multiple of 64 (one shape at `quick`, whose answers are at most 48 tokens), at most T.
  const R = learner.responseHead ? responseWidth(rows, T, 64) : null;
  const { x, y, w, pick } = packRows(rows, T, R);
  const C = R ?? T;
  const last = new Float32Array(B * T);
  samples.forEach((s, b) => (last[b * T + s.promptLen - 1] = 1));
  const vec = (f: (s: Sample) => number) => np.array(Float32Array.from(samples.map(f)));
  const img = imageId === undefined ? [] : imageBatch(x, B, T, imageId, samples.map((s) => s.image!));
  return [
    np.array(x, { dtype: np.int32 }).reshape([B, T]),
    np.array(y, { dtype: np.int32 }).reshape([B, C]),
    np.array(w).reshape([B, C]),
    np.array(last).reshape([B, T]),
    vec((s) => s.oldLogp),
    vec((s) => s.oldValue),
    vec((s) => s.ret),
    vec((s) => s.adv),
    ...img,
    ...(pick ? [np.array(pick).reshape([B, C, T])] : []),
  ];
}

/**
 * A PPO optimizer step over one minibatch given as equal-sized micro-batches (gradient accumulation, as the
 * released trainer accumulates 128 per-sample gradients): the mean of the micro-batch gradients, then global-norm
 * clipping and Adam in one jitted update. Loss and aux are averaged over micro-batches.
 */
export function makeAccumulatingStep(
  lossFn: (p: PolicyParams, batch: Array[]) => [Array, Array[]],
  opts: { adamw: AdamWConfig; clip: number; decayMask: unknown; learner?: LearnerShape },
): {
  step: (params: PolicyParams, opt: AdamWState<PolicyParams>, micro: Array[][], lr: number, t: number) => Promise<{ params: PolicyParams; opt: AdamWState<PolicyParams>; loss: Array; gradNorm: Array; aux: Array[] }>;
  dispose: () => void;
} {
  const fused = opts.learner?.fusedAccumulate ?? false;
  const gradFn = jit((p: PolicyParams, batch: Array[]) => {
    const [[loss, aux], grads] = valueAndGrad((q: PolicyParams) => lossFn(q, batch), { hasAux: true })(p);
    return { loss, aux, grads };
  });
  // The same gradient call adding its results to the running sums (the same float additions, in the same order, as
  // the eager path's `acc + grads`), so a micro-batch costs one dispatch instead of one per parameter leaf.
  const gradAccFn = jit((p: PolicyParams, batch: Array[], acc: { loss: Array; aux: Array[]; grads: PolicyParams }) => {
    const [[loss, aux], grads] = valueAndGrad((q: PolicyParams) => lossFn(q, batch), { hasAux: true })(p);
    return {
      loss: acc.loss.add(loss),
      aux: acc.aux.map((a, i) => a.add(aux[i])),
      grads: tree.map((a: Array, g: Array) => a.add(g), acc.grads, grads) as PolicyParams,
    };
  });
  const applyFn = jit((params: PolicyParams, opt: AdamWState<PolicyParams>, grads: PolicyParams, lr: Array, bc1: Array, bc2: Array) => {
    const [clipped, gradNorm] = clipByGlobalNorm(grads, opts.clip);
    const upd = adamwUpdate(params, clipped, opt, { lr, bc1, bc2 }, opts.adamw, opts.decayMask);
    return { params: upd.params, opt: upd.state, gradNorm };
  });
  return {
    step: async (params, opt, micro, lr, t) => {
      const k = micro.length;
      let grads: PolicyParams;
      let loss: Array;
      let aux: Array[];
      if (fused) {
        let acc: { loss: Array; aux: Array[]; grads: PolicyParams } | null = null;
        for (const batch of micro) {
          acc = acc ? gradAccFn(refTree(params), batch, acc) : gradFn(refTree(params), batch);
          // Wait for each micro-batch (see below).
          await blockUntilReady(acc);
        }
        grads = tree.map((a: Array) => a.mul(1 / k), acc!.grads) as PolicyParams;
        loss = acc!.loss;
        aux = acc!.aux;
      } else {
        let acc: Array[] | null = null;
        let def: ReturnType<typeof tree.flatten>[1] | null = null;
        let lsum: Array | null = null;
        let asum: Array[] = [];
        for (const batch of micro) {
          const r = gradFn(refTree(params), batch);
          const [leaves, d] = tree.flatten<Array>(r.grads);
          def = d;
          acc = acc ? acc.map((a, i) => a.add(leaves[i])) : leaves;
          lsum = lsum ? lsum.add(r.loss) : r.loss;
          asum = asum.length ? asum.map((a, i) => a.add(r.aux[i])) : r.aux;
          // Wait for this micro-batch before dispatching the next: jax-js dispatches asynchronously and each jitted
          // call holds all its intermediates, so without the wait every micro-batch of the minibatch is alive at once
          // and the micro-batch size bounds nothing (measured: PPO from the stage-0 model grew to 3 GiB either way).
          await blockUntilReady([acc, lsum, asum]);
        }
        grads = tree.unflatten(def!, acc!.map((a) => a.mul(1 / k))) as PolicyParams;
        loss = lsum!;
        aux = asum;
      }
      const { bc1, bc2 } = adamwScalars(t, opts.adamw);
      const out = applyFn(params, opt, grads, np.array(lr), np.array(bc1), np.array(bc2));
      return { params: out.params, opt: out.opt, gradNorm: out.gradNorm, loss: loss.mul(1 / k), aux: aux.map((a) => a.mul(1 / k)) };
    },
    dispose: () => {
      gradFn.dispose();
      gradAccFn.dispose();
      applyFn.dispose();
    },
  };
}

/** The metric sums of one update's optimizer steps (divide by `n`). */
export type LearnSums = { loss: number; policyLoss: number; valueLoss: number; clipFrac: number; approxKL: number; gradNorm: number };
export type AccumulatingStep = ReturnType<typeof makeAccumulatingStep>;

/**
 * The learner of one PPO update: `ppo.epochs` passes over the samples in an order drawn from `shuffle`, each cut
 * into `ppo.minibatches` minibatches, each one optimizer step over micro-batches of `ppo.microBatch` samples of
 * similar length. Consumes `params` and `opt`; returns the new ones and the sums of the steps' metrics. On a
 * non-finite loss it calls `onDiverged` and throws `DivergedError` (update `update + 1`).
 */
export async function ppoLearn(o: {
  samples: Sample[];
  params: PolicyParams;
  opt: AdamWState<PolicyParams>;
  step: AccumulatingStep;
  lr: number;
  /** Finished updates before this one (Adam's step count continues from update × epochs × minibatches). */
  update: number;
  ppo: SftVsRlConfig["ppo"];
  shuffle: Rng;
  contextLength: number;
  imageId?: number;
  /** Micro-batch shapes (default `legacy`); the step's loss must read the arrays this learner builds (`headRows` last with `responseHead`). */
  learner?: LearnerShape;
  onDiverged?: (loss: number) => void;
}): Promise<{ params: PolicyParams; opt: AdamWState<PolicyParams>; sums: LearnSums; n: number }> {
  const { samples, ppo } = o;
  let { params, opt } = o;
  const mb = samples.length / ppo.minibatches;
  const sums: LearnSums = { loss: 0, policyLoss: 0, valueLoss: 0, clipFrac: 0, approxKL: 0, gradNorm: 0 };
  let n = 0;
  for (let e = 0; e < ppo.epochs; e++) {
    const order = o.shuffle.shuffle(samples.map((_, i) => i));
    for (let m = 0; m < ppo.minibatches; m++) {
      // Micro-batches of similar length (the minibatch mean does not depend on how it is split into equal parts).
      const mbSamples = order.slice(m * mb, (m + 1) * mb).map((i) => samples[i]).sort((a, b) => a.seq.length - b.seq.length);
      const micro: Array[][] = [];
      for (let k = 0; k < mbSamples.length; k += ppo.microBatch) micro.push(minibatchArrays(mbSamples.slice(k, k + ppo.microBatch), o.contextLength, o.imageId, o.learner ?? PPO_LEARNERS.legacy));
      const out = await o.step.step(params, opt, micro, o.lr, o.update * ppo.epochs * ppo.minibatches + n + 1);
      const loss = Number((await out.loss.data())[0]);
      const gn = Number((await out.gradNorm.data())[0]);
      const aux: number[] = [];
      for (const a of out.aux) aux.push(Number((await a.data())[0]));
      if (!Number.isFinite(loss)) {
        disposeTree(out.params);
        disposeTree(out.opt);
        o.onDiverged?.(loss);
        throw new DivergedError(o.update + 1, loss);
      }
      params = out.params;
      opt = out.opt;
      sums.loss += loss;
      sums.policyLoss += aux[0];
      sums.valueLoss += aux[1];
      sums.clipFrac += aux[2];
      sums.approxKL += aux[3];
      sums.gradNorm += gn;
      n++;
    }
  }
  return { params, opt, sums, n };
}

export async function trainPPO(o: PPOOptions): Promise<PPOResult> {
  const { run, ppo, model, tok } = o;
  const emit = o.onProgress ?? (() => {});
  const seedOf = (ep: number) => new Rng(o.seed, `ppo-episode-${ep}`).nextU32();
  const freshParams = (): PolicyParams => ({
    lm: refTree(o.initLm),
    value: initValueHead(model.dModel, o.seed),
    ...(o.vision ? { vis: refTree(o.vision.init) } : {}),
  });
  const visionOf = (p: PolicyParams) => (o.vision && p.vis ? { params: p.vis, imageId: o.vision.imageId, image: o.vision.image } : undefined);
  let params = freshParams();
  let opt: AdamWState<PolicyParams> = adamwInit(params);
  let update = 0;
  let flops = 0;
  let nextEpisode = 0;
  let rngs = { sample: Rng.stream(o.seed, "ppo-sample"), shuffle: Rng.stream(o.seed, "ppo-shuffle") };
  let lastEval: Record<string, number> = {};
  const ck = run.path("checkpoints", "latest.safetensors");
  if (o.resume && latestCheckpoint(run.dir)) {
    const c = loadCheckpoint(ck, { params, opt });
    params = c.trees.params as PolicyParams;
    opt = c.trees.opt as AdamWState<PolicyParams>;
    update = c.step;
    const st = c.state as { flops: number; nextEpisode: number; rngs: Record<string, RngState>; lastEval: Record<string, number> };
    flops = st.flops;
    nextEpisode = st.nextEpisode;
    rngs = { sample: new Rng(st.rngs.sample), shuffle: new Rng(st.rngs.shuffle) };
    lastEval = st.lastEval ?? {};
    run.truncateMetrics(update);
    emit({ kind: "message", text: `ppo: resumed at update ${update}` });
  } else if (o.resume) run.truncateMetrics(-1);
  run.setStatus("running");
  const save = () => saveCheckpoint(ck, { params, opt }, { step: update, state: { flops, nextEpisode, rngs: { sample: rngs.sample.state(), shuffle: rngs.shuffle.state() }, lastEval } });

  if (update === 0 && o.evaluate) {
    o.onPhase?.("evaluate", 0);
    lastEval = await o.evaluate(params.lm, 0, 0, params.vis);
    run.appendMetrics({ step: 0, update: 0, flops: 0, ...lastEval });
    emit({ kind: "eval", step: 0, total: o.updates, metrics: lastEval });
  }
  const lossCfg = { clip: ppo.clip, valueClip: ppo.valueClip, valueLossCoef: ppo.valueLossCoef, temperature: Math.max(o.sampling.temperature, 1e-6), ratioCap: ppo.ratioCap };
  const stepOpts = { adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-7, weightDecay: 0 }, clip: ppo.maxGradNorm, decayMask: defaultDecayMask(params) };
  const learner = o.learner ?? DEFAULT_LEARNER;
  // The micro-batch arrays (minibatchArrays): 8, then the image slots and patches (vision), then the head's rows.
  const lossOf = (cfg: PPOLossConfig) => (p: PolicyParams, b: Array[]) => ppoLoss(p, model, cfg, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], o.vision ? b[8] : undefined, o.vision ? b[9] : undefined, learner.responseHead ? b[b.length - 1] : undefined);
  const step = makeAccumulatingStep(lossOf(lossCfg), { ...stepOpts, learner });
  // Value warm-up (our addition, off in the released settings): the first updates fit only the value head.
  const warmCfg = { ...lossCfg, valueOnly: true };
  const warmStep = ppo.valueWarmupUpdates > 0 ? makeAccumulatingStep(lossOf(warmCfg), { ...stepOpts, learner }) : null;
  const state = initRolloutState(o.makeEnv, ppo.slots, (ep) => seedOf(nextEpisode + ep));
  state.nextEpisode += nextEpisode;
  try {
    while (update < o.updates) {
      if (o.signal?.aborted) {
        await save();
        run.setStatus("interrupted", `stopped at update ${update}`);
        return { lm: params.lm, ...(params.vis ? { vis: params.vis } : {}), updates: update, flops, status: "interrupted", lastEval };
      }
      const t0 = performance.now();
      o.onPhase?.("rollout", update);
      const valueWeights = await valueHeadToHost(params.value);
      const roll = await collectRollout({ params: params.lm, valueWeights, cfg: model, tok, state, rounds: ppo.rounds, sampling: o.sampling, rng: rngs.sample, seedOf, vision: visionOf(params), ...(o.shape ? { shape: o.shape } : {}) });
      o.onPhase?.("learn", update);
      nextEpisode = state.nextEpisode;
      const samples = buildSamples(roll.transitions, roll.nextValues, tok, ppo);
      const trainedTokens = samples.reduce((s, x) => s + x.seq.length, 0) * ppo.epochs;
      const lr = ppoLr(update, ppo);
      const warm = warmStep !== null && update < ppo.valueWarmupUpdates;
      const learned = await ppoLearn({
        samples, params, opt, step: warm ? warmStep : step, lr, update, ppo,
        shuffle: rngs.shuffle, contextLength: model.contextLength, imageId: o.vision?.imageId, learner,
        onDiverged: (loss) => run.setStatus("diverged", `loss ${loss} at update ${update + 1}`),
      });
      params = learned.params;
      opt = learned.opt;
      const { sums, n } = learned;
      flops += inferenceFlops(o.nParams, roll.inferenceTokens) + trainFlops(o.nParams, trainedTokens);
      update++;
      const eps = roll.episodes;
      const row: Record<string, number> = {
        step: update,
        update,
        flops,
        lr,
        loss: sums.loss / n,
        policyLoss: sums.policyLoss / n,
        valueLoss: sums.valueLoss / n,
        clipFrac: sums.clipFrac / n,
        approxKL: sums.approxKL / n,
        gradNorm: sums.gradNorm / n,
        meanStepReward: samples.length ? roll.transitions.flat().reduce((s, t) => s + t.reward, 0) / samples.length : 0,
        rolloutEpisodes: eps.length,
        rolloutSuccess: eps.length ? eps.filter((x) => x.success).length / eps.length : 0,
        // Share of the update's policy calls that earned a positive reward (GP: +5); near 1, the advantages hold little signal.
        rewardedCalls: samples.length ? roll.transitions.flat().filter((t) => t.reward > 0).length / samples.length : 0,
      };
      const dt = (performance.now() - t0) / 1000;
      emit({ kind: "step", step: update, total: o.updates, loss: row.loss, lr, gradNorm: row.gradNorm, tokensPerSec: (roll.inferenceTokens + trainedTokens) / Math.max(dt, 1e-9) });
      if (o.evaluate && (update % o.evalEvery === 0 || update === o.updates)) {
        o.onPhase?.("evaluate", update);
        lastEval = await o.evaluate(params.lm, update, flops, params.vis);
        Object.assign(row, lastEval);
        emit({ kind: "eval", step: update, total: o.updates, metrics: lastEval });
      }
      o.onPhase?.("save", update);
      run.appendMetrics(row);
      await save();
    }
  } finally {
    step.dispose();
    warmStep?.dispose();
  }
  disposeTree(params.value);
  disposeTree(opt);
  return { lm: params.lm, ...(params.vis ? { vis: params.vis } : {}), updates: update, flops, status: "completed", lastEval };
}
