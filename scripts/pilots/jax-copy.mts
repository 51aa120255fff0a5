/**
 * For pilots that compare variants of jax-js's wasm backend (issue 25): a temporary copy of the installed (patched)
 * jax-js with text edits in its backend bundle, and a module hook that makes `@jax-js/jax` resolve to that copy (pass
 * it to node with `--import`). The installed package is never touched.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The bundle of jax-js 0.1.25 that holds the wasm backend and its worker pool. */
const BACKEND = "backend-CnjgxpXq.js";

export function patchedJaxCopy(
  prefix: string,
  edits: readonly (readonly [find: string, replace: string, file?: "backend" | "index"])[],
): { dir: string; hook: string } {
  const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const installed = dirname(dirname(createRequire(join(repo, "package.json")).resolve("@jax-js/jax")));
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cpSync(join(installed, "package.json"), join(dir, "package.json"));
  cpSync(join(installed, "dist"), join(dir, "dist"), { recursive: true });
  // An edit names the file it applies to: the backend bundle (default) or the frontend (dist/index.js).
  for (const which of ["backend", "index"] as const) {
    const f = join(dir, "dist", which === "backend" ? BACKEND : "index.js");
    let text = readFileSync(f, "utf8");
    for (const [find, replace, file = "backend"] of edits) {
      if (file !== which) continue;
      if (text.split(find).length !== 2) throw new Error(`text not found once in jax-js's ${which} (is the installed jax-js patched? node scripts/patch-jax.mjs): ${find.slice(0, 60)}`);
      text = text.replace(find, () => replace);
    }
    writeFileSync(f, text);
  }
  const target = pathToFileURL(join(dir, "dist", "index.js")).href;
  const hook = join(dir, "hook.mjs");
  writeFileSync(
    hook,
    `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`export async function resolve(s, c, n) { return s === "@jax-js/jax" ? { url: ${JSON.stringify(target)}, shortCircuit: true, format: "module" } : n(s, c); }\`));`,
  );
  return { dir, hook };
}
