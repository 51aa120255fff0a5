/**
 * The batch shaping of policy rounds (issue 25): the tail's padded row counts, and the evaluation harness giving the
 * same episodes whatever the prompt padding bucket and the tail's padding (greedy), and sampled where the tail keeps
 * its padding rows (fewer padding rows draw fewer numbers from the sampler's stream, so later sampled answers differ).
 * The tight shape (issue 24: prompts grouped by length, each chunk prefilled over its own length; in evaluations the
 * decode goes on with fewer rows as rows finish) samples the same episodes here, and PPO rollouts (no compaction) the
 * same calls, log-probs and values bit for bit.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initEngine, tree } from "../../engine/index.js";
import { episodeSeed } from "../../envs/index.js";
import { initLM } from "../../nn/transformer.js";
import { Rng } from "../../util/rng.js";
import { setup } from "./arms.js";
import { sftVsRlPresets } from "./config.js";
import { initValueHead, valueHeadToHost } from "./model.js";
import { collectRollout, DEFAULT_BATCH_SHAPE, evaluateLM, FAST_BATCH_SHAPE, initRolloutState, LEGACY_BATCH_SHAPE, paddedRows, TIGHT_BATCH_SHAPE, type BatchShape } from "./rollout.js";
import { gpEnv } from "./tasks.js";

beforeAll(async () => {
  await initEngine();
});

describe("paddedRows", () => {
  it("keeps the full batch while every slot is live, and without tail padding", () => {
    expect(paddedRows(250, 250, 8)).toBe(250);
    expect(paddedRows(3, 250, 0)).toBe(250);
    expect(paddedRows(3, 250, 1)).toBe(250);
  });
  it("pads a thinning tail to the smallest of nSlots/8, /4, /2, /1 that holds the live slots", () => {
    expect(paddedRows(1, 250, 8)).toBe(32);
    expect(paddedRows(32, 250, 8)).toBe(32);
    expect(paddedRows(33, 250, 8)).toBe(63);
    expect(paddedRows(100, 250, 8)).toBe(125);
    expect(paddedRows(126, 250, 8)).toBe(250);
    expect(paddedRows(5, 64, 4)).toBe(16);
  });
});

describe("evaluateLM batch shapes", () => {
  const cfg = sftVsRlPresets.tiny;
  const { tok, model } = setup(cfg);
  const seeds = Array.from({ length: 6 }, (_, i) => episodeSeed(42, "general-points", "ood", i));
  const play = async (shape: BatchShape, temperature: number) => {
    const params = initLM(model, 3);
    const r = await evaluateLM({ params, cfg: model, tok, makeEnv: () => gpEnv("ood", 2, 3, "uniform"), seeds, batch: 4, sampling: { ...cfg.sampling, maxNewTokens: 12, temperature }, rng: new Rng(5, "eval"), keepRecords: seeds.length, shape });
    tree.dispose(params);
    return r.records.map((e) => e.conversations.map((c) => c.map((m) => m.content)));
  };
  it("plays the same episodes greedily with the legacy and the fast shape", async () => {
    expect(await play(FAST_BATCH_SHAPE, 0)).toEqual(await play(LEGACY_BATCH_SHAPE, 0));
  }, 60_000);
  it("samples the same episodes with the tight shape as with the fast shape", async () => {
    expect(await play(TIGHT_BATCH_SHAPE, 1)).toEqual(await play(FAST_BATCH_SHAPE, 1));
  }, 60_000);
  it("samples the same episodes at one seed when only the prompt bucket differs", async () => {
    expect(await play({ ...FAST_BATCH_SHAPE, tailPad: 0 }, 1)).toEqual(await play(LEGACY_BATCH_SHAPE, 1));
  }, 60_000);
});

describe("collectRollout batch shapes", () => {
  const cfg = sftVsRlPresets.tiny;
  const { tok, model } = setup(cfg);
  const seedOf = (ep: number) => episodeSeed(7, "general-points", "id", ep);
  // Every slot of a PPO rollout is live in every round, so the tail padding never applies: only the prompt bucket differs.
  const roll = async (shape: BatchShape) => {
    const params = initLM(model, 3);
    const value = initValueHead(model.dModel, 3);
    const valueWeights = await valueHeadToHost(value);
    const state = initRolloutState(() => gpEnv("id", 2, 3, "uniform"), 3, seedOf);
    const r = await collectRollout({ params, valueWeights, cfg: model, tok, state, rounds: 3, sampling: { ...cfg.sampling, maxNewTokens: 12, temperature: 1 }, rng: new Rng(5, "ppo"), seedOf, shape });
    tree.dispose(params);
    tree.dispose(value);
    return { tokens: r.transitions.map((tr) => tr.map((t) => [t.prompt, t.response, t.reward])), logprobs: r.transitions.flat().flatMap((t) => t.logprobs), values: r.transitions.flat().map((t) => t.value), next: r.nextValues };
  };
  it("samples the same calls with the legacy and the fast shape (log-probs and values to float tolerance)", async () => {
    const a = await roll(LEGACY_BATCH_SHAPE);
    const b = await roll(FAST_BATCH_SHAPE);
    expect(b.tokens).toEqual(a.tokens);
    b.logprobs.forEach((x, i) => expect(x).toBeCloseTo(a.logprobs[i], 4));
    [...b.values, ...b.next].forEach((x, i) => expect(x).toBeCloseTo([...a.values, ...a.next][i], 4));
  }, 60_000);
  it("samples the same calls with the tight shape as with the fast shape, log-probs and values bit for bit", async () => {
    expect(await roll(TIGHT_BATCH_SHAPE)).toEqual(await roll(FAST_BATCH_SHAPE));
  }, 60_000);
  it("uses the tight shape by default", () => {
    expect(DEFAULT_BATCH_SHAPE).toEqual({ ...FAST_BATCH_SHAPE, prefillTight: 16, compactDone: 4 });
  });
});
