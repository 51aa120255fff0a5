#!/usr/bin/env node
// Entry point: apply --threads before the engine loads (jax-js sizes its worker pool at start),
// then run the compiled CLI from dist/ (built by `npm run build`, which `npm install` runs), or the
// TypeScript sources through tsx when dist/ is missing or older than src/ (a checkout being edited).
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const argv = process.argv.slice(2);
const i = argv.findIndex((a) => a === "--threads" || a.startsWith("--threads="));
if (i >= 0) {
  const v = argv[i].includes("=") ? argv[i].split("=")[1] : argv[i + 1];
  process.env.TINYFOUNDRY_THREADS = v;
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

let main;
if (existsSync(stamp) && statSync(stamp).mtimeMs >= newest(`${root}src`)) {
  ({ main } = await import("../dist/cli/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
await main(process.argv);
// jax-js worker threads and open handles must not keep a finished command alive.
process.exit(process.exitCode ?? 0);
