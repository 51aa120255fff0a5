/**
 * Batched multi-turn episodes with the LM policy ("SFT Memorizes, RL Generalizes", arXiv 2501.17161, §3 "Sequential
 * revision"): `slots` environments run side by side; every round, each live slot's conversation is rendered, one
 * batched `generate` call answers all of them, and each environment grades its answer. A failed answer is followed
 * by `You failed this trial because {feedback}` in the same conversation; once no graded attempt is left, the
 * episode closes with the environment's limit step (−1) without another policy call (as `runEpisode` does).
 *
 * Used two ways: `evaluateLM` plays a fixed list of episodes (the eval harness, batched), and `collectRollout`
 * plays a fixed number of rounds for PPO with episodes continuing across boundaries in each slot (RL4VLM's
 * vectorised envs), recording prompt/response tokens, sampler log-probs and V(s) from the prompt's hidden state.
 */
import type { Env, Message } from "../../envs/index.js";
import { binomialStdErr } from "../../envs/index.js";
import { generate } from "../../nn/generate.js";
import type { LMConfig, LMParams } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import { END, renderChat, type PhraseTokenizer } from "./tokenizer.js";
import { valueHeadHost } from "./model.js";
import { prefillEmbedder, type VisionParams } from "./vision.js";

/** Image input of a vision-language policy (GP-VL): encoder params, the placeholder id, the image an env shows. */
export type PolicyVision = { params: VisionParams; imageId: number; image: (env: Env) => Float32Array };

/** How the policy samples. */
export type SamplingConfig = { temperature: number; topK: number; topP: number; maxNewTokens: number };

/** Decode generated ids to the answer text (without the trailing `<|end|>`). */
export function answerText(tok: PhraseTokenizer, ids: readonly number[]): string {
  const s = tok.decode(ids);
  return s.endsWith(END) ? s.slice(0, -END.length) : s;
}

/** One graded policy call. */
export type Transition = {
  slot: number;
  prompt: number[];
  response: number[];
  logprobs: number[];
  value: number;
  /** Reward of this answer, plus the −1 of the limit step when the episode ended by the limit right after it. */
  reward: number;
  /** The episode ended after this transition. */
  done: boolean;
  /** ...and it ended by exceeding the verification limit. */
  truncated: boolean;
  /** The image shown with the prompt (vision-language policy only). */
  image?: Float32Array;
};

type SlotState = { env: Env; conv: Message[]; convs: Message[][]; episode: number; reward: number; turns: number; correct: number };

export type EpisodeRecord = { episode: number; success: boolean; totalReward: number; turns: number; correctSteps: number; conversations: Message[][] };

type Round = { live: number[]; prompts: number[][]; images?: Float32Array[]; out: { tokens: number[][]; logprobs: number[][]; promptHidden?: number[][] } };

/**
 * How a policy round shapes its batch. `prefillBucket`: prompts are left-padded to a multiple of this (or to the
 * context budget); `prefillTight`, `compactDone`: see `generate`'s options (0 or absent: off); `tailPad`: when fewer slots are live than the batch holds, pad the batch only to the smallest
 * of nSlots / tailPad, nSlots / tailPad * 2, ... (powers of two, so few shapes compile) that holds them
 * (0: always the full batch).
 */
export type BatchShape = { prefillBucket: number; tailPad: number; prefillChunk?: number; prefillTight?: number; compactDone?: number };
/** The shape every round had before issue 25 (pilots compare against it). */
export const LEGACY_BATCH_SHAPE: BatchShape = { prefillBucket: 128, tailPad: 0 };
/**
 * The default shape since issue 24's longer PPO (32 updates at `quick`). Bucket 64: first-turn GeneralPoints
 * prompts are 43 tokens at `quick`, so bucket 128 prefilled every first round three times its prompts (retries of
 * about 112 tokens still pad to 128). Tail padding to nSlots/8, /4, /2: an evaluation's last rounds (OOD episodes retry up to 5 times) no longer
 * decode 250 rows for a few live ones. It changes which sampler draws the rows of those last rounds get (fewer
 * padding rows draw fewer numbers), so sampled evaluations differ from the legacy shape's after the tail starts;
 * greedy ones and PPO rollouts (every slot live, so no tail) are the same calls.
 * Pilots (quick SFT init, one thread, process CPU time, interleaved): scripts/pilots/speed-eval-shape.mts, 250
 * episodes per split: 1.68x less than the legacy shape, the same success counts; scripts/pilots/sft-vs-rl-shape-cost.mts:
 * evaluation at 200 / 500 episodes per split 1.50x / 1.61x less, one PPO rollout (64 slots x 4 rounds) 1.22x less,
 * all with the same success counts and rollout tokens. Memory: it was left off while jax-js's wasm allocator kept one
 * free list per buffer size (bucket 64 alone hit the 4 GiB limit in one process with evaluations and PPO updates);
 * with the allocator patch (scripts/patch-jax.mjs edit 8) the same sequence at this shape (the PPO arm's evaluations,
 * PPO updates, SFT steps) stays far below it (numbers in the README).
 */
