/**
 * Child processes that run part of the work in a Node process of their own and report over IPC (`ChildMessage`):
 * the reproduction suite's experiments (`suite/child.ts`) and an experiment's task seeds (sft-vs-rl `seed-child.ts`). The
 * child gets its own process group, so a terminal's Ctrl-C reaches only the parent, which forwards exactly one
 * SIGTERM when its signal aborts: the child then checkpoints and stops like any run.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CheckpointError } from "./checkpoint.js";
import { Interrupted, type ExperimentContext, type Summary } from "./experiment.js";
import type { ProgressEvent } from "./loop.js";

/** What a child process sends its parent over IPC. */
export type ChildMessage =
  | { kind: "log"; msg: string }
  | { kind: "progress"; arm?: string; event: ProgressEvent }
  | { kind: "done"; summary: Summary; wallSeconds: number; maxRssMB: number }
  | { kind: "interrupted"; wallSeconds: number; maxRssMB: number }
  /** `refused`: a checkpoint was refused before anything of the run changed (the run is left as it was). */
  | { kind: "failed"; message: string; refused?: boolean };

/**
 * The Node arguments that start module `name` (no extension) beside `hereUrl` (the caller's `import.meta.url`):
 * compiled JavaScript runs as is; TypeScript sources through tsx's loader.
 */
export function childCommand(hereUrl: string, name: string): string[] {
  const here = fileURLToPath(hereUrl);
  if (here.endsWith(".js")) return [fileURLToPath(new URL(`./${name}.js`, hereUrl))];
  const tsx = createRequire(hereUrl).resolve("tsx");
  return ["--import", pathToFileURL(tsx).href, fileURLToPath(new URL(`./${name}.ts`, hereUrl))];
}

export type ChildOutcome = { summary: Record<string, unknown>; wallSeconds: number; maxRssMB: number };

/**
 * Run `args` (from `childCommand`, plus the child's own arguments) in a child process and relay its log lines
 * (through `prefix`) and progress to `ctx`. Resolves on "done"; rejects with `Interrupted(what)` when the child
 * stopped on a signal (or `ctx.signal` aborted), `CheckpointError` for a refused checkpoint, otherwise an Error.
 */
export function runChild(args: string[], ctx: ExperimentContext, what: string, opts: { env?: NodeJS.ProcessEnv; prefix?: string } = {}): Promise<ChildOutcome> {
  return new Promise((resolveP, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], detached: true, env: opts.env ?? process.env });
    let outcome: ChildMessage | null = null;
    const onAbort = () => child.kill("SIGTERM");
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    child.on("message", (m: ChildMessage) => {
      if (m.kind === "log") ctx.log(`${opts.prefix ?? ""}${m.msg}`);
      else if (m.kind === "progress") ctx.onProgress(m.event, m.arm);
      else outcome = m;
    });
    child.on("error", reject);
    child.on("exit", (code, sig) => {
      ctx.signal.removeEventListener("abort", onAbort);
      const o = outcome as ChildMessage | null;
      if (o?.kind === "done") resolveP({ summary: o.summary, wallSeconds: o.wallSeconds, maxRssMB: o.maxRssMB });
      else if (o?.kind === "interrupted" || ctx.signal.aborted) reject(new Interrupted(what));
      else if (o?.kind === "failed") reject(o.refused ? new CheckpointError(o.message) : new Error(o.message));
      else reject(new Error(`${what}: child process exited with ${sig ?? `code ${code}`} before finishing`));
    });
  });
}
