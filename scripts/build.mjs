#!/usr/bin/env node
// Build the package: src/**/*.ts -> dist/**/*.js (esbuild, one file per module, no bundling, so the
// layout and every import.meta.url path stay as in src) and, with --types, dist/**/*.d.ts (tsc).
// `npm ci` / `npm install` run it through `prepare`; bin/tinyfoundry.js uses dist/ when it is newer
// than src/ and falls back to the TypeScript sources through tsx otherwise.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = join(root, "src");
const dist = join(root, "dist");

function files(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (/\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) && !/\.d\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

const t0 = Date.now();
rmSync(dist, { recursive: true, force: true });
const entryPoints = files(src);
await build({ entryPoints, outdir: dist, outbase: src, format: "esm", platform: "node", target: "node20", bundle: false, sourcemap: true, logLevel: "warning" });
if (process.argv.includes("--types")) execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
mkdirSync(dist, { recursive: true });
writeFileSync(join(dist, ".build-stamp"), new Date().toISOString() + "\n");
process.stderr.write(`build: ${entryPoints.length} modules -> ${relative(root, dist)}/${process.argv.includes("--types") ? " (with types)" : ""} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
