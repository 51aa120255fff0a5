/**
 * A small report document model rendered to a self-contained HTML file (charts as inline SVG,
 * images and audio as data URIs, no network) and to Markdown (charts and images as PNG files
 * beside it). Every experiment and the reproduction suite build their reports from these blocks.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { renderSVG, svgToPNG } from "./charts.js";
import { writeFileAtomic } from "../util/atomic.js";

export type Block =
  | { kind: "text"; text: string }
  | { kind: "table"; headers: string[]; rows: (string | number)[][]; caption?: string }
  | { kind: "chart"; spec: TopLevelSpec; name: string; caption?: string }
  | { kind: "image"; png: Uint8Array; name: string; caption?: string }
  | { kind: "audio"; wav: Uint8Array; name: string; caption?: string }
  | { kind: "code"; text: string; caption?: string }
  | { kind: "link"; href: string; text: string };

export type Section = { heading: string; id?: string; blocks: Block[] };
export type ReportDoc = { title: string; subtitle?: string; sections: Section[] };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function fmt(v: string | number, digits = 4): string {
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toFixed(digits);
}

/** Inline `**bold**` and `code` in text blocks (HTML). */
function inline(s: string): string {
  return esc(s)
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/`([^`]+)`/g, "<code>$1</code>");
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

const CSS = `body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.5}
h1{border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;white-space:pre-wrap}
.subtitle{color:#555}img{max-width:100%;image-rendering:pixelated}nav a{margin-right:1em}`;

export async function renderHTML(doc: ReportDoc): Promise<string> {
  const parts: string[] = [];
  parts.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.title)}</title><style>${CSS}</style></head><body>`);
  parts.push(`<h1>${esc(doc.title)}</h1>`);
  if (doc.subtitle) parts.push(`<p class="subtitle">${inline(doc.subtitle)}</p>`);
  if (doc.sections.length > 2) {
    parts.push(`<nav>${doc.sections.map((s) => `<a href="#${s.id ?? slug(s.heading)}">${esc(s.heading)}</a>`).join("")}</nav>`);
  }
  for (const s of doc.sections) {
    parts.push(`<section id="${s.id ?? slug(s.heading)}"><h2>${esc(s.heading)}</h2>`);
    for (const b of s.blocks) parts.push(await blockHTML(b));
    parts.push(`</section>`);
  }
  parts.push(`</body></html>`);
  return parts.join("\n");
}

async function blockHTML(b: Block): Promise<string> {
  switch (b.kind) {
    case "text":
      return b.text
        .split(/\n\n+/)
        .map((p) => `<p>${inline(p)}</p>`)
        .join("\n");
    case "table": {
      const head = `<tr>${b.headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>`;
      const body = b.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(fmt(c))}</td>`).join("")}</tr>`).join("");
      return `<table>${b.caption ? `<caption>${esc(b.caption)}</caption>` : ""}${head}${body}</table>`;
    }
    case "chart": {
      const svg = await renderSVG(b.spec);
      return `<figure class="chart" data-name="${esc(b.name)}">${svg}${b.caption ? `<figcaption>${inline(b.caption)}</figcaption>` : ""}</figure>`;
    }
    case "image":
      return `<figure><img alt="${esc(b.name)}" src="data:image/png;base64,${Buffer.from(b.png).toString("base64")}">${b.caption ? `<figcaption>${inline(b.caption)}</figcaption>` : ""}</figure>`;
    case "audio":
      return `<figure><audio controls src="data:audio/wav;base64,${Buffer.from(b.wav).toString("base64")}"></audio>${b.caption ? `<figcaption>${inline(b.caption)}</figcaption>` : ""}</figure>`;
    case "code":
      return `${b.caption ? `<p>${inline(b.caption)}</p>` : ""}<pre>${esc(b.text)}</pre>`;
    case "link":
      return `<p><a href="${esc(b.href)}">${esc(b.text)}</a></p>`;
  }
}

/** Markdown with assets (charts as PNG, images, audio) written to `assetsDir` (relative `assetsRel`). */
export async function renderMarkdown(doc: ReportDoc, assetsDir: string, assetsRel = "assets"): Promise<string> {
  mkdirSync(assetsDir, { recursive: true });
  const out: string[] = [`# ${doc.title}`, ""];
  if (doc.subtitle) out.push(doc.subtitle, "");
  for (const s of doc.sections) {
    out.push(`## ${s.heading}`, "");
    for (const b of s.blocks) {
      switch (b.kind) {
        case "text":
          out.push(b.text, "");
          break;
        case "table":
          if (b.caption) out.push(`*${b.caption}*`, "");
          out.push(`| ${b.headers.join(" | ")} |`, `|${b.headers.map(() => "---").join("|")}|`);
          for (const r of b.rows) out.push(`| ${r.map((c) => fmt(c).replace(/\|/g, "\\|")).join(" | ")} |`);
          out.push("");
          break;
        case "chart": {
          const png = svgToPNG(await renderSVG(b.spec));
          writeFileSync(join(assetsDir, `${b.name}.png`), png);
          out.push(`![${b.name}](${assetsRel}/${b.name}.png)`, "");
          if (b.caption) out.push(b.caption, "");
          break;
        }
        case "image":
          writeFileSync(join(assetsDir, `${b.name}.png`), b.png);
          out.push(`![${b.name}](${assetsRel}/${b.name}.png)`, "");
          if (b.caption) out.push(b.caption, "");
          break;
        case "audio":
          writeFileSync(join(assetsDir, `${b.name}.wav`), b.wav);
          out.push(`[${b.name}.wav](${assetsRel}/${b.name}.wav)${b.caption ? ` ${b.caption}` : ""}`, "");
          break;
        case "code":
          if (b.caption) out.push(b.caption, "");
          out.push("```", b.text, "```", "");
          break;
        case "link":
          out.push(`[${b.text}](${b.href})`, "");
          break;
      }
    }
  }
  return out.join("\n");
}

/** Write `report.html` and `report.md` (+ `assets/`) into `dir`. */
export async function writeReport(doc: ReportDoc, dir: string): Promise<{ html: string; md: string }> {
  const html = join(dir, "report.html");
  const md = join(dir, "report.md");
  writeFileAtomic(html, await renderHTML(doc));
  writeFileAtomic(md, await renderMarkdown(doc, join(dir, "assets")));
  return { html, md };
}
