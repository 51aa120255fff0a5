#!/usr/bin/env node
// Entry point: apply --threads before the engine loads (jax-js sizes its worker pool at start),
// then run the TypeScript CLI through tsx.
const argv = process.argv.slice(2);
const i = argv.findIndex((a) => a === "--threads" || a.startsWith("--threads="));
if (i >= 0) {
  const v = argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1];
  process.env.TINYFOUNDRY_THREADS = v;
}
const { register } = await import("tsx/esm/api");
register();
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
// jax-js worker threads and open handles must not keep a finished command alive.
process.exit(process.exitCode ?? 0);