export const FAST_BATCH_SHAPE: BatchShape = { prefillBucket: 64, tailPad: 8 };
/**
 * The fast shape with a tight prefill and decode (issue 24, 500 episodes at every compute point). A round's prompts are
 * prefilled grouped by length, 16 rows at a time, each chunk over its own longest prompt rounded up to 16 at the
 * positions of the whole round's layout, and the padding rows (copies of the first prompt) once (`generate`'s
 * `prefillTight`), instead of every chunk over the round's longest prompt (revision prompts of up to 208 tokens beside
 * first-turn prompts of 43): the same tokens, log-probs and prompt hidden states bit for bit (rollout.test.ts,
 * generate.test.ts; a quick PPO rollout in scripts/pilots/sft-vs-rl-eval-profile.mts `rollout`). In evaluations, once
 * at most a quarter of the decoded rows are still sampling, the decode goes on with a quarter of the rows
 * (`compactDone`; revision answers are mostly a few tokens, the longest up to 48): a decode step over fewer rows can
 * round a logit differently in the last bit (a quick PPO rollout: 4 of 256 calls, log-probs within 2.5e-7, tokens the
 * same), so PPO rollouts do not compact (`collectRollout`); the pilots' evaluations sampled the same tokens and
 * log-probs (hashes) at 200 and 500 episodes. CPU numbers in the README (scripts/pilots/sft-vs-rl-eval-profile.mts,
 * sft-vs-rl-shape-cost.mts).
 */
export const TIGHT_BATCH_SHAPE: BatchShape = { ...FAST_BATCH_SHAPE, prefillTight: 16, compactDone: 4 };
/** The shape every policy round uses unless told otherwise. */
export const DEFAULT_BATCH_SHAPE: BatchShape = TIGHT_BATCH_SHAPE;

/** Rows of a round with `live` live slots out of `nSlots` (see `BatchShape.tailPad`). */
export function paddedRows(live: number, nSlots: number, tailPad: number): number {
  if (tailPad <= 1 || live >= nSlots) return nSlots;
  for (let d = tailPad; d >= 1; d /= 2) {
    const rows = Math.ceil(nSlots / d);
    if (rows >= live) return rows;
  }
  return nSlots;
}

async function policyRound(params: LMParams, cfg: LMConfig, tok: PhraseTokenizer, slots: (SlotState | null)[], s: SamplingConfig, rng: Rng, nSlots: number, withHidden: boolean, genTokens = s.maxNewTokens, vision?: PolicyVision, shape: BatchShape = DEFAULT_BATCH_SHAPE): Promise<Round> {
  const live = slots.map((x, i) => (x ? i : -1)).filter((i) => i >= 0);
  const prompts = live.map((i) => renderChat(tok, slots[i]!.conv, cfg.contextLength - s.maxNewTokens));
  const batch = [...prompts];
  const padTo = paddedRows(live.length, nSlots, shape.tailPad);
  while (batch.length < padTo) batch.push(prompts[0]); // static batch shape: padding rows are discarded
  const images = vision ? live.map((i) => vision.image(slots[i]!.env)) : undefined;
  const embeds = vision && images ? { prefillEmbeds: prefillEmbedder(params, vision.params, vision.imageId, batch.map((_, r) => images[r < images.length ? r : 0])) } : {};
  const out = await generate(params, cfg, batch, {
    maxNewTokens: genTokens,
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    rng,
    stopIds: [tok.id(END)],
    batchedPrefill: true,
    // Few prompt shapes (multiples of the bucket, or the longest) and prefill chunks of 16 rows: jax-js's wasm allocator keeps one free
    // list per buffer size and never merges them, so every new large shape adds its peak memory (4 GiB in all).
    prefillBucket: shape.prefillBucket,
    prefillChunk: shape.prefillChunk ?? 16,
    ...(shape.prefillTight ? { prefillTight: shape.prefillTight } : {}),
    ...(shape.compactDone ? { compactDone: shape.compactDone } : {}),
    returnPromptHidden: withHidden,
    ...embeds,
  });
  return { live, prompts, images, out };
}

