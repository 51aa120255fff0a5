#!/usr/bin/env node
/**
 * Install-time patch of @jax-js/jax 0.1.25 (npm's `postinstall` runs it; idempotent; written so it
 * could be offered upstream as a change of two constants in src/backend/wasm).
 *
 * jax-js's wasm matmul kernel (its output-vectorised SIMD reduction) computes a micro-tile of
 * TILED_SIMD_MICRO_ROWS rows × TILED_SIMD_MICRO_VECTORS f32x4 vectors per step of k. At 4 × 4 that
 * is 16 f32x4 accumulators, plus the loaded vectors and the splatted scalars of each step: more
 * than the 16 xmm registers V8's x64 code generator allocates from, so accumulators spill to the
 * stack on every step. 2 × 4 keeps 8 accumulators and the operands in registers. Measured on the
 * reference training step (bench/compare.mts: CPU time per step, 1 thread, interleaved rounds,
 * Node 20 with relaxed SIMD, 2-core Xeon with AVX-512): 2 × 4 is 1.18x faster than 4 × 4 (paired
 * 1.15-1.30); 3 × 4 the same within noise, 1 × 4 1.09x, 2 × 8 1.00x; on Node 24 2 × 4 gave 1.11x.
 * Results are bit-identical: the tile only changes which outputs one loop iteration computes, not
 * the order of each output's reduction over k.
 *
 *   node scripts/patch-jax.mjs            patch the @jax-js/jax that this package resolves
 *   node scripts/patch-jax.mjs --check    exit 1 unless it is patched
 *   node scripts/patch-jax.mjs --dir D    patch the jax-js package in directory D (tests)
 *
 * Any other jax-js version is left alone with a message (an upgrade must re-measure); a missing
 * jax-js (e.g. `npm install --omit=dev` in an odd layout) is not an error.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const JAX_VERSION = "0.1.25";
export const MARK = "/* tinyfoundry patch-jax:";
/** [original line, replacement value, reason]; each must occur exactly once per backend file. */
export const EDITS = [
  ["const TILED_SIMD_MICRO_ROWS = 4;", "2", "2x4 micro-tile: 8 f32x4 accumulators fit the x64 registers"],
];

function jaxDir(args) {
  const i = args.indexOf("--dir");
  if (i >= 0) return args[i + 1];
  const here = dirname(fileURLToPath(import.meta.url));
  try {
    // The package's main entry is dist/index.cjs or dist/index.js: its folder's parent is the package.
    return dirname(dirname(createRequire(join(here, "..", "package.json")).resolve("@jax-js/jax")));
  } catch {
    return null;
  }
}

/** Patch the package in `dir`; returns a one-line report. Throws if an expected line is missing. */
export function patchJax(dir, { check = false } = {}) {
  const version = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
  if (version !== JAX_VERSION) return { ok: !check, line: `patch-jax: @jax-js/jax ${version} is not ${JAX_VERSION}; left unpatched (re-measure before porting the patch)` };
  const files = readdirSync(join(dir, "dist")).filter((f) => /^backend-.*\.c?js$/.test(f));
  if (files.length === 0) throw new Error(`patch-jax: no dist/backend-*.js in ${dir}`);
  let changed = 0;
  let already = 0;
  for (const f of files) {
    const path = join(dir, "dist", f);
    let text = readFileSync(path, "utf8");
    for (const [line, value, why] of EDITS) {
      const name = line.slice("const ".length, line.indexOf(" ="));
      const patched = `const ${name} = ${value}; ${MARK} ${why} (was ${line.slice(line.indexOf("= ") + 2, -1)}) */`;
      if (text.includes(patched)) {
        already++;
        continue;
      }
      const n = text.split(line).length - 1;
      if (n !== 1) throw new Error(`patch-jax: expected one "${line}" in ${f}, found ${n}`);
      if (check) return { ok: false, line: `patch-jax: ${f} is not patched (${name})` };
      text = text.replace(line, patched);
      changed++;
    }
    if (!check) writeFileSync(path, text);
  }
  return { ok: true, line: changed ? `patch-jax: patched @jax-js/jax ${version} (${changed} edits in ${files.length} files)` : `patch-jax: @jax-js/jax ${version} already patched (${already} edits)` };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const dir = jaxDir(args);
  if (!dir) {
    console.log("patch-jax: @jax-js/jax not found; nothing to patch");
  } else {
    const r = patchJax(dir, { check: args.includes("--check") });
    console.log(r.line);
    if (!r.ok) process.exit(1);
  }
}
