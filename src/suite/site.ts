/**
 * The suite's report site: `index.html` with one section per paper (claim, verdicts, our measured
 * table beside the paper's, charts, samples, machine and wall time, a link to the paper's own
 * report), and `results.md`, the table the repo README carries. Files open from disk (relative
 * paths only, no network).
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { experiments } from "../registry.js";
import { markdownToHTML } from "../report/markdown.js";
import { machineLine } from "../report/run-report.js";
import { fmt } from "../report/document.js";
import type { RunMeta } from "../train/run-dir.js";
import { writeFileAtomic } from "../util/atomic.js";
import { readVerdicts } from "../train/experiment.js";
import { shownVerdict, type VerdictsFile } from "../train/claims.js";
import { gateText, oursText, verdictCountText, verdictTableMarkdown } from "../report/verdicts.js";
import type { SuiteState } from "./state.js";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function readJson<T>(f: string): T | null {
  try {
    return JSON.parse(readFileSync(f, "utf8")) as T;
  } catch {
    return null;
  }
}

/** An experiment's verdicts.json, or null when it has none yet (pending, failed) or it is unreadable. */
function verdictsOf(dir: string): VerdictsFile | null {
  try {
    return readVerdicts(dir);
  } catch {
    return null;
  }
}

const VERDICT_CLASS: Record<string, string> = { reproduced: "v-yes", partly: "v-partly", "not reproduced": "v-no", opposite: "v-opp", "not testable": "v-nt", "smoke test": "v-smoke" };

/** The at-a-glance board: one row per paper claim, the verdict first. */
function boardHTML(rows: { name: string; status: string; v: VerdictsFile | null }[]): string {
  const tr: string[] = [];
  for (const r of rows) {
    if (!r.v || r.v.claims.length === 0) {
      tr.push(`<tr><td><a href="#${esc(r.name)}">${esc(r.name)}</a></td><td colspan="5" class="status-${esc(r.status)}">${esc(r.status === "completed" ? "no claims" : r.status)}</td></tr>`);
      continue;
    }
    for (const c of r.v.claims) {
      const shown = shownVerdict(c.verdict, r.v.smokeTest);
      tr.push(
        `<tr><td><a href="#${esc(r.name)}">${esc(r.name)}</a></td><td>${c.kind === "mechanism" ? "<em>mechanism test:</em> " : ""}${esc(c.paper)}</td><td class="verdict ${VERDICT_CLASS[shown] ?? ""}">${esc(shown)}</td><td>${esc(c.gates.length ? c.gates.map(gateText).join("; ") : "-")}</td><td>${esc(oursText(c))}</td><td>${esc(c.paperValue || "-")}</td></tr>`,
      );
    }
  }
  return `<table class="board" id="verdict-board"><tr><th>paper</th><th>claim</th><th>verdict</th><th>gate</th><th>ours ± SE</th><th>paper</th></tr>${tr.join("")}</table>`;
}

function files(dir: string, ext: RegExp, max: number): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => ext.test(f) && statSync(join(dir, f)).isFile())
    .sort()
    .slice(0, max)
    .map((f) => join(dir, f));
}

const CSS = `table.board td.verdict{white-space:nowrap}.v-yes{background:#d8f0d8}.v-partly{background:#f3ecc8}.v-no{background:#f4d6d6}.v-opp{background:#e8c0e8}.v-nt{background:#e4e4e4}.v-smoke{background:#e4ecf4}
body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.5}
h1{border-bottom:2px solid #333}section.paper{border-top:1px solid #ccc;margin-top:2.5em}table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:3px 7px;text-align:left}th{background:#f0f0f0}pre{background:#f6f6f6;padding:.7em;white-space:pre-wrap;font-size:.85em}
img{max-width:100%}figure.chart img{max-width:520px;margin:.3em}.verdict{font-weight:bold}.status-failed,.status-interrupted,.status-pending{color:#b00}
.meta{color:#555;font-size:.9em}nav a{margin-right:1em}`;

/** The claim board for results.md (the README's suite block). */
function boardMarkdown(board: { name: string; v: VerdictsFile | null }[], smoke: boolean): string[] {
  const rows = board.flatMap((r) => (r.v ? r.v.claims.map((c) => `| ${r.name} | ${(c.kind === "mechanism" ? "mechanism test: " : "") + c.paper.replace(/\|/g, "/")} | ${shownVerdict(c.verdict, r.v!.smokeTest)} | ${oursText(c).replace(/\|/g, "/")} | ${(c.paperValue || "-").replace(/\|/g, "/")} |`) : []));
  if (!rows.length) return [];
  return [...(smoke ? ["Smoke test (`tiny` preset): no verdict is read from a run this small.", ""] : []), "| paper | claim | verdict | ours ± SE | paper's value |", "|---|---|---|---|---|", ...rows];
}

