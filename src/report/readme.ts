/**
 * Results tables in READMEs are written by code from real runs, never typed by hand: an
 * experiment writes `results.md` into its run directory, and `tinyfoundry readme <run-dir>
 * --into README.md` replaces the block between the markers below with it.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic.js";

export const RESULTS_START = "<!-- results:start (written by `tinyfoundry readme`, do not edit by hand) -->";
export const RESULTS_END = "<!-- results:end -->";

/** Replace (or append) the `name` block (`<!-- name:start ... -->` ... `<!-- name:end -->`) of `readme`. */
export function injectBlock(readme: string, name: string, markdown: string, writer: string): string {
  const start = `<!-- ${name}:start (written by \`${writer}\`, do not edit by hand) -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const a = readme.indexOf(`<!-- ${name}:start`);
  const b = readme.indexOf(end);
  if (a >= 0 && b > a) return readme.slice(0, a) + block + readme.slice(b + end.length);
  return readme.trimEnd() + "\n\n" + block + "\n";
}

/** Replace (or append) the results block of `readme` text with `markdown`. */
export function injectResults(readme: string, markdown: string): string {
  return injectBlock(readme, "results", markdown, "tinyfoundry readme");
}

export function injectResultsFile(readmePath: string, markdown: string, name = "results", writer = "tinyfoundry readme"): void {
  const text = existsSync(readmePath) ? readFileSync(readmePath, "utf8") : "";
  writeFileAtomic(readmePath, injectBlock(text, name, markdown, writer));
}
