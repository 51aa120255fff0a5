/**
 * The import rules of the layout (STYLE.md's "arrows point down"), checked over every source file
 * under src/: no import cycles between files (type-only imports count: two files that import each
 * other are one module split in two), the engine imports nothing of ours, the layers and papers
 * never reach the CLI, the environments never reach the engine or the reports, and a paper's
 * experiment never reaches its report (the runner calls the report), and every other import points
 * down the layers. "Reach" follows imports transitively; test files and fixtures are checked for
 * cycles only.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (/\.m?ts$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Relative specifiers of every import, re-export, side-effect import and literal `import()`, as TypeScript reads them. */
function relativeImports(code: string): string[] {
  return ts
    .preProcessFile(code, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith("."));
}

/** The file a relative specifier names (`./x.js` is `./x.ts` in source; `./x.mjs` is `./x.mts`). */
function resolveSpec(from: string, spec: string, files: Set<string>): string | null {
  const p = resolve(dirname(from), spec);
  for (const c of [p, p.replace(/\.js$/, ".ts"), p.replace(/\.mjs$/, ".mts"), `${p}.ts`, join(p, "index.ts")]) if (files.has(c)) return c;
  return null;
}

const rel = (f: string) => relative(SRC, f).split("\\").join("/");
const files = sourceFiles(SRC).sort();
const fileSet = new Set(files);
const graph = new Map<string, string[]>();
const unresolved: string[] = [];
for (const f of files) {
  const deps = new Set<string>();
  for (const spec of relativeImports(readFileSync(f, "utf8"))) {
    const target = resolveSpec(f, spec, fileSet);
    if (target) deps.add(rel(target));
    else if (resolve(dirname(f), spec).startsWith(SRC)) unresolved.push(`${rel(f)} -> ${spec}`);
  }
  graph.set(rel(f), [...deps].sort());
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

/** Every file `from` reaches through imports, with the path to it (for the message). */
function reach(from: string): Map<string, string[]> {
  const paths = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (paths.has(w)) continue;
      paths.set(w, [...paths.get(v)!, w]);
      queue.push(w);
    }
  }
  paths.delete(from);
  return paths;
}

const isTest = (f: string) => /\.test\.ts$|\.fixture\.m?ts$/.test(f);
const under = (f: string, ...dirs: string[]) => dirs.some((d) => f.startsWith(`${d}/`));

/** Source files matching `who` that reach a file matching `forbidden`, as "a -> b -> c" lines. */
function violations(who: (f: string) => boolean, forbidden: (from: string, to: string) => boolean): string[] {
  const out: string[] = [];
  for (const f of graph.keys()) {
    if (isTest(f) || !who(f)) continue;
    for (const [to, path] of reach(f)) if (forbidden(f, to)) out.push(path.join(" -> "));
  }
  return out.sort();
}

/** The layout's layers from the bottom up (STYLE.md): a file imports only its own layer or those below. */
const LAYERS = ["engine", "util", "nn", "optim", "data", "train", "report", "envs", "lm", "papers", "suite", "cli"];
const layerOf = (f: string) => LAYERS.indexOf(f.split("/")[0]);

describe("import rules over src/", () => {
  it("the cycle finder finds cycles and self-imports, and only those", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a", "d"]],
      ["e", ["d"]],
    ]);
    expect(cycles(g)).toEqual([["a", "b", "c"], ["d"]]);
  });
  it("every relative import names a file", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(unresolved).toEqual([]);
  });
  it("no import cycles between files", () => {
    const found = cycles(graph).map((c) => c.join(" <-> "));
    expect(found, `import cycles:\n${found.join("\n")}`).toEqual([]);
  });
  it("imports point down the layers (engine, util, nn, optim, data, train, report, envs, lm, papers, suite, cli)", () => {
    const up = [...graph].flatMap(([f, deps]) => (isTest(f) || layerOf(f) < 0 ? [] : deps.filter((d) => layerOf(d) > layerOf(f)).map((d) => `${f} -> ${d}`)));
    expect(up).toEqual([]);
  });
  it("the engine imports nothing of ours", () => {
    expect(violations((f) => under(f, "engine"), (_, to) => !under(to, "engine"))).toEqual([]);
  });
  it("nn, envs and the papers never reach the CLI or the suite", () => {
    expect(violations((f) => under(f, "nn", "envs", "papers"), (_, to) => under(to, "cli", "suite"))).toEqual([]);
  });
  it("the environments never reach the engine or the reports", () => {
    expect(violations((f) => under(f, "envs"), (_, to) => under(to, "engine", "report"))).toEqual([]);
  });
  it("a paper's experiment never reaches its report (the runner calls it)", () => {
    const paperOf = (f: string) => /^papers\/([^/]+)\//.exec(f)?.[1];
    expect(violations((f) => /^papers\/[^/]+\/experiment\.ts$/.test(f), (from, to) => to === `papers/${paperOf(from)}/report.ts`)).toEqual([]);
  });
});