export async function buildSite(dir: string): Promise<{ html: string; md: string }> {
  const state = readJson<SuiteState>(join(dir, "suite.json"));
  if (!state) throw new Error(`site: ${dir} has no suite.json`);
  const sections: string[] = [];
  const rows: string[] = [];
  let firstMeta: RunMeta | null = null;
  let total = 0;
  const board: { name: string; status: string; v: VerdictsFile | null }[] = [];
  for (const e of state.entries) {
    const rd = join(dir, e.name);
    const exp = experiments[e.name];
    const meta = readJson<RunMeta>(join(rd, "meta.json"));
    firstMeta ??= meta;
    const results = existsSync(join(rd, "results.md")) ? readFileSync(join(rd, "results.md"), "utf8") : "";
    const verdicts = verdictsOf(rd);
    board.push({ name: e.name, status: e.status, v: verdicts });
    total += e.wallSeconds;
    const title = exp ? (exp.arxiv ? `${exp.title} (arXiv ${exp.arxiv})` : exp.title) : e.name;
    const rel = (p: string) => relative(dir, p).split("\\").join("/");
    const resolveLink = (h: string) => (/^[a-z]+:/i.test(h) || h.startsWith("#") ? h : `${e.name}/${h}`);
    const charts = [...files(join(rd, "assets"), /\.png$/, 12), ...files(join(rd, "samples"), /\.png$/, 6)];
    const audio = files(join(rd, "samples"), /\.wav$/, 4);
    const texts = files(join(rd, "samples"), /\.(txt|jsonl)$/, 3);
    const parts: string[] = [];
    parts.push(`<section class="paper" id="${esc(e.name)}" data-experiment="${esc(e.name)}">`);
    parts.push(`<h2>${esc(title)}</h2>`);
    parts.push(`<p class="meta">Status <span class="status-${esc(e.status)}">${esc(e.status)}</span>, preset ${esc(state.preset)}, wall time ${fmt(e.wallSeconds, 1)} s${meta ? `; machine: ${esc(machineLine(meta))}` : ""}${e.message ? `; ${e.status === "completed" ? `completed on resume (an earlier attempt failed: ${esc(e.message.replace(/^an earlier attempt failed: /, ""))})` : esc(e.message)}` : ""}.</p>`);
    if (exp) parts.push(`<p><strong>Claim tested:</strong> ${esc(exp.claim)}</p>`);
    if (verdicts) parts.push(`<div class="verdicts">${markdownToHTML(verdictTableMarkdown(verdicts), resolveLink)}</div>`);
    if (results) parts.push(`<div class="results">${markdownToHTML(results, resolveLink)}</div>`);
    else parts.push(`<p>No results.md: the experiment did not finish.</p>`);
    if (charts.length) parts.push(`<div class="charts">${charts.map((c) => `<figure class="chart"><img src="${esc(rel(c))}" alt="${esc(c.split("/").pop()!)}"></figure>`).join("")}</div>`);
    for (const a of audio) parts.push(`<figure><audio controls src="${esc(rel(a))}"></audio><figcaption>${esc(a.split("/").pop()!)}</figcaption></figure>`);
    for (const t of texts) parts.push(`<p>${esc(t.split("/").pop()!)}</p><pre>${esc(readFileSync(t, "utf8").slice(0, 1500))}</pre>`);
    if (existsSync(join(rd, "report.html"))) parts.push(`<p><a href="${esc(e.name)}/report.html">The full ${esc(e.name)} report</a></p>`);
    parts.push(`</section>`);
    sections.push(parts.join("\n"));
    const vtext = verdicts ? verdictCountText(verdicts) : "-";
    rows.push(`| ${e.name} | ${exp?.arxiv || "-"} | ${e.status} | ${vtext} | ${fmt(e.wallSeconds / 60, 1)} | ${e.maxRssMB ? fmt(e.maxRssMB) : "-"} |`);
  }
  const machine = firstMeta ? machineLine(firstMeta) : "unknown machine";
  const head = `Preset <code>${esc(state.preset)}</code>, seed ${state.seed}, started ${esc(state.createdAt)}, total wall time ${fmt(total / 60, 1)} min; machine: ${esc(machine)}.`;
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tinyfoundry reproduction suite</title><style>${CSS}</style></head><body>
<h1>tinyfoundry reproduction suite</h1><p class="meta">${head}</p>
${state.preset === "tiny" ? `<p><strong>Smoke test:</strong> the <code>tiny</code> preset checks that everything runs; no verdict is read from it.</p>` : ""}
<h2>Verdicts at a glance</h2>
${boardHTML(board)}
<nav>${state.entries.map((e) => `<a href="#${esc(e.name)}">${esc(e.name)}</a>`).join("")}</nav>
${sections.join("\n")}
</body></html>`;
  const c = state.collected;
  const first = c
    ? `Suite preset \`${state.preset}\`, seed ${state.seed}, collected from ${c.length} runs made one at a time (\`tinyfoundry collect\`) between ${c.map((x) => x.createdAt.slice(0, 16)).sort()[0].replace("T", " ")} and ${c.map((x) => x.createdAt.slice(0, 16)).sort().at(-1)!.replace("T", " ")} UTC at commits ${[...new Set(c.map((x) => `${(x.commit ?? "unknown").slice(0, 10)}${x.dirty ? " with uncommitted changes" : ""}`))].join(", ")}, total ${fmt(total / 60, 1)} min on ${new Set(c.map((x) => x.machine)).size === 1 ? c[0].machine : `several machines (${[...new Set(c.map((x) => x.machine))].join("; ")})`}. Site: \`${relative(process.cwd(), join(dir, "index.html"))}\`.`
    : `Suite preset \`${state.preset}\`, seed ${state.seed}, run ${state.createdAt.slice(0, 10)}, total ${fmt(total / 60, 1)} min on ${machine}. Site: \`${relative(process.cwd(), join(dir, "index.html"))}\`.`;
  const md = [
    first,
    "",
    "| experiment | arXiv | status | verdicts | wall time (min) | peak memory (MB) |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
    ...boardMarkdown(board, state.preset === "tiny"),
  ].join("\n");
  writeFileAtomic(join(dir, "index.html"), html);
  writeFileAtomic(join(dir, "results.md"), md);
  return { html: join(dir, "index.html"), md: join(dir, "results.md") };
}
