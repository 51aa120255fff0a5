/**
 * Task seeds of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161; issue 24's seed floor)
 * in child processes, at most `seedJobs` at a time, each with one wasm thread. On two cores one process with two wasm
 * threads does about 1.3x the work of one thread (the README's pilot table), two one-thread processes side by side
 * close to 2x. Each child (`seed-child.ts`) trains the arms of one seed into this run's `arms/` folder with the same
 * names as the in-process path (`runSeed`); the parent then reads them back as finished arms. A Ctrl-C or SIGTERM of
 * the parent reaches every child as one SIGTERM (they checkpoint their arm and stop); `--resume` starts them again
 * and they resume their arms. A child that fails stops the others the same way.
 */
import { defaultDevice } from "../../engine/index.js";
import { childCommand, runChild } from "../../train/spawn.js";
import { Interrupted, type ExperimentContext } from "../../train/experiment.js";
import type { SftVsRlConfig } from "./config.js";

/** What the parent sends a seed child (its one argument, JSON). */
export type SeedRequest = { runDir: string; config: SftVsRlConfig; index: number; resume: boolean; device: string };

/** Train task seeds 0 .. seeds-1 (seed `cfg.seed + index`) in child processes, `jobs` at a time; resolves when all finished. */
export async function runSeedsInChildren(cfg: SftVsRlConfig, ctx: ExperimentContext, seeds: number, jobs: number): Promise<void> {
  const device = String(defaultDevice());
  const env = { ...process.env, TINYFOUNDRY_THREADS: "1" };
  const queue = Array.from({ length: seeds }, (_, i) => i);
  const stopOthers = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stopOthers.signal]);
  const errors: unknown[] = [];
  ctx.log(`task seeds ${cfg.seed}..${cfg.seed + seeds - 1}: ${Math.min(jobs, seeds)} child process${Math.min(jobs, seeds) > 1 ? "es" : ""} at a time, one wasm thread each`);
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined && !signal.aborted; i = queue.shift()) {
      const seed = cfg.seed + i;
      const req: SeedRequest = { runDir: ctx.run.dir, config: cfg, index: i, resume: ctx.resume, device };
      try {
        const out = await runChild([...childCommand(import.meta.url, "seed-child"), JSON.stringify(req)], { ...ctx, signal }, `task seed ${seed}`, { env, prefix: `[seed ${seed}] ` });
        ctx.log(`[seed ${seed}] arms finished (${out.wallSeconds.toFixed(0)} s in this child, peak RSS ${out.maxRssMB} MB)`);
      } catch (e) {
        errors.push(e);
        stopOthers.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, seeds) }, worker));
  if (errors.length > 0) throw errors.find((e) => !(e instanceof Interrupted)) ?? errors[0];
  if (ctx.signal.aborted) throw new Interrupted("task seeds");
}
