/**
 * One task seed of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161) in a process of its
 * own, started by `seed-jobs.ts` with a JSON `SeedRequest` as its argument and an IPC channel: it trains the seed's
 * arms (`runSeed`) into the parent's run directory and reports log lines, progress and the outcome, as the suite's
 * `child.ts` does. SIGTERM, SIGINT or a lost parent make it checkpoint the current arm and stop.
 */
import { initEngine, type Device } from "../../engine/index.js";
import { CheckpointError } from "../../train/checkpoint.js";
import { validateConfig } from "../../train/config.js";
import { Interrupted, quietContext, type ExperimentContext } from "../../train/experiment.js";
import { openRun } from "../../train/run-dir.js";
import type { ChildMessage } from "../../train/spawn.js";
import { sftVsRlSchema } from "./config.js";
import { runSeed, sharedOf } from "./experiment.js";
import type { SeedRequest } from "./seed-jobs.js";

const send = (m: ChildMessage) => new Promise<void>((res) => (process.send ? process.send(m, () => res()) : res()));

async function main(): Promise<void> {
  for (const s of [process.stdout, process.stderr]) s.on("error", () => {});
  const req = JSON.parse(process.argv[2] ?? "{}") as SeedRequest;
  const ac = new AbortController();
  process.on("SIGTERM", () => ac.abort());
  process.on("SIGINT", () => ac.abort());
  process.on("disconnect", () => ac.abort());
  const t0 = Date.now();
  const wall = () => (Date.now() - t0) / 1000;
  const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);
  try {
    const cfg = validateConfig(sftVsRlSchema, req.config);
    await initEngine({ device: req.device as Device });
    const ctx: ExperimentContext = {
      ...quietContext(openRun(req.runDir), { resume: req.resume, signal: ac.signal }),
      log: (msg) => void send({ kind: "log", msg }),
      onProgress: (event, arm) => void send({ kind: "progress", arm, event }),
    };
    await runSeed(sharedOf(cfg, ctx), req.index);
    await send(ac.signal.aborted ? { kind: "interrupted", wallSeconds: wall(), maxRssMB: rss() } : { kind: "done", summary: {}, wallSeconds: wall(), maxRssMB: rss() });
  } catch (e) {
    if (e instanceof Interrupted || ac.signal.aborted) await send({ kind: "interrupted", wallSeconds: wall(), maxRssMB: rss() });
    else await send({ kind: "failed", message: e instanceof Error ? e.message.split("\n")[0] : String(e), refused: e instanceof CheckpointError });
  }
}

await main();
// jax-js worker threads must not keep a finished child alive.
process.exit(0);
