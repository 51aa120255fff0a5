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
import { gae, inferenceFlops, initValueHead, keySplitWeights, normalizeAdvantages, ppoLoss, trainFlops, valueHeadToHost, weightedLogProb, type PolicyParams } from "./model.js";
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
type Sample = { seq: number[]; promptLen: number; weights: number[]; oldLogp: number; oldValue: number; ret: number; adv: number; image?: Float32Array };

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
 * Padded lengths of PPO micro-batches: 128, then the context. Few shapes mean few compilations and bounded memory
 * (jax-js 0.1.25's wasm allocator never merges free blocks of different sizes, so every new shape adds its peak).
 */
export function lengthBucket(maxLen: number, contextLength: number): number {
  for (const b of [128]) if (maxLen <= b && b < contextLength) return b;
  return contextLength;
}

/**
 * Host arrays of one micro-batch, padded to `lengthBucket` of its longest sequence; with `imageId` (vision-language
 * policy) also the image slots and patches of each sample's prompt.
 */
export function minibatchArrays(samples: Sample[], contextLength: number, imageId?: number): Array[] {
  const B = samples.length;
  const maxLen = Math.max(...samples.map((s) => s.seq.length - 1));
  const T = lengthBucket(maxLen, contextLength);
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  const w = new Float32Array(B * T);
  const last = new Float32Array(B * T);
  samples.forEach((s, b) => {
    for (let t = 0; t < s.seq.length - 1; t++) {
      x[b * T + t] = s.seq[t];
      y[b * T + t] = s.seq[t + 1];
      const j = t + 1 - s.promptLen; // index of the response token predicted at t
      if (j >= 0) w[b * T + t] = s.weights[j];
    }
    last[b * T + s.promptLen - 1] = 1;
  });
  const vec = (f: (s: Sample) => number) => np.array(Float32Array.from(samples.map(f)));
  const img = imageId === undefined ? [] : imageBatch(x, B, T, imageId, samples.map((s) => s.image!));
  return [
    np.array(x, { dtype: np.int32 }).reshape([B, T]),
    np.array(y, { dtype: np.int32 }).reshape([B, T]),
    np.array(w).reshape([B, T]),
    np.array(last).reshape([B, T]),
    vec((s) => s.oldLogp),
    vec((s) => s.oldValue),
    vec((s) => s.ret),
    vec((s) => s.adv),
    ...img,
  ];
}

/**
 * A PPO optimizer step over one minibatch given as equal-sized micro-batches (gradient accumulation, as the
 * released trainer accumulates 128 per-sample gradients): the mean of the micro-batch gradients, then global-norm
 * clipping and Adam in one jitted update. Loss and aux are averaged over micro-batches.
 */
export function makeAccumulatingStep(
  lossFn: (p: PolicyParams, batch: Array[]) => [Array, Array[]],
  opts: { adamw: AdamWConfig; clip: number; decayMask: unknown },
): {
  step: (params: PolicyParams, opt: AdamWState<PolicyParams>, micro: Array[][], lr: number, t: number) => Promise<{ params: PolicyParams; opt: AdamWState<PolicyParams>; loss: Array; gradNorm: Array; aux: Array[] }>;
  dispose: () => void;
} {
  const gradFn = jit((p: PolicyParams, batch: Array[]) => {
    const [[loss, aux], grads] = valueAndGrad((q: PolicyParams) => lossFn(q, batch), { hasAux: true })(p);
    return { loss, aux, grads };
  });
  const applyFn = jit((params: PolicyParams, opt: AdamWState<PolicyParams>, grads: PolicyParams, lr: Array, bc1: Array, bc2: Array) => {
    const [clipped, gradNorm] = clipByGlobalNorm(grads, opts.clip);
    const upd = adamwUpdate(params, clipped, opt, { lr, bc1, bc2 }, opts.adamw, opts.decayMask);
    return { params: upd.params, opt: upd.state, gradNorm };
  });
  return {
    step: async (params, opt, micro, lr, t) => {
      const k = micro.length;
      let acc: Array[] | null = null;
      let def: ReturnType<typeof tree.flatten>[1] | null = null;
      let loss: Array | null = null;
      let aux: Array[] = [];
      for (const batch of micro) {
        const r = gradFn(refTree(params), batch);
        const [leaves, d] = tree.flatten<Array>(r.grads);
        def = d;
        acc = acc ? acc.map((a, i) => a.add(leaves[i])) : leaves;
        loss = loss ? loss.add(r.loss) : r.loss;
        aux = aux.length ? aux.map((a, i) => a.add(r.aux[i])) : r.aux;
        // Wait for this micro-batch before dispatching the next: jax-js dispatches asynchronously and each jitted
        // call holds all its intermediates, so without the wait every micro-batch of the minibatch is alive at once
        // and the micro-batch size bounds nothing (measured: PPO from the stage-0 model grew to 3 GiB either way).
        await blockUntilReady([acc, loss, aux]);
      }
      const grads = tree.unflatten(def!, acc!.map((a) => a.mul(1 / k))) as PolicyParams;
      const { bc1, bc2 } = adamwScalars(t, opts.adamw);
      const out = applyFn(params, opt, grads, np.array(lr), np.array(bc1), np.array(bc2));
      return { params: out.params, opt: out.opt, gradNorm: out.gradNorm, loss: loss!.mul(1 / k), aux: aux.map((a) => a.mul(1 / k)) };
    },
    dispose: () => {
      gradFn.dispose();
      applyFn.dispose();
    },
  };
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
  const step = makeAccumulatingStep((p, b) => ppoLoss(p, model, lossCfg, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]), stepOpts);
  // Value warm-up (our addition, off in the released settings): the first updates fit only the value head.
  const warmCfg = { ...lossCfg, valueOnly: true };
  const warmStep = ppo.valueWarmupUpdates > 0 ? makeAccumulatingStep((p, b) => ppoLoss(p, model, warmCfg, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]), stepOpts) : null;
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
      const mb = samples.length / ppo.minibatches;
      const sums = { loss: 0, policyLoss: 0, valueLoss: 0, clipFrac: 0, approxKL: 0, gradNorm: 0 };
      let n = 0;
      for (let e = 0; e < ppo.epochs; e++) {
        const order = rngs.shuffle.shuffle(samples.map((_, i) => i));
        for (let m = 0; m < ppo.minibatches; m++) {
          // Micro-batches of similar length (the minibatch mean does not depend on how it is split into equal parts).
          const mbSamples = order.slice(m * mb, (m + 1) * mb).map((i) => samples[i]).sort((a, b) => a.seq.length - b.seq.length);
          const micro: Array[][] = [];
          for (let k = 0; k < mbSamples.length; k += ppo.microBatch) micro.push(minibatchArrays(mbSamples.slice(k, k + ppo.microBatch), model.contextLength, o.vision?.imageId));
          const warm = warmStep !== null && update < ppo.valueWarmupUpdates;
          const out = await (warm ? warmStep : step).step(params, opt, micro, lr, update * ppo.epochs * ppo.minibatches + n + 1);
          const loss = Number((await out.loss.data())[0]);
          const gn = Number((await out.gradNorm.data())[0]);
          const aux: number[] = [];
          for (const a of out.aux) aux.push(Number((await a.data())[0]));
          if (!Number.isFinite(loss)) {
            disposeTree(out.params);
            disposeTree(out.opt);
            run.setStatus("diverged", `loss ${loss} at update ${update + 1}`);
            throw new DivergedError(update + 1, loss);
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