/** Result of `evaluateLM`. */
export type LMEvalResult = {
  episodes: number;
  successes: number;
  successRate: number;
  stdErr: number;
  meanReward: number;
  perStepAccuracy: number;
  /** Graded policy answers (the denominator of `perStepAccuracy`; verification retries count, App. C.3). */
  gradedSteps: number;
  /** Counts of the tags `firstAnswerTags` gave the first answer of each episode. */
  firstAnswerTags: Record<string, number>;
  records: EpisodeRecord[];
};

/**
 * Play `seeds.length` episodes with the LM policy, `batch` at a time (a slot takes the next episode when its own
 * ends). `makeEnv` builds one environment per slot. Success = the environment's `info.success` at the end (GP: a +5 within
 * the verification limit; navigation: `stop()` at the destination with every point correct within 2 attempts).
 */
export async function evaluateLM(opts: {
  params: LMParams;
  cfg: LMConfig;
  tok: PhraseTokenizer;
  makeEnv: () => Env;
  seeds: readonly number[];
  batch: number;
  sampling: SamplingConfig;
  rng: Rng;
  keepRecords?: number;
  /** Tags for the first answer of an episode (e.g. "parsed"), counted over episodes. */
  firstAnswerTags?: (env: Env, answer: string) => string[];
  /** Image input (vision-language policy). */
  vision?: PolicyVision;
  /** Batch shaping of each round (default DEFAULT_BATCH_SHAPE). */
  shape?: BatchShape;
  /** Called after each policy round's generation with its batch (pilots profile evaluations with it). */
  onRound?: (r: { live: number; prompts: number[][]; tokens: number[][]; logprobs: number[][] }) => void;
}): Promise<LMEvalResult> {
  const tags: Record<string, number> = {};
  const { params, cfg, tok, seeds, sampling, rng } = opts;
  const nSlots = Math.min(opts.batch, seeds.length);
  const slots: (SlotState | null)[] = [];
  let next = 0;
  const records: EpisodeRecord[] = [];
  let successes = 0;
  let totalReward = 0;
  let graded = 0;
  let correct = 0;
  const start = (env: Env): SlotState | null => {
    if (next >= seeds.length) return null;
    const ep = next++;
    const obs = env.reset(seeds[ep]);
    const conv: Message[] = [{ role: "user", content: obs.text }];
    return { env, conv, convs: [conv], episode: ep, reward: 0, turns: 0, correct: 0 };
  };
  for (let i = 0; i < nSlots; i++) slots.push(start(opts.makeEnv()));
  const finish = (st: SlotState, success: boolean) => {
    if (success) successes++;
    totalReward += st.reward;
    graded += st.turns;
    correct += st.correct;
    if (records.length < (opts.keepRecords ?? 0)) records.push({ episode: st.episode, success, totalReward: st.reward, turns: st.turns, correctSteps: st.correct, conversations: st.convs });
  };
  while (slots.some((x) => x)) {
    const r = await policyRound(params, cfg, tok, slots, sampling, rng, nSlots, false, sampling.maxNewTokens, opts.vision, opts.shape);
    opts.onRound?.({ live: r.live.length, prompts: r.prompts, tokens: r.out.tokens, logprobs: r.out.logprobs });
    r.live.forEach((i, k) => {
      const st = slots[i]!;
      const answer = answerText(tok, r.out.tokens[k]);
      if (st.turns === 0 && opts.firstAnswerTags) for (const t of opts.firstAnswerTags(st.env, answer)) tags[t] = (tags[t] ?? 0) + 1;
      const res = st.env.step(answer);
      st.reward += res.reward;
      st.turns++;
      if (res.info.correct) st.correct++;
      st.conv.push({ role: "assistant", content: answer });
      let ended = res.done;
      let success = res.info.success;
      if (!ended && res.info.attemptsLeft <= 0) {
        const end = st.env.step("");
        st.reward += end.reward;
        ended = true;
        success = end.info.success;
      }
      if (ended) {
        finish(st, success);
        slots[i] = start(st.env);
        return;
      }
      if (res.observation.kind === "prompt") {
        st.conv = [{ role: "user", content: res.observation.text }];
        st.convs.push(st.conv);
      } else st.conv.push({ role: "user", content: res.observation.text });
    });
  }
  const n = seeds.length;
  return { episodes: n, successes, successRate: successes / n, stdErr: binomialStdErr(successes, n), meanReward: totalReward / n, perStepAccuracy: graded ? correct / graded : 0, gradedSteps: graded, firstAnswerTags: tags, records };
}

