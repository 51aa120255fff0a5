// Navigation within its 15 minutes (issue 24): process CPU seconds (run with TINYFOUNDRY_THREADS=1) of the pieces of
// the `sft-vs-rl-nav` quick entry that are not training steps, from a finished run's checkpoints (RUN_DIR: its
// config.json, arms/stage0 and arms/nav-sft-init): the stage-0 corpus (generation and tokenization), the stage-0
// probes, the expert dataset, an evaluation of both splits at the preset's routes per split and the ID evaluation at
// the rollout temperature. PIECES: comma-separated subset of corpus,probes,data,eval,rounds,mid,hot (default all but rounds and mid; MID=100 routes for mid).
// Usage: TINYFOUNDRY_THREADS=1 npx tsx scripts/pilots/sft-vs-rl-nav-profile.mts RUN_DIR [PIECES]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initEngine } from "../../src/engine/index.js";
import { Rng } from "../../src/util/rng.js";
import { sftVsRlSchema } from "../../src/papers/sft-vs-rl/config.js";
import { setup, evaluateSplits, loadArmLM, rollTempRow } from "../../src/papers/sft-vs-rl/arms.js";
import { mixFor, stage0Corpus } from "../../src/papers/sft-vs-rl/corpus.js";
import { stage0Probes } from "../../src/papers/sft-vs-rl/stage0.js";
import { expertDataset } from "../../src/papers/sft-vs-rl/sft.js";
import { navSpec } from "../../src/papers/sft-vs-rl/tasks.js";

const [runDir, piecesArg] = process.argv.slice(2);
if (!runDir) throw new Error("usage: sft-vs-rl-nav-profile.mts RUN_DIR [PIECES]");
const pieces = new Set((piecesArg ?? "corpus,probes,data,eval,hot").split(","));
await initEngine();
const cfg = sftVsRlSchema.parse(JSON.parse(readFileSync(join(runDir, "config.json"), "utf8")));
const { tok, model } = setup(cfg);
const spec = navSpec(cfg, tok, model.contextLength);
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const time = async <T,>(label: string, fn: () => T | Promise<T>): Promise<T> => {
  const c0 = cpu();
  const w0 = Date.now();
  const r = await fn();
  console.log(`${label}: CPU ${(cpu() - c0).toFixed(1)} s, wall ${((Date.now() - w0) / 1000).toFixed(1)} s`);
  return r;
};
if (pieces.has("corpus")) {
  const text = await time(`stage-0 corpus, ${cfg.stage0.corpusChars} chars`, () => stage0Corpus(Rng.stream(cfg.seed, "stage0-corpus"), cfg.stage0.corpusChars, mixFor(cfg.envs, cfg.navigation.corpusShare), cfg.cards));
  const ids = await time("  its tokenization", () => tok.encode(text));
  console.log(`  ${ids.length} tokens; stage 0 trains on ${cfg.stage0.steps * cfg.stage0.batchSize * cfg.stage0.seqLen} token positions`);
}
if (pieces.has("probes")) {
  const s0 = loadArmLM(join(runDir, "arms", "stage0"), model, cfg.seed, false);
  // The run's probes (navigation only) against the same with the GeneralPoints probes (what a navigation-only run
  // computed before they were skipped), interleaved, twice; the navigation values must agree.
  for (let r = 0; r < 2; r++) {
    for (const envs of [cfg.envs, ["general-points", ...cfg.envs] as typeof cfg.envs]) {
      const p = await time(`round ${r}: stage-0 probes (${cfg.stage0.probes} each), envs ${envs.join("+")}`, () => stage0Probes(s0, model, tok, { ...cfg, envs }));
      console.log(`  ${JSON.stringify({ ...p, examples: p.examples.length })}`);
    }
  }
}
if (pieces.has("data")) await time("expert dataset", () => expertDataset(cfg, tok, model.contextLength - spec.sampling.maxNewTokens, spec));
const init = loadArmLM(join(runDir, "arms", "nav-sft-init"), model, cfg.seed, false);
if (pieces.has("eval")) {
  const ev = await time(`evaluation, ${spec.episodes} routes per split`, () => evaluateSplits(init, model, tok, cfg, { env: spec }));
  const row = spec.evalRow(ev);
  console.log(`  ID per-step ${row.idPerStep}, OOD per-step ${row.oodPerStep}`);
}
if (pieces.has("rounds")) {
  // Per policy round of one evaluation: live rows, longest and mean prompt, longest answer, CPU ms.
  for (const split of ["id", "ood"] as const) {
    let mark = cpu();
    let i = 0;
    await evaluateSplits(init, model, tok, cfg, {
      env: spec,
      splits: [split],
      onRound: (r) => {
        const c = cpu();
        const lens = r.prompts.map((p) => p.length);
        console.log(`${split} round ${i++}: live ${r.live}, prompt max ${Math.max(...lens)} mean ${(lens.reduce((a, b) => a + b, 0) / lens.length).toFixed(0)}, answer max ${Math.max(...r.tokens.map((t) => t.length))}, CPU ${(1000 * (c - mark)).toFixed(0)} ms`);
        mark = c;
      },
    });
  }
}
if (pieces.has("mid")) {
  // An evaluation at MID routes per split against one at the preset's, interleaved (after a warm-up of each): what
  // `eval.midEpisodes` would save at the intermediate checkpoints.
  const mid = Number(process.env.MID ?? 100);
  for (const eps of [mid, spec.episodes]) await evaluateSplits(init, model, tok, cfg, { env: spec, episodes: eps });
  for (let r = 0; r < 2; r++) for (const eps of [mid, spec.episodes]) await time(`round ${r}: evaluation, ${eps} routes per split`, () => evaluateSplits(init, model, tok, cfg, { env: spec, episodes: eps }));
}
if (pieces.has("hot")) {
  const r = await time(`ID at the rollout temperature ${spec.sampling.temperature}`, () => rollTempRow(init, model, tok, cfg, spec, null));
  console.log(`  ${JSON.stringify(r)}`);
}
process.exit(0);
