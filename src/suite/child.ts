/**
 * One experiment of the reproduction suite, in a process of its own (jax-js's wasm memory only
 * grows and its free lists never merge, so seven experiments in one process can reach the 4 GiB
 * wasm limit that each alone stays far below). The parent (`reproduce.ts`) starts this file with
 * a JSON `ChildRequest` as its argument and an IPC channel; the child runs the experiment through
 * the runner and reports log lines, progress and the outcome. SIGTERM or a lost parent makes it
 * checkpoint and stop like any run.
 */
import { initEngine, type Device } from "../engine/index.js";
import { experiments } from "../registry.js";
import { openRun } from "../train/run-dir.js";
import { validateConfig } from "../train/config.js";
import { CheckpointError } from "../train/checkpoint.js";
import { quietContext, runExperiment, type ExperimentContext } from "../train/experiment.js";
import type { ChildMessage, ChildRequest } from "./state.js";

const send = (m: ChildMessage) => new Promise<void>((res) => (process.send ? process.send(m, () => res()) : res()));

async function main(): Promise<void> {
  // Output is inherited from the suite parent; when its reader is gone (a closed pipe), drop the
  // writes rather than die before the checkpoint is saved.
  for (const s of [process.stdout, process.stderr]) s.on("error", () => {});
  const req = JSON.parse(process.argv[2] ?? "{}") as ChildRequest;
  const exp = experiments[req.name];
  if (!exp) {
    await send({ kind: "failed", message: `experiment "${req.name}" is not in this checkout` });
    return;
  }
  const ac = new AbortController();
  // The parent forwards one SIGTERM for a Ctrl-C; a second one (or SIGINT) also only asks to stop.
  process.on("SIGTERM", () => ac.abort());
  process.on("SIGINT", () => ac.abort());
  process.on("disconnect", () => ac.abort()); // the parent is gone: checkpoint and stop
  try {
    const run = openRun(req.runDir);
    const config = validateConfig(exp.schema, run.config());
    await initEngine({ device: req.device as Device });
    const ctx: ExperimentContext = {
      ...quietContext(run, { resume: req.resume, signal: ac.signal }),
      log: (msg) => void send({ kind: "log", msg }),
      onProgress: (event, arm) => void send({ kind: "progress", arm, event }),
    };
    const out = await runExperiment(exp, config, ctx, { resumeHint: "continue with: npx tinyfoundry reproduce --resume <suite dir>" });
    const maxRssMB = Math.round(process.resourceUsage().maxRSS / 1024); // maxRSS is in KiB
    await send(out.status === "completed" ? { kind: "done", summary: out.summary ?? {}, wallSeconds: out.wallSeconds, maxRssMB } : { kind: "interrupted", wallSeconds: out.wallSeconds, maxRssMB });
  } catch (e) {
    await send({ kind: "failed", message: e instanceof Error ? e.message.split("\n")[0] : String(e), refused: e instanceof CheckpointError });
  }
}

await main();
// jax-js worker threads must not keep a finished child alive.
process.exit(0);