/** A PPO rollout buffer: `transitions[slot]` in time order, and V of each slot's next state. */
export type Rollout = {
  transitions: Transition[][];
  nextValues: number[];
  /** Episodes finished during the rollout (for training curves). */
  episodes: { success: boolean; reward: number }[];
  /** Prompt and generated tokens processed by the sampler (for 2N·D). */
  inferenceTokens: number;
};

/** Persistent per-slot episode state between rollouts (RL4VLM keeps its envs running across updates). */
export type RolloutState = { slots: SlotState[]; nextEpisode: number };

export function initRolloutState(makeEnv: () => Env, nSlots: number, seedOf: (episode: number) => number): RolloutState {
  const state: RolloutState = { slots: [], nextEpisode: 0 };
  for (let i = 0; i < nSlots; i++) {
    const env = makeEnv();
    const ep = state.nextEpisode++;
    const conv: Message[] = [{ role: "user", content: env.reset(seedOf(ep)).text }];
    state.slots.push({ env, conv, convs: [conv], episode: ep, reward: 0, turns: 0, correct: 0 });
  }
  return state;
}

/**
 * Play `rounds` synchronous policy calls in every slot (PPO rollout). `value` weights come from the value head on
 * the host. Episodes continue across rounds and rollouts; a finished episode is replaced by the next seed.
 */
export async function collectRollout(opts: {
  params: LMParams;
  valueWeights: { l1: Float32Array[]; l2: Float32Array[]; l3: Float32Array[] };
  cfg: LMConfig;
  tok: PhraseTokenizer;
  state: RolloutState;
  rounds: number;
  sampling: SamplingConfig;
  rng: Rng;
  seedOf: (episode: number) => number;
  vision?: PolicyVision;
  /** Batch shaping of each round (default DEFAULT_BATCH_SHAPE; every slot is live, so only the prompt bucket matters). */
  shape?: BatchShape;
}): Promise<Rollout> {
  const { params, cfg, tok, state, sampling, rng } = opts;
  // No decode compaction in PPO rollouts: their log-probs are the learner's old log-probs, and a decode step over
  // fewer rows can round a logit differently in the last bit (4 of 256 calls of a quick rollout, log-probs within 2.5e-7).
  const shape: BatchShape = { ...(opts.shape ?? DEFAULT_BATCH_SHAPE), compactDone: 0 };
  const nSlots = state.slots.length;
  const transitions: Transition[][] = state.slots.map(() => []);
  const episodes: { success: boolean; reward: number }[] = [];
  let inferenceTokens = 0;
  for (let round = 0; round < opts.rounds; round++) {
    const r = await policyRound(params, cfg, tok, state.slots, sampling, rng, nSlots, true, sampling.maxNewTokens, opts.vision, shape);
    r.live.forEach((i, k) => {
      const st = state.slots[i];
      const response = r.out.tokens[k];
      inferenceTokens += r.prompts[k].length + response.length;
      const answer = answerText(tok, response);
      const res = st.env.step(answer);
      let reward = res.reward;
      st.reward += res.reward;
      st.turns++;
      st.conv.push({ role: "assistant", content: answer });
      let done = res.done;
      let truncated = false;
      let success = res.info.success;
      if (!done && res.info.attemptsLeft <= 0) {
        const end = st.env.step("");
        reward += end.reward;
        st.reward += end.reward;
        done = true;
        truncated = true;
        success = end.info.success;
      }
      transitions[i].push({ slot: i, prompt: r.prompts[k], response, logprobs: r.out.logprobs[k], value: valueHeadHost(opts.valueWeights, r.out.promptHidden![k]), reward, done, truncated, ...(r.images ? { image: r.images[k] } : {}) });
      if (done) {
        episodes.push({ success, reward: st.reward });
        const ep = state.nextEpisode++;
        const conv: Message[] = [{ role: "user", content: st.env.reset(opts.seedOf(ep)).text }];
        state.slots[i] = { env: st.env, conv, convs: [conv], episode: ep, reward: 0, turns: 0, correct: 0 };
      } else if (res.observation.kind === "prompt") {
        st.conv = [{ role: "user", content: res.observation.text }];
        st.convs = [st.conv];
      } else st.conv.push({ role: "user", content: res.observation.text });
    });
  }
  // V(s') of each slot's next state: one prefill over the current prompts (no tokens kept).
  const r = await policyRound(params, cfg, tok, state.slots, sampling, new Rng(0, "next-value"), nSlots, true, 1, opts.vision, shape);
  const nextValues = r.out.promptHidden!.slice(0, nSlots).map((h) => valueHeadHost(opts.valueWeights, h));
  return { transitions, nextValues, episodes, inferenceTokens };
}
