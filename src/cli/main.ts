/**
 * The `tinyfoundry` command line. It parses and validates, calls library functions, and owns the
 * terminal: progress bars on a TTY, plain lines in logs, one-line errors (no stack trace unless
 * TINYFOUNDRY_DEBUG=1), and clean SIGINT/SIGTERM handling (checkpoint, then exit).
 */
import { Command, Option } from "commander";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { initEngine, type Device } from "../engine/index.js";
import { threadsProblem } from "../engine/threads.js";
import { experiments, experimentNames } from "../registry.js";
import { applyOverrides, ConfigError, didYouMean, pickPreset, validateConfig } from "../train/config.js";
import { createRun, openRun, type RunMeta } from "../train/run-dir.js";
import { quietContext, readVerdicts, runExperiment, type ExperimentContext } from "../train/experiment.js";
import { verdictCountText } from "../report/verdicts.js";
import type { ProgressEvent } from "../train/loop.js";
import { shownVerdict, type VerdictsFile } from "../train/claims.js";
import { reportComparison, reportRun } from "../report/run-report.js";
import { injectResultsFile } from "../report/readme.js";
import { Progress, SuiteDisplay, formatEval, latestVal, stepFields } from "./progress.js";
import { runSuite, suiteNames } from "../suite/reproduce.js";
import { collectSuite } from "../suite/collect.js";
import type { PresetName } from "../train/experiment.js";
import { sampleFromRun } from "./sample.js";
import { registerExtraCommands } from "./extra-commands.js";
import { UsageError } from "./errors.js";
import { checkDataFile, checkMemory, checkOutDir, speedHints } from "./preflight.js";
import { checkRunCheckpoints } from "../train/checkpoint.js";

export { UsageError };

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * Keep going when stdout/stderr is closed (the reader of a pipe died, e.g. `npm start | tee log`
 * and Ctrl-C): writes are dropped instead of an EPIPE error killing the process before it has
 * saved its checkpoint.
 */
export function surviveClosedOutput(): void {
  for (const s of [process.stdout, process.stderr]) s.on("error", () => {});
}

/** The same Ctrl-C often arrives twice (the terminal and `npm` each deliver it): a repeat this soon is that one. */
const REPEAT_MS = 1000;

/**
 * SIGINT/SIGTERM: the first one asks the run to checkpoint and stop; one pressed again later
 * exits at once. `afterExit` says what still happens then (a suite's child saves on its own).
 */
function installSignals(afterExit = "without waiting for the checkpoint"): AbortController {
  const ac = new AbortController();
  let first = 0;
  const onSig = (sig: string) => {
    if (ac.signal.aborted) {
      if (Date.now() - first < REPEAT_MS) return;
      process.stderr.write(`\n${sig} again: exiting ${afterExit}\n`);
      process.exit(130);
    }
    first = Date.now();
    process.stderr.write(`\n${sig}: saving a checkpoint and stopping (press again to exit now)\n`);
    ac.abort();
  };
  process.on("SIGINT", () => onSig("SIGINT"));
  process.on("SIGTERM", () => onSig("SIGTERM"));
  return ac;
}

/** A progress display for experiment runs (one bar per arm). */
export function progressContext(run: ReturnType<typeof openRun>, resume: boolean, signal: AbortSignal, label: string): ExperimentContext {
  let bar: Progress | null = null;
  let barArm: string | undefined;
  let val: string | null = null;
  const log = (msg: string) => (bar ? bar.log(msg) : process.stderr.write(msg + "\n"));
  return {
    ...quietContext(run, { resume, signal }),
    log,
    onProgress: (e: ProgressEvent, arm?: string) => {
      if (e.kind === "step") {
        if (!bar || barArm !== arm) {
          bar?.done();
          bar = new Progress({ total: e.total, label: arm ? `${label}/${arm}` : label });
          barArm = arm;
        }
        bar.update(e.step, stepFields(e, val));
        if (e.step === e.total) {
          bar.done();
          bar = null;
        }
      } else if (e.kind === "eval") {
        val = latestVal(e.metrics);
        const line = formatEval(e.metrics);
        if (line) log(`  eval @${e.step}${arm ? ` (${arm})` : ""}: ${line}`);
      } else if (e.kind === "message") {
        log(e.text);
      }
    },
  };
}

type RunOpts = { preset: string; set: string[]; seed?: string; data?: string; resume?: string; out: string; device: Device };

