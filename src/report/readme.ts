/**
 * Results tables in READMEs are written by code from real runs, never typed by hand: an
 * experiment writes `results.md` into its run directory, and `tinyfoundry readme <run-dir>
 * --into README.md` replaces the block between the markers below with it.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic.js";

export const RESULTS_START = "<!-- results:start (written by `tinyfoundry readme`, do not edit by hand) -->";
export const RESULTS_END = "<!-- results:end -->";

/** Replace (or append) the results block of `readme` text with `markdown`. */
export function injectResults(readme: string, markdown: string): string {
  const block = `${RESULTS_START}\n${markdown.trim()}\n${RESULTS_END}`;
  const a = readme.indexOf("<!-- results:start");
  const b = readme.indexOf(RESULTS_END);
  if (a >= 0 && b > a) return readme.slice(0, a) + block + readme.slice(b + RESULTS_END.length);
  return readme.trimEnd() + "\n\n" + block + "\n";
}

export function injectResultsFile(readmePath: string, markdown: string): void {
  const text = existsSync(readmePath) ? readFileSync(readmePath, "utf8") : "";
  writeFileAtomic(readmePath, injectResults(text, markdown));
}
