// Pilot (issue 24, the GeneralPoints arms within 25 minutes): where an evaluation's CPU time goes, and what a tighter
// prefill saves. From CKPT (an arm's directory; PPO=1 for a PPO arm's), `evaluateSplits` at the quick preset
// (verify_iter 5, batch 250, temperature 0.2) on EPISODES episodes per split. `profile`: per policy round, live rows,
// padded rows, the longest prompt, the prefill length (bucket 64), the longest and mean answer and the process CPU ms
// of the round (generation and grading); then each round's batch again with maxNewTokens 1 (prefill and one token):
// the prefill's share, and the same with the tight prefill. `ab`: the fast batch shape (the default before issue 24's tight prefill) and the tight one (rollout.ts), interleaved,
// ROUNDS times after one warm-up each (compilation); CPU ms per split, success counts, and a hash of every round's
// sampled tokens and log-probabilities (to all digits), which must agree. Run with TINYFOUNDRY_THREADS=1.
// `rollout`: one PPO rollout per shape (fast, tight prefill only, compaction only, tight), compared with the fast one.
// Usage: [PPO=1] npx tsx scripts/pilots/sft-vs-rl-eval-profile.mts CKPT profile|ab|rollout [EPISODES] [ROUNDS]
const { initEngine } = await import("../../src/engine/index.js");
const { sftVsRlPresets } = await import("../../src/papers/sft-vs-rl/config.js");
const { setup, evaluateSplits, loadArmLM } = await import("../../src/papers/sft-vs-rl/arms.js");
const { FAST_BATCH_SHAPE, TIGHT_BATCH_SHAPE, paddedRows } = await import("../../src/papers/sft-vs-rl/rollout.js");
const { gpEvalRow, gpSpec } = await import("../../src/papers/sft-vs-rl/tasks.js");
const { generate } = await import("../../src/nn/generate.js");
const { Rng } = await import("../../src/util/rng.js");
const { END } = await import("../../src/papers/sft-vs-rl/tokenizer.js");

await initEngine();
const cfg = sftVsRlPresets.quick;
const { tok, model } = setup(cfg);
const spec = gpSpec(cfg);
const [ck, mode, epsArg, roundsArg] = process.argv.slice(2);
const lm = loadArmLM(ck, model, 0, !!process.env.PPO);
const episodes = Number(epsArg ?? 200);
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
// `profile` runs the shape before the tight prefill (FAST_BATCH_SHAPE), so its rounds show what the tight one saves.
const bucket = FAST_BATCH_SHAPE.prefillBucket;
const nSlots = Math.min(cfg.eval.batch, episodes);
type RoundLog = { split: string; live: number; rows: number; maxPrompt: number; L: number; maxNew: number; meanNew: number; cpuMs: number; batch: number[][] };
const log: RoundLog[] = [];
if (mode === "ab") await ab();
if (mode === "rollout") await rolloutCheck();
for (const split of ["id", "ood"] as const) {
  let mark = cpuMs();
  const t0 = mark;
  const ev = await evaluateSplits(lm, model, tok, cfg, {
    episodes,
    splits: [split],
    shape: FAST_BATCH_SHAPE,
    onRound: (r) => {
      const now = cpuMs();
      const rows = paddedRows(r.live, nSlots, FAST_BATCH_SHAPE.tailPad);
      const maxPrompt = Math.max(...r.prompts.map((p) => p.length));
      const batch = [...r.prompts];
      while (batch.length < rows) batch.push(r.prompts[0]);
      log.push({ split, live: r.live, rows, maxPrompt, L: Math.min(Math.ceil(maxPrompt / bucket) * bucket, model.contextLength - spec.sampling.maxNewTokens), maxNew: Math.max(...r.tokens.map((t) => t.length)), meanNew: r.tokens.slice(0, r.live).reduce((s, t) => s + t.length, 0) / r.live, cpuMs: Math.round(now - mark), batch });
      mark = now;
    },
  });
  const row = gpEvalRow({ id: ev[split]!, ood: ev[split]! } as never);
  console.log(JSON.stringify({ split, cpuMs: Math.round(cpuMs() - t0), success: row.idSuccess, rounds: log.filter((l) => l.split === split).length }));
}
for (const l of log) {
  const t = cpuMs();
  const o = { maxNewTokens: 1, temperature: cfg.eval.temperature, rng: new Rng(0, "prefill"), stopIds: [tok.id(END)], batchedPrefill: true, prefillBucket: bucket, prefillChunk: 16 };
  await generate(lm, model, l.batch, o);
  const prefillMs = Math.round(cpuMs() - t);
  const t2 = cpuMs();
  await generate(lm, model, l.batch, { ...o, prefillTight: 16 });
  console.log(JSON.stringify({ ...l, batch: undefined, prefillMs, tightPrefillMs: Math.round(cpuMs() - t2) }));
}
process.exit(0);