/** Experiments that train on a text corpus, so `--data FILE` means something for them. */
const dataExperiments = experimentNames().filter((n) => {
  const d = (experiments[n].presets.quick as { data?: unknown }).data;
  return typeof d === "object" && d !== null && "file" in d;
});

/** `train lm` / `run <name>`: build and validate the config, then run with a progress display. */
async function runCommand(name: string, o: RunOpts): Promise<void> {
  const exp = experiments[name];
  if (!exp) throw new UsageError(`experiment "${name}" is not known${didYouMean(name, experimentNames())}; allowed: ${experimentNames().join(", ")}`);
  let run;
  let config: unknown;
  if (o.resume) {
    if (o.set.length || o.seed !== undefined || o.data) throw new UsageError("--resume continues a run with its saved config; drop --set/--seed/--data");
    run = openRun(o.resume);
    config = validateConfig(exp.schema, run.config());
    // Everything is checked before the run is touched: its checkpoints, its data file, memory.
    checkRunCheckpoints(run.dir);
    preflight(config);
  } else {
    let cfg = pickPreset(exp.presets, o.preset) as Record<string, unknown>;
    if (o.seed !== undefined) {
      const s = Number(o.seed);
      if (!Number.isInteger(s) || s < 0) throw new ConfigError(`--seed: expected a non-negative integer, got "${o.seed}"`);
      cfg.seed = s;
    }
    if (o.data) {
      if (!dataExperiments.includes(name)) throw new UsageError(`--data: experiment "${name}" takes no text corpus; experiments that do: ${dataExperiments.join(", ")}`);
      if (!existsSync(o.data)) throw new ConfigError(`--data: file not found: ${o.data}`);
      (cfg.data as Record<string, unknown>).file = resolve(o.data);
    }
    cfg = applyOverrides(cfg, o.set);
    config = validateConfig(exp.schema, cfg);
    // Everything that can be checked before a run directory exists is checked first.
    checkOutDir(o.out);
    preflight(config);
  }
  for (const h of speedHints(config as Parameters<typeof speedHints>[0])) process.stderr.write(`note (speed): ${h}\n`);
  const info = await initEngine({ device: o.device });
  const ac = installSignals();
  if (!run) run = createRun({ experiment: name, seed: (config as { seed: number }).seed, config, root: o.out, extraMeta: { preset: o.preset, device: info.device, threads: info.threads } });
  process.stderr.write(`tinyfoundry ${name}: run directory ${run.dir} (device ${info.device}, ${info.threads} thread${info.threads > 1 ? "s" : ""})\n`);
  const ctx = progressContext(run, Boolean(o.resume), ac.signal, name);
  const hint = `continue with: npx tinyfoundry ${name === "lm" ? "train lm" : `run ${name}`} --resume ${run.dir}`;
  const out = await runExperiment(exp, config, ctx, { resumeHint: hint });
  if (out.status === "interrupted") {
    process.stderr.write(`stopped; ${hint}\n`);
    process.exitCode = 130;
    return;
  }
  if (out.summary && !out.alreadyCompleted) printSummary(name, out.summary, out.verdicts, run.dir);
}

/** Memory and the data file of a validated config (see preflight.ts). */
function preflight(config: unknown): void {
  const c = config as { model?: Record<string, unknown>; train?: Record<string, unknown>; data?: Record<string, unknown> };
  checkMemory(c);
  if (typeof c.data?.file === "string" && c.data.file) checkDataFile(c.data.file, c as Parameters<typeof checkDataFile>[1]);
}

function printSummary(name: string, s: Record<string, unknown>, v: VerdictsFile | null, dir: string): void {
  const lines = [`\n${name}: done`];
  for (const [k, x] of Object.entries(s)) {
    if (typeof x === "number") lines.push(`  ${k}: ${Number.isInteger(x) ? x : Number(x.toPrecision(4))}`);
  }
  if (typeof s.sample === "string" && s.sample) lines.push(`  sample: ${JSON.stringify(s.sample.slice(0, 300))}`);
  if (v && v.claims.length) {
    lines.push(v.smokeTest ? "  claims (tiny preset: a smoke test, no verdict is read from it):" : "  verdicts:");
    for (const c of v.claims) lines.push(`    ${shownVerdict(c.verdict, v.smokeTest)}: ${c.paper}${v.smokeTest ? "" : ` (${c.why})`}`);
  }
  lines.push(`  report: ${join(dir, "report.html")}`);
  process.stdout.write(lines.join("\n") + "\n");
}

