/**
 * The README's library example runs as written: every code block marked `<!-- runnable: FILE -->`
 * is written to FILE in a fresh project made by `npm init -y` (CommonJS by default, no tsx), with
 * this checkout installed into it as a package, and run with plain Node. A TypeScript file in the
 * same project type-checks against the shipped declarations.
 */
import { describe, expect, it, beforeAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runnable blocks of a Markdown file: `<!-- runnable: FILE -->` then a fenced block. */
export function runnableBlocks(md: string): { file: string; code: string }[] {
  const out: { file: string; code: string }[] = [];
  const re = /<!-- runnable: ([\w.-]+) -->\s*\n```[a-z]*\n([\s\S]*?)\n```/g;
  for (const m of md.matchAll(re)) out.push({ file: m[1], code: m[2] });
  return out;
}

function newestTs(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestTs(p) : e.name.endsWith(".ts") ? statSync(p).mtimeMs : 0);
  }
  return t;
}

describe("the README's library example in a fresh npm project", () => {
  let project = "";
  beforeAll(() => {
    const stamp = join(ROOT, "dist", ".build-stamp");
    const types = join(ROOT, "dist", "index.d.ts");
    if (!existsSync(stamp) || !existsSync(types) || statSync(stamp).mtimeMs < newestTs(join(ROOT, "src"))) {
      execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs"), "--types"], { stdio: "inherit" });
    }
    project = mkdtempSync(join(tmpdir(), "tf-user-"));
    execFileSync("npm", ["init", "-y"], { cwd: project, stdio: "ignore" });
    // A local path installs as a link, the way `npm install <path>` does for a user.
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", ROOT], { cwd: project, stdio: "ignore" });
  }, 300_000);

  it("has a runnable example, and it runs as written with plain Node", () => {
    const blocks = runnableBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
    expect(blocks.length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(project, "package.json"), "utf8")).type ?? "commonjs").toBe("commonjs");
    for (const b of blocks) {
      writeFileSync(join(project, b.file), b.code + "\n");
      const r = spawnSync(process.execPath, [b.file], { cwd: project, encoding: "utf8", timeout: 240_000, env: { ...process.env, TINYFOUNDRY_THREADS: "1" } });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const losses = [...r.stdout.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
      expect(losses.length).toBeGreaterThan(0);
      expect(losses[losses.length - 1]).toBeLessThan(Math.log(256) - 1); // it learned something
    }
  }, 300_000);

  it("type-checks TypeScript that imports the package by name", () => {
    writeFileSync(
      join(project, "check.mts"),
      `import { initLM, lmForward, type LMConfig, type LMParams } from "tinyfoundry";\nimport { fp4Quantize } from "tinyfoundry/papers/fp4-training";\n` +
        `const cfg: LMConfig = { vocabSize: 256, dModel: 32, nLayers: 1, nHeads: 4, contextLength: 16, norm: "rms", pos: "rope", mlp: "swiglu", mlpRatio: 2, tiedHead: true, bias: false };\n` +
        `const p: LMParams = initLM(cfg, 0);\nexport const f = [lmForward, fp4Quantize, p];\n` +
        `// @ts-expect-error a misspelt field must not type-check\nexport const bad: LMConfig = { ...cfg, normm: "rms" };\n`,
    );
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ["check.mts"] }));
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", project], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 120_000);
});
