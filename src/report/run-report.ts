/**
 * Reports for training runs: one run (loss curves, config, final metrics, samples, machine) or a
 * comparison of several (curves overlaid, one row per run). Works for any run directory whose
 * metrics.jsonl rows have a `step`; `tinyfoundry report DIR...` calls it.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { lineChartSpec } from "./charts.js";
import { writeReport, type Block, type ReportDoc, type Section } from "./document.js";
import { openRun, type RunDir, type RunMeta } from "../train/run-dir.js";

type Row = Record<string, number>;

function flatten(obj: unknown, prefix = "", out: [string, string][] = []): [string, string][] {
  if (obj && typeof obj === "object" && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, JSON.stringify(obj)]);
  return out;
}

function numericKeys(rows: Row[]): string[] {
  const keys = new Set<string>();
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (k !== "step" && typeof v === "number") keys.add(k);
  return [...keys];
}

/** Group metric keys into charts: losses together, the rest one chart each. */
function chartGroups(keys: string[]): { title: string; keys: string[] }[] {
  const lossy = keys.filter((k) => /loss/i.test(k) && !/natsPerByte/i.test(k));
  const rest = keys.filter((k) => !lossy.includes(k));
  const groups = lossy.length ? [{ title: "Loss", keys: lossy }] : [];
  for (const k of rest) groups.push({ title: k, keys: [k] });
  return groups;
}

export function machineLine(meta: RunMeta): string {
  const m = meta.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Node ${m.node}, jax-js ${meta.versions["@jax-js/jax"] ?? "?"}${meta.gitCommit ? `, commit ${meta.gitCommit.slice(0, 10)}${meta.gitDirty ? " with uncommitted changes" : ""}` : ""}`;
}

export function runSections(run: RunDir, label = basename(run.dir)): Section[] {
  const rows = run.metrics<Row>();
  const meta = run.meta();
  const summary = run.summary<Record<string, unknown>>();
  const blocks: Block[] = [];
  blocks.push({ kind: "text", text: `Run \`${label}\` (${meta.experiment}, seed ${meta.seed}), status **${meta.status}**. Machine: ${machineLine(meta)}.` });
  for (const g of chartGroups(numericKeys(rows))) {
    const series = g.keys.map((k) => ({ name: k, points: rows.filter((r) => typeof r[k] === "number").map((r) => [r.step, r[k]] as [number, number]) }));
    blocks.push({ kind: "chart", name: `${label}-${g.title}`.replace(/[^A-Za-z0-9_-]/g, "_"), spec: lineChartSpec({ title: g.title, series, xLabel: "step", yLabel: g.title, points: series.some((s) => s.points.length < 30) }) });
  }
  const sections: Section[] = [{ heading: "Training curves", blocks }];
  if (summary) {
    const rowsS = Object.entries(summary)
      .filter(([, v]) => typeof v === "number" || typeof v === "string" || typeof v === "boolean")
      .filter(([k]) => k !== "sample")
      .map(([k, v]) => [k, typeof v === "number" ? v : String(v)] as (string | number)[]);
    sections.push({ heading: "Final metrics", blocks: [{ kind: "table", headers: ["metric", "value"], rows: rowsS }] });
  }
  const samplesDir = run.path("samples");
  if (existsSync(samplesDir)) {
    const sblocks: Block[] = [];
    for (const f of readdirSync(samplesDir).sort()) {
      if (f.endsWith(".txt")) sblocks.push({ kind: "code", caption: f, text: readFileSync(join(samplesDir, f), "utf8").slice(0, 4000) });
      if (f.endsWith(".png")) sblocks.push({ kind: "image", name: f.replace(/\.png$/, ""), png: readFileSync(join(samplesDir, f)), caption: f });
    }
    if (sblocks.length) sections.push({ heading: "Samples", blocks: sblocks });
  }
  sections.push({ heading: "Config", blocks: [{ kind: "table", headers: ["key", "value"], rows: flatten(run.config()) }] });
  return sections;
}

/** Report one run into its own directory. */
export async function reportRun(dir: string): Promise<{ html: string; md: string }> {
  const run = openRun(dir);
  const meta = run.meta();
  const doc: ReportDoc = { title: `${meta.experiment}: ${basename(run.dir)}`, subtitle: `Created ${meta.createdAt}`, sections: runSections(run) };
  return writeReport(doc, run.dir);
}

/** Compare several runs: curves overlaid per metric and a table of final metrics. */
export async function reportComparison(dirs: string[], outDir: string): Promise<{ html: string; md: string }> {
  const runs = dirs.map((d) => openRun(d));
  const labels = runs.map((r) => `${r.meta().experiment}/${basename(r.dir)}`);
  const all = runs.map((r) => r.metrics<Row>());
  const keys = [...new Set(all.flatMap(numericKeys))];
  const blocks: Block[] = [];
  for (const k of keys) {
    const series = runs.map((_, i) => ({ name: labels[i], points: all[i].filter((r) => typeof r[k] === "number").map((r) => [r.step, r[k]] as [number, number]) }));
    if (series.every((s) => s.points.length === 0)) continue;
    blocks.push({ kind: "chart", name: `compare-${k}`.replace(/[^A-Za-z0-9_-]/g, "_"), spec: lineChartSpec({ title: k, series, xLabel: "step", yLabel: k }) });
  }
  const sumKeys = [...new Set(runs.flatMap((r) => Object.entries(r.summary() ?? {}).filter(([, v]) => typeof v === "number").map(([k]) => k)))];
  const rows = runs.map((r, i) => {
    const s = (r.summary() ?? {}) as Record<string, unknown>;
    return [labels[i], ...sumKeys.map((k) => (typeof s[k] === "number" ? (s[k] as number) : "-"))];
  });
  const meta = runs[0].meta();
  const doc: ReportDoc = {
    title: `Comparison of ${runs.length} runs`,
    subtitle: `Machine of the first run: ${machineLine(meta)}`,
    sections: [
      { heading: "Curves", blocks },
      { heading: "Final metrics", blocks: [{ kind: "table", headers: ["run", ...sumKeys], rows }] },
    ],
  };
  return writeReport(doc, outDir);
}