/** The last metrics of a run: its own metrics.jsonl, else its arms' (e.g. "fp32: step 300, loss 2.31"). */
function lastMetrics(d: string): string {
  const one = (dir: string) => {
    const mf = join(dir, "metrics.jsonl");
    if (!existsSync(mf)) return "";
    const last = readFileSync(mf, "utf8").trim().split("\n").pop();
    if (!last) return "";
    try {
      const r = JSON.parse(last) as Record<string, number>;
      const val = Object.keys(r).find((k) => /^val/i.test(k));
      return `step ${r.step ?? "?"}${typeof r.loss === "number" ? `, loss ${r.loss.toFixed(4)}` : ""}${val ? `, ${val} ${Number(r[val]).toFixed(4)}` : ""}`;
    } catch {
      return "(torn last line)";
    }
  };
  const own = one(d);
  if (own) return own;
  const arms = join(d, "arms");
  if (!existsSync(arms)) return "";
  return readdirSync(arms)
    .sort()
    .map((a) => [a, one(join(arms, a))])
    .filter(([, m]) => m)
    .map(([a, m]) => `${a}: ${m}`)
    .join("; ");
}

function listRuns(root: string): void {
  if (!existsSync(root)) {
    process.stdout.write(`no runs under ${root}\n`);
    return;
  }
  const rows: string[][] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 3) return;
    if (existsSync(join(d, "meta.json")) && existsSync(join(d, "config.json"))) {
      try {
        const meta = JSON.parse(readFileSync(join(d, "meta.json"), "utf8")) as RunMeta;
        let verdicts = "";
        try {
          const v = readVerdicts(d);
          if (v) verdicts = verdictCountText(v);
        } catch {
          verdicts = "(unreadable verdicts.json)";
        }
        const wall = typeof meta.wallSeconds === "number" ? `${(meta.wallSeconds / 60).toFixed(1)} min` : "";
        rows.push([d, meta.experiment, typeof meta.preset === "string" ? meta.preset : "", meta.status, wall, [verdicts, lastMetrics(d)].filter(Boolean).join(" | ")]);
      } catch {
        rows.push([d, "(unreadable meta.json)", "", "", "", ""]);
      }
      return;
    }
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory() && f !== "checkpoints" && f !== "arms" && f !== "samples" && f !== "assets") walk(p, depth + 1);
    }
  };
  walk(root, 0);
  if (!rows.length) {
    process.stdout.write(`no runs under ${root}\n`);
    return;
  }
  const header = ["run", "experiment", "preset", "status", "wall", "verdicts | last metrics"];
  const all = [header, ...rows];
  const widths = header.map((_, i) => (i === header.length - 1 ? 0 : Math.max(...all.map((r) => r[i].length))));
  process.stdout.write(all.map((r) => r.map((c, i) => (widths[i] ? c.padEnd(widths[i]) : c)).join("  ").trimEnd()).join("\n") + "\n");
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("tinyfoundry")
    .description("Six 2025 foundation-model training papers as runnable, readable TypeScript")
    .version("0.1.0")
    .option("--threads <n>", "wasm worker threads, 1 to 64 (default: min(2, cores)); also TINYFOUNDRY_THREADS", (v: string) => {
      // bin/tinyfoundry.js applies it before the engine loads; checked here too for direct use of main().
      const p = threadsProblem(v);
      if (p) throw new UsageError(`--threads: ${p}`);
      return v;
    })
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true }); // --threads shows in every command's help

  /** An option with a numeric default, shown as a number: `(default: 200)`, not `(default: "200")`. */
  const numOpt = (flags: string, desc: string, def: number) => new Option(flags, desc).default(String(def), String(def));
  const deviceOpt = () => new Option("--device <device>", "compute device").choices(["wasm", "webgpu", "cpu"]).default("wasm");
  const addRunOptions = (c: Command) =>
    c
      .option("--preset <name>", "tiny | quick | full", "quick")
      .option("--set <key=value>", "override a config field (repeatable), e.g. --set train.lr=1e-3", collect, [])
      .option("--seed <n>", "the run seed (all random streams derive from it)")
      .option("--data <file>", `train on your own UTF-8 text file instead of the built-in corpus (${dataExperiments.join(", ")})`)
      .option("--resume <dir>", "continue an interrupted run from its last checkpoint")
      .option("--out <dir>", "root folder for run directories", "runs")
      .addOption(deviceOpt());

  const train = program.command("train").description("train a model");
  addRunOptions(train.command("lm").description("train the decoder-only transformer LM on a built-in corpus or --data FILE")).action((o: RunOpts) =>
    runCommand("lm", o),
  );

  addRunOptions(
    program
      .command("run")
      .argument("<experiment>", `one of: ${experimentNames().join(", ")}`)
      .description("run a paper's experiment (every arm) and write its report"),
  ).action((name: string, o: RunOpts) => runCommand(name, o));

  program
    .command("sample")
    .argument("<run-dir>", "a run directory with a checkpoint")
    .requiredOption("--prompt <text>", "prompt text")
    .addOption(numOpt("--tokens <n>", "tokens to generate", 200))
    .addOption(numOpt("--temperature <t>", "sampling temperature (0 = greedy)", 0.8))
    .addOption(numOpt("--top-k <k>", "keep the k most likely tokens (0 = all)", 0))
    .addOption(numOpt("--top-p <p>", "nucleus sampling mass (1 = all)", 1))
    .addOption(numOpt("--seed <n>", "sampling seed", 0))
    .addOption(deviceOpt())
    .description("generate text from a trained LM run")
    .action(async (dir: string, o: { prompt: string; tokens: string; temperature: string; topK: string; topP: string; seed: string; device: Device }) => {
      await initEngine({ device: o.device });
      const text = await sampleFromRun(dir, o);
      process.stdout.write(text + "\n");
    });

  program
    .command("report")
    .argument("<run-dirs...>", "one run (report written into it) or several (a comparison)")
    .option("--out <dir>", "where a comparison report goes", "runs/comparison")
    .description("write report.html and report.md for a run, or a comparison of runs")
    .action(async (dirs: string[], o: { out: string }) => {
      if (dirs.length > 1) checkOutDir(o.out);
      const r = dirs.length === 1 ? await reportOneRun(dirs[0]) : await reportComparison(dirs, o.out);
      process.stdout.write(`${r.html}\n${r.md}\n`);
    });

  program
    .command("collect")
    .argument("<run-dirs...>", "finished runs of one preset and seed, one per experiment")
    .option("--out <dir>", "root folder; the site goes to <out>/suite/<time>-<preset>-collected", "runs")
    .description("build the suite's report site (index.html, results.md) from runs made one at a time")
    .action(async (dirs: string[], o: { out: string }) => {
      const r = await collectSuite(dirs, o.out);
      process.stdout.write(`${r.html}\n${r.md}\n`);
    });

  program
    .command("list")
    .option("--root <dir>", "runs folder", "runs")
    .description("list runs with their status and last metrics")
    .action((o: { root: string }) => listRuns(o.root));

  program
    .command("reproduce")
    .option("--preset <name>", "quick | full | tiny", "quick")
    .option("--only <names>", "comma-separated experiments (default: all)")
    .option("--resume <dir>", "continue an interrupted suite directory")
    .addOption(numOpt("--seed <n>", "the seed of every experiment", 0))
    .option("--out <dir>", "root folder for run directories", "runs")
    .addOption(deviceOpt())
    .description("run every paper's experiment in sequence and build one report site (index.html)")
    .action(async (o: { preset: string; only?: string; resume?: string; seed: string; out: string; device: Device }) => {
      if (!["tiny", "quick", "full"].includes(o.preset)) throw new ConfigError(`--preset: "${o.preset}" is not a preset${didYouMean(o.preset, ["tiny", "quick", "full"])}; allowed: tiny, quick, full`);
      const seed = Number(o.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new ConfigError(`--seed: expected a non-negative integer, got "${o.seed}"`);
      const only = o.only ? o.only.split(",").map((x) => x.trim()).filter(Boolean) : undefined;
      suiteNames(only); // validates --only before anything is written
      if (!o.resume) checkOutDir(o.out);
      const info = await initEngine({ device: o.device });
      process.stderr.write(`device ${info.device}, ${info.threads} thread${info.threads > 1 ? "s" : ""}\n`);
      // The running experiment is a child process of its own: it checkpoints on the parent's one
      // SIGTERM, and also when the parent is gone.
      const ac = installSignals("now; the running experiment still saves its checkpoint");
      // A resumed suite keeps the preset it was started with (its suite.json says which).
      const preset = (o.resume && existsSync(join(o.resume, "suite.json")) ? (JSON.parse(readFileSync(join(o.resume, "suite.json"), "utf8")) as { preset: PresetName }).preset : o.preset) as PresetName;
      const display = new SuiteDisplay(preset);
      const t0 = Date.now();
      const r = await runSuite({
        preset,
        only,
        root: o.out,
        resume: o.resume,
        seed,
        signal: ac.signal,
        log: (m) => display.log(m),
        isolate: { device: o.device },
        onStart: (dir) => display.log(`suite directory ${dir}\n  site (rebuilt after each experiment): ${join(dir, "index.html")}`),
        onEvent: (e) => display.handle(e),
      });
      display.done();
      if (r.interrupted) {
        process.stderr.write(`stopped; continue with: npx tinyfoundry reproduce --resume ${r.dir}\n`);
        process.exitCode = 130;
        return;
      }
      const failed = r.state.entries.filter((e) => e.status !== "completed");
      const total = r.state.entries.reduce((a, e) => a + e.wallSeconds, 0);
      const readmeHint = preset === "tiny" ? "  (a tiny run is a smoke test: no verdict is read from it)\n" : `  README table: npx tinyfoundry readme ${r.dir} --into README.md\n`;
      process.stdout.write(`suite: ${r.state.entries.length - failed.length}/${r.state.entries.length} experiments completed in ${(total / 60).toFixed(1)} min (this invocation ${((Date.now() - t0) / 60000).toFixed(1)} min)\n  site: ${join(r.dir, "index.html")}\n${readmeHint}`);
      if (failed.length) {
        process.stderr.write(`failed: ${failed.map((e) => `${e.name} (${e.message ?? e.status})`).join(", ")}\n`);
        process.exitCode = 1;
      }
    });

  program
    .command("readme")
    .argument("<run-dir>", "a finished experiment run, or a suite directory (fills the `suite` block)")
    .requiredOption("--into <readme>", "the README.md whose results block is replaced")
    .option("--block <name>", "the marker name of the block to fill (default: results, or suite for a suite directory)")
    .description("write a run's measured results table (results.md) into a README between the results markers")
    .action((dir: string, o: { into: string; block?: string }) => {
      if (o.block !== undefined && !/^[a-z][a-z0-9-]*$/.test(o.block)) throw new UsageError(`--block: "${o.block}" is not a marker name; allowed: lowercase letters, digits and "-", starting with a letter`);
      // A suite directory fills the README's `suite` block; a single run fills its `results` block.
      const suite = existsSync(join(dir, "suite.json"));
      const f = suite ? join(dir, "results.md") : openRun(dir).path("results.md");
      if (!existsSync(f)) throw new UsageError(`readme: ${dir} has no results.md (is the run finished?)`);
      injectResultsFile(o.into, readFileSync(f, "utf8"), o.block ?? (suite ? "suite" : "results"));
      process.stdout.write(`updated ${o.into}\n`);
    });

  registerExtraCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  surviveClosedOutput();
  const program = buildProgram();
  // One prefix and one exit code per kind of mistake: commander's usage errors read like ours
  // ("tinyfoundry: ...", exit 2); help and --version exit 0.
  const oneVoice = (c: Command) => {
    c.exitOverride();
    c.configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, "tinyfoundry: ")) });
    c.commands.forEach(oneVoice);
  };
  oneVoice(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === "string" && err.code.startsWith("commander.")) {
      process.exitCode = err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.version" ? 0 : 2;
      return;
    }
    if (process.env.TINYFOUNDRY_DEBUG === "1") process.stderr.write(String((e as Error).stack) + "\n");
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    process.stderr.write(`tinyfoundry: ${msg}\n`);
    process.exitCode = e instanceof ConfigError || e instanceof UsageError ? 2 : 1;
  }
}

/**
 * The report of one run. A finished run (summary.json and verdicts.json) gets its experiment's own
 * report, the one the runner wrote (results.md, curves, samples): rewriting it with the generic one
 * lost everything experiment-specific. An unfinished run, or one of an unknown experiment, gets the
 * generic report of its metrics.
 */
export async function reportOneRun(dir: string): Promise<{ html: string; md: string }> {
  const run = openRun(dir);
  const exp = experiments[run.meta().experiment];
  const summary = run.summary();
  const verdicts = readVerdicts(dir);
  if (!exp?.report || !summary || !verdicts) return reportRun(dir);
  await initEngine({});
  await exp.report(run, summary, verdicts, run.config());
  return { html: run.path("report.html"), md: run.path("report.md") };
}
