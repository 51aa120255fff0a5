/**
 * What every arm of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161) shares: the
 * tokenizer and model config of a config, loading an arm's policy (through `loadRunParams`, the one checkpoint
 * loader), evaluating a policy on a task's splits, sample transcripts and the evaluation points an arm logged.
 */
import { writeFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { disposeTree, jnn, np, refTree, type Array } from "../../engine/index.js";
import { episodeSeed, type Message } from "../../envs/index.js";
import { generate } from "../../nn/generate.js";
import { initLM, lmForward, type LMConfig, type LMParams } from "../../nn/transformer.js";
import { loadRunParams } from "../../train/checkpoint.js";
import type { RunDir } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { vlSettings, type SftVsRlConfig } from "./config.js";
import { initValueHead, sftExample, type VLParams } from "./model.js";
import { DEFAULT_BATCH_SHAPE, evaluateLM, type BatchShape, type LMEvalResult } from "./rollout.js";
import type { EvalPoint, EvalRow } from "./summary.js";
import { gpSpec, SPLITS, type EnvSpec, type EvalSplit, type GPSplit } from "./tasks.js";
import { END, PhraseTokenizer, phrasesFor, renderChat } from "./tokenizer.js";
import { IMAGE_TOKEN, initVision, type VisionParams } from "./vision.js";

/** Tokenizer (GeneralPoints phrases, plus navigation's when it is trained) and the model config with its vocabulary size. */
export function setup(cfg: SftVsRlConfig): { tok: PhraseTokenizer; model: LMConfig } {
  const tok = new PhraseTokenizer(phrasesFor(cfg.envs ?? ["general-points"]));
  return { tok, model: { ...cfg.model, vocabSize: tok.vocabSize } };
}

/** The run directory of an arm of `root`. */
export const armDir = (root: RunDir, arm: string): string => root.path("arms", arm);

/** An arm directory, or (older callers) the path of its `checkpoints/latest.safetensors`. */
function armDirOf(dirOrCheckpoint: string): string {
  if (!dirOrCheckpoint.endsWith(".safetensors")) return dirOrCheckpoint;
  if (basename(dirOrCheckpoint) !== "latest.safetensors" || basename(dirname(dirOrCheckpoint)) !== "checkpoints") {
    throw new Error(`sft-vs-rl: ${dirOrCheckpoint} is not an arm's checkpoints/latest.safetensors`);
  }
  return dirname(dirname(dirOrCheckpoint));
}

/** Load the LM saved by an arm (trainLoop `{params}` or PPO `{params: {lm, value}}`); `arm` is its directory. */
export function loadArmLM(arm: string, model: LMConfig, seed: number, ppo: boolean): LMParams {
  const dir = armDirOf(arm);
  if (!ppo) return loadRunParams(dir, initLM(model, seed));
  const p = loadRunParams(dir, { lm: initLM(model, seed), value: initValueHead(model.dModel, seed) });
  disposeTree(p.value);
  return p.lm;
}

/** Load the LM and image encoder saved by a GP-VL arm (trainLoop `{params: {lm, vis}}` or PPO `{params: {lm, value, vis}}`). */
export function loadArmVL(arm: string, model: LMConfig, cfg: SftVsRlConfig, ppo: boolean): VLParams {
  const dir = armDirOf(arm);
  const vis = initVision(model.dModel, cfg.seed, vlSettings(cfg).encoderWidth);
  if (!ppo) return loadRunParams(dir, { lm: initLM(model, cfg.seed), vis });
  const p = loadRunParams(dir, { lm: initLM(model, cfg.seed), value: initValueHead(model.dModel, cfg.seed), vis });
  disposeTree(p.value);
  return { lm: p.lm, vis: p.vis };
}

export type SplitResults = Record<GPSplit, LMEvalResult> & Partial<Record<EvalSplit, LMEvalResult>>;

/**
 * Evaluate an LM on a task's splits (GeneralPoints by default: both rule splits; GP-VL adds visual OOD; the same
 * episode seeds at every checkpoint). `vis`: the image encoder of a vision-language task.
 */
export async function evaluateSplits(
  lm: LMParams,
  model: LMConfig,
  tok: PhraseTokenizer,
  cfg: SftVsRlConfig,
  opts: { episodes?: number; splits?: readonly EvalSplit[]; keepRecords?: number; verifyIter?: number; env?: EnvSpec; vis?: VisionParams; temperature?: number; shape?: BatchShape; onRound?: Parameters<typeof evaluateLM>[0]["onRound"] } = {},
): Promise<SplitResults> {
  const spec = opts.env ?? gpSpec(cfg);
  if (spec.image && !opts.vis) throw new Error(`evaluateSplits: ${spec.label} needs the image encoder (opts.vis)`);
  const vision = spec.image && opts.vis ? { vision: { params: opts.vis, imageId: tok.id(IMAGE_TOKEN), image: spec.image } } : {};
  // GP-VL plays the GeneralPoints seeds (the same hands as GP-L per rule split; the deck's suits differ).
  const seedEnv = spec.name === "navigation" ? "navigation" : "general-points";
  const out = {} as SplitResults;
  const n = opts.episodes ?? spec.episodes;
  for (const split of opts.splits ?? spec.splits ?? SPLITS) {
    out[split] = await evaluateLM({
      params: lm,
      cfg: model,
      tok,
      makeEnv: () => spec.makeEnv(split, opts.verifyIter ?? spec.ppo.verifyIter),
      seeds: Array.from({ length: n }, (_, i) => episodeSeed(cfg.eval.seed, seedEnv, split, i)),
      batch: cfg.eval.batch,
      sampling: { ...spec.sampling, temperature: opts.temperature ?? cfg.eval.temperature },
      rng: Rng.stream(cfg.eval.seed, spec.evalStream(split)),
      keepRecords: opts.keepRecords ?? 0,
      firstAnswerTags: spec.answerTags,
      ...(opts.shape ? { shape: opts.shape } : {}),
      ...(opts.onRound ? { onRound: opts.onRound } : {}),
      ...vision,
    });
  }
  return out;
}

/**
 * ID rate sampled at the PPO rollout temperature (issue 24: what PPO optimises; at 3 cards the SFT init solves about
 * 100 % of ID hands at the evaluation temperature), as `idRollTemp<key>` / `idRollTemp<seKey>` of the task's headline
 * metric, on the same ID episodes as the evaluation. Equal temperatures: copied from `row` (the same evaluation).
 */
export async function rollTempRow(
  lm: LMParams,
  model: LMConfig,
  tok: PhraseTokenizer,
  cfg: SftVsRlConfig,
  spec: EnvSpec,
  row: EvalRow | null,
  opts: { episodes?: number; vis?: VisionParams; shape?: BatchShape } = {},
): Promise<EvalRow> {
  const { key, seKey } = spec.metric;
  const T = spec.sampling.temperature;
  const r = row && T === cfg.eval.temperature ? row : spec.evalRow(await evaluateSplits(lm, model, tok, cfg, { ...opts, env: spec, splits: ["id"], temperature: T }));
  return { [`idRollTemp${key}`]: r[`id${key}`], [`idRollTemp${seKey}`]: r[`id${seKey}`] };
}

function transcript(convs: Message[][]): string {
  return convs.map((c) => c.map((m) => `[${m.role}]\n${m.content}`).join("\n")).join("\n---\n");
}

/** Write the kept episode records of an evaluation as `<prefix>-<split>-<i>.txt` in the arm's samples folder. */
export function writeTranscripts(run: RunDir, prefix: string, ev: SplitResults, splits: readonly EvalSplit[]): void {
  for (const s of splits) for (const [i, rec] of ev[s]!.records.entries()) writeFileSync(`${run.samplesDir}/${prefix}-${s}-${i}.txt`, transcript(rec.conversations) + "\n");
}

/** The evaluation points an arm logged (rows with `idSuccess`), with the branch's FLOPs and its step or update. */
export function evalPoints(run: RunDir, stepKey: "update" | "step"): EvalPoint[] {
  return run
    .metrics<Record<string, number>>()
    .filter((r) => typeof r.idSuccess === "number")
    .map((r) => ({ flops: r.flops ?? 0, step: r[stepKey] ?? r.step, row: r }));
}

/** Per-answer terms of a KL-to-init estimate (`klToInitDetail`), over the answers sampled from the policy. */
export type KLDetail = {
  /** Temperature of both sampling distributions. */
  temperature: number;
  /** Sampled answers (token ids, the stop token included when emitted). */
  answers: number[][];
  /** Per answer: Σ_t log π(a_t) − log π_init(a_t) (the single-sample Monte Carlo term). */
  mc: Float64Array;
  /** Per answer: Σ_t KL(π(·|a_<t) ‖ π_init(·|a_<t)) over the whole vocabulary along the sampled prefix (>= 0). */
  exact: Float64Array;
  /** Per answer: Σ_t log π(a_t) (how sure the policy is of its own answer; 0 in float32 at saturation). */
  logp: Float64Array;
};

/**
 * KL(π ‖ π_init) of the answer distributions on ID prompts (issue 24: the distance a branch moved, beside its OOD
 * change), in nats, at temperature `T` (callers pass the PPO rollout temperature: the distribution PPO samples
 * from). One answer per prompt of the first `n` ID episodes is sampled from π at `T`; along each answer the
 * per-token KL of the next-token distributions (temperature-scaled, full vocabulary) is summed over the answer's
 * tokens. By the chain rule its expectation over π's answers is the KL of the answer distributions (answers end at
 * the stop token or at `maxNewTokens`), like the Monte Carlo term Σ_t log π(a_t) − log π_init(a_t), but it is never
 * negative and it does not vanish when π puts all its mass on one answer: at the evaluation temperature 0.2 the
 * branches' answers saturate (log π(a) = 0 in float32), and the Monte Carlo term then reads −log π_init of the
 * answers π_init also gives, the same to the last digit at every checkpoint (the bug this replaced).
 */
export async function klToInit(lm: LMParams, initLm: LMParams, model: LMConfig, tok: PhraseTokenizer, cfg: SftVsRlConfig, spec: EnvSpec, n: number, opts: { temperature: number; shape?: BatchShape }): Promise<number> {
  const d = await klToInitDetail(lm, initLm, model, tok, cfg, spec, n, opts);
  return d.exact.reduce((a, b) => a + b, 0) / n;
}

/** `klToInit` with its per-answer terms (pilots and tests). */
export async function klToInitDetail(lm: LMParams, initLm: LMParams, model: LMConfig, tok: PhraseTokenizer, cfg: SftVsRlConfig, spec: EnvSpec, n: number, opts: { temperature: number; shape?: BatchShape }): Promise<KLDetail> {
  if (!(opts.temperature > 0)) throw new Error(`klToInit: temperature must be > 0 (got ${opts.temperature}); the KL of greedy answers is not defined`);
  const shape = opts.shape ?? DEFAULT_BATCH_SHAPE;
  const env = spec.makeEnv("id", spec.ppo.verifyIter);
  const seedEnv = spec.name === "navigation" ? "navigation" : "general-points";
  const prompts = Array.from({ length: n }, (_, i) => renderChat(tok, [{ role: "user", content: env.reset(episodeSeed(cfg.eval.seed, seedEnv, "id", i)).text }], model.contextLength - spec.sampling.maxNewTokens));
  const T = opts.temperature;
  const out = await generate(lm, model, prompts, { maxNewTokens: spec.sampling.maxNewTokens, temperature: T, rng: Rng.stream(cfg.eval.seed, "kl-to-init"), stopIds: [tok.id(END)], batchedPrefill: true, prefillBucket: shape.prefillBucket, prefillChunk: shape.prefillChunk ?? 16, ...(shape.prefillTight ? { prefillTight: shape.prefillTight } : {}), ...(shape.compactDone ? { compactDone: shape.compactDone } : {}) });
  return answerKL(lm, initLm, model, prompts, out.tokens, T);
}

/**
 * The per-answer terms of `KLDetail` for given prompts and answers (one forward pass of each model over the padded
 * rows, the answer tokens' positions masked in). Exported for the tests (exact KL by enumeration on a tiny model).
 */
export async function answerKL(lm: LMParams, initLm: LMParams, model: LMConfig, prompts: number[][], answers: number[][], T: number): Promise<KLDetail> {
  const n = prompts.length;
  const L = Math.max(...prompts.map((p, i) => p.length + answers[i].length)) - 1;
  const rows = prompts.map((p, i) => sftExample(p, answers[i], L));
  const x = () => np.array(Int32Array.from(rows.flatMap((r) => r.x)), { dtype: np.int32 }).reshape([n, L]);
  const lpOf = (params: LMParams): Array => jnn.logSoftmax(lmForward(refTree(params), model, x()).logits.mul(1 / T), -1); // [n, L, V]
  const a = lpOf(lm);
  const b = lpOf(initLm);
  const y = np.array(Int32Array.from(rows.flatMap((r) => r.y)), { dtype: np.int32 }).reshape([n, L]);
  const m = np.array(Float32Array.from(rows.flatMap((r) => r.mask))).reshape([n, L]);
  const oh = jnn.oneHot(y, model.vocabSize);
  const tokA = a.ref.mul(oh.ref).sum(-1).mul(m.ref); // [n, L]
  const tokB = b.ref.mul(oh).sum(-1).mul(m.ref);
  const exact = np.exp(a.ref).mul(a.sub(b)).sum(-1).mul(m).sum(-1); // [n]
  const logp = tokA.ref.sum(-1);
  const mc = tokA.sub(tokB).sum(-1);
  const host = async (v: Array) => Float64Array.from((await v.data()) as Float32Array);
  return { temperature: T, answers: answers.map((r) => [...r]), mc: await host(mc), exact: await host(exact), logp: await host(logp) };
}