// `rollout`: one PPO rollout (the PPO arm's first: 64 slots x 4 rounds at the rollout temperature) per shape, and the
// first transition (slot, round) whose tokens, log-probabilities or value differ from the fast shape's.
async function rolloutCheck(): Promise<never> {
  const { collectRollout, initRolloutState } = await import("../../src/papers/sft-vs-rl/rollout.js");
  const { initValueHead, valueHeadToHost } = await import("../../src/papers/sft-vs-rl/model.js");
  const vw = await valueHeadToHost(initValueHead(model.dModel, 0));
  const seedOf = (ep: number) => new Rng(0, `ppo-episode-${ep}`).nextU32();
  const shapes = { fast: FAST_BATCH_SHAPE, tightPrefill: { ...FAST_BATCH_SHAPE, prefillTight: 16 }, compact: { ...FAST_BATCH_SHAPE, compactDone: 4 }, tight: TIGHT_BATCH_SHAPE };
  const roll = async (shape: typeof FAST_BATCH_SHAPE) => {
    const state = initRolloutState(() => spec.makeEnv("id", spec.ppo.verifyIter), spec.ppo.slots, seedOf);
    const r = await collectRollout({ params: lm, valueWeights: vw, cfg: model, tok, state, rounds: spec.ppo.rounds, sampling: spec.sampling, rng: Rng.stream(0, "ppo-sample"), seedOf, shape });
    return r.transitions.flat();
  };
  const ref = await roll(shapes.fast);
  for (const [name, shape] of Object.entries(shapes)) {
    const got = await roll(shape);
    const at = got.findIndex((t, i) => JSON.stringify([t.response, t.logprobs, t.value]) !== JSON.stringify([ref[i].response, ref[i].logprobs, ref[i].value]));
    const d = at < 0 ? null : { slot: got[at].slot, promptLen: got[at].prompt.length, tokens: JSON.stringify(got[at].response) === JSON.stringify(ref[at].response), value: got[at].value - ref[at].value, maxLogpDiff: Math.max(...got[at].logprobs.map((x, j) => Math.abs(x - ref[at].logprobs[j]))) };
    console.log(JSON.stringify({ shape: name, calls: got.length, differing: got.filter((t, i) => JSON.stringify(t.logprobs) !== JSON.stringify(ref[i].logprobs)).length, first: d }));
  }
  process.exit(0);
}

async function ab(): Promise<never> {
  const { createHash } = await import("node:crypto");
  const shapes = { fast: FAST_BATCH_SHAPE, tight: TIGHT_BATCH_SHAPE };
  const once = async (name: keyof typeof shapes) => {
    const out: Record<string, unknown> = { shape: name };
    for (const split of ["id", "ood"] as const) {
      const h = createHash("sha256");
      const t0 = cpuMs();
      const ev = await evaluateSplits(lm, model, tok, cfg, { episodes, splits: [split], shape: shapes[name], onRound: (r) => h.update(JSON.stringify([r.tokens.slice(0, r.live), r.logprobs.slice(0, r.live)])) });
      out[split] = { cpuMs: Math.round(cpuMs() - t0), successes: ev[split]!.successes, graded: ev[split]!.gradedSteps, hash: h.digest("hex").slice(0, 16) };
    }
    return out;
  };
  for (const nm of Object.keys(shapes) as (keyof typeof shapes)[]) console.log(JSON.stringify({ warmup: true, ...(await once(nm)) }));
  for (let k = 0; k < Number(roundsArg ?? 2); k++) for (const nm of Object.keys(shapes) as (keyof typeof shapes)[]) console.log(JSON.stringify({ round: k, ...(await once(nm)) }));
  process.exit(0);
}
