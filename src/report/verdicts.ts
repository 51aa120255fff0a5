/**
 * Verdicts as people read them: a Markdown table for results.md and README blocks, and report
 * blocks, all from a run's typed `verdicts.json` (never from prose). A `tiny` run shows "smoke
 * test" in place of every verdict word.
 */
import { claimNumber, shownVerdict, verdictCounts, VERDICTS, type ClaimResult, type Gate, type VerdictsFile } from "../train/claims.js";
import type { Block } from "./document.js";

const num = (x: number) => (Number.isInteger(x) ? x.toLocaleString("en-US") : claimNumber(x));

/** "0.412 ± 0.022 (seeds 0, 1)". */
export function oursText(c: ClaimResult): string {
  if (!c.ours) return "-";
  const se = c.ours.se === null ? "" : ` ± ${num(c.ours.se)}`;
  const seeds = c.ours.seeds.length ? ` (seed${c.ours.seeds.length > 1 ? "s" : ""} ${c.ours.seeds.join(", ")})` : "";
  return `${num(c.ours.value)}${se}${c.ours.unit ? ` ${c.ours.unit}` : ""}${seeds}`;
}

/** "SFT init OOD success 0.12 >= 0.1 ✓". */
export function gateText(g: Gate): string {
  return `${g.name} ${g.value === null ? "n/a" : num(g.value)} ${g.op} ${num(g.threshold)} ${g.passed ? "(passed)" : "(FAILED)"}`;
}

const cell = (s: string) => s.replace(/\|/g, "/").replace(/\n/g, " ");

/** The verdict table of one experiment (Markdown). */
export function verdictTableMarkdown(v: VerdictsFile): string {
  const head = v.smokeTest
    ? "Smoke test (`tiny` preset): the claims ran end to end, but no verdict is read from a run this small.\n\n"
    : "";
  const rows = v.claims.map((c) =>
    [
      `${c.kind === "mechanism" ? "mechanism test: " : ""}${c.paper}`,
      c.paperValue || "-",
      oursText(c),
      c.floor === null ? "-" : num(c.floor),
      c.gates.length ? c.gates.map(gateText).join("; ") : "-",
      `**${shownVerdict(c.verdict, v.smokeTest)}**`,
      c.why,
    ]
      .map(cell)
      .join(" | "),
  );
  return `${head}| claim | paper | ours | seed floor | gate | verdict | why |\n|---|---|---|---|---|---|---|\n${rows.map((r) => `| ${r} |`).join("\n")}`;
}

/** "3 reproduced, 1 partly, 2 not testable" (or "3 claims, smoke test"). */
export function verdictCountText(v: VerdictsFile): string {
  if (v.smokeTest) return `${v.claims.length} claim${v.claims.length === 1 ? "" : "s"}, smoke test`;
  const c = verdictCounts(v.claims);
  const parts = VERDICTS.filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
  return parts.length ? parts.join(", ") : "no claims";
}

/** Report blocks for an experiment's verdicts. */
export function verdictBlocks(v: VerdictsFile): Block[] {
  return [
    ...(v.smokeTest ? [{ kind: "text" as const, text: "Smoke test (`tiny` preset): no verdict is read from a run this small." }] : []),
    {
      kind: "table",
      headers: ["claim", "paper", "ours", "seed floor", "gate", "verdict", "why"],
      rows: v.claims.map((c) => [c.paper, c.paperValue || "-", oursText(c), c.floor === null ? "-" : num(c.floor), c.gates.length ? c.gates.map(gateText).join("; ") : "-", shownVerdict(c.verdict, v.smokeTest), c.why]),
    },
  ];
}
