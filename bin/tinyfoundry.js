#!/usr/bin/env node
// Entry point: check and apply --threads before the engine loads (jax-js sizes its worker pool at
// start), then run the compiled CLI from dist/ (built by `npm run build`, which `npm install` runs),
// or the TypeScript sources through tsx when dist/ is missing or older than src/ (a checkout being
// edited).
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

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

const root = fileURLToPath(new URL("..", import.meta.url));
const stamp = `${root}dist/.build-stamp`;

/** The newest modification time of a .ts file under dir (0 when dir is absent). */
function newest(dir) {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    t = Math.max(t, e.isDirectory() ? newest(p) : e.name.endsWith(".ts") ? statSync(p).mtimeMs : 0);
  }
  return t;
}

const compiled = existsSync(stamp) && statSync(stamp).mtimeMs >= newest(`${root}src`);
if (!compiled) {
  const { register } = await import("tsx/esm/api");
  register();
}
const load = (m) => import(compiled ? `../dist/${m}.js` : `../src/${m}.ts`);
// Checked here, like every option, so a bad value is one line and not a stack trace from the engine.
const { threadsProblem } = await load("engine/threads");
const problem = threadsProblem(process.env.TINYFOUNDRY_THREADS);
if (problem) {
  process.stderr.write(`tinyfoundry: ${from}: ${problem}\n`);
  process.exit(2);
}
const { main } = await load("cli/main");
await main(process.argv);
// jax-js worker threads and open handles must not keep a finished command alive.
process.exit(process.exitCode ?? 0);
