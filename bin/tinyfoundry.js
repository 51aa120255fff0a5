#!/usr/bin/env node
// Entry point: check and apply --threads before the engine loads (jax-js sizes its worker pool at
// start), then run the TypeScript CLI through tsx.
const argv = process.argv.slice(2);
const i = argv.findIndex((a) => a === "--threads" || a.startsWith("--threads="));
let from = "TINYFOUNDRY_THREADS";
if (i >= 0) {
  const v = argv[i].includes("=") ? argv[i].slice(argv[i].indexOf("=") + 1) : argv[i + 1];
  if (v !== undefined) {
    process.env.TINYFOUNDRY_THREADS = v;
    from = "--threads";
  }
}
const { register } = await import("tsx/esm/api");
register();
// Checked here, like every option, so a bad value is one line and not a stack trace from the engine.
const { threadsProblem } = await import("../src/engine/threads.ts");
const problem = threadsProblem(process.env.TINYFOUNDRY_THREADS);
if (problem) {
  process.stderr.write(`tinyfoundry: ${from}: ${problem}\n`);
  process.exit(2);
}
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
// jax-js worker threads and open handles must not keep a finished command alive.
process.exit(process.exitCode ?? 0);
