import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { initEngine } from "../engine/index.js";
import { runSuite, suiteNames } from "./reproduce.js";
import { parseVerdicts } from "../train/claims.js";
import { experiments } from "../registry.js";

const CHROMIUM = "/usr/bin/chromium";

describe("reproduction suite (tiny preset, every experiment)", () => {
  let dir = "";
  beforeAll(async () => {
    await initEngine();
    const root = mkdtempSync(join(tmpdir(), "tf-suite-"));
    // Each experiment in its own process, as `tinyfoundry reproduce` runs them.
    const r = await runSuite({ preset: "tiny", root, isolate: { device: "wasm" } });
    dir = r.dir;
  }, 900_000);

  it("runs every registered experiment to completion and writes the site and README table", () => {
    const state = JSON.parse(readFileSync(join(dir, "suite.json"), "utf8")) as { entries: { name: string; status: string }[] };
    expect(state.entries.map((e) => e.name)).toEqual(suiteNames());
    for (const e of state.entries) expect(`${e.name}: ${e.status}`).toBe(`${e.name}: completed`);
    const md = readFileSync(join(dir, "results.md"), "utf8");
    for (const n of Object.keys(experiments)) expect(md).toContain(`| ${n} |`);
    expect(existsSync(join(dir, "index.html"))).toBe(true);
  });

  it("gives the speech entries one WAV cache in the suite directory, which the second entry reads", () => {
    const cache = join(dir, "cache", "speech");
    for (const n of ["omni", "omni-tokenizer"]) {
      const cfg = JSON.parse(readFileSync(join(dir, n, "config.json"), "utf8")) as { speech: { cacheDir: string } };
      expect(cfg.speech.cacheDir).toBe(cache);
      expect(existsSync(join(dir, n, "data", "speech"))).toBe(false);
    }
    expect(readdirSync(cache).filter((f) => f.endsWith(".wav")).length).toBeGreaterThan(10);
    // Entries without speech are left as their presets are.
    expect(JSON.parse(readFileSync(join(dir, "lm", "config.json"), "utf8")).speech).toBeUndefined();
  });

  it("writes a schema-valid verdicts.json in every experiment's run dir, marked as a smoke test", () => {
    for (const n of suiteNames()) {
      const f = join(dir, n, "verdicts.json");
      expect(existsSync(f), `${n}/verdicts.json`).toBe(true);
      const v = parseVerdicts(JSON.parse(readFileSync(f, "utf8")), f);
      expect(v.experiment).toBe(n);
      expect(v.smokeTest).toBe(true);
      for (const c of v.claims) expect(c.gates.every((g) => typeof g.passed === "boolean")).toBe(true);
    }
    // People see "smoke test", not verdict words, for a tiny run.
    const md = readFileSync(join(dir, "results.md"), "utf8");
    expect(md).toContain("Smoke test");
    expect(md).not.toMatch(/\| (reproduced|partly|not reproduced|opposite|not testable) \|/);
  });

  it("`tinyfoundry readme <suite-dir>` fills the README's suite block and leaves its results block", () => {
    const readme = join(dir, "README-test.md");
    const lmBlock = "<!-- results:start (written by `tinyfoundry readme`, do not edit by hand) -->\nLM table\n<!-- results:end -->";
    writeFileSync(readme, `# x\n\n${lmBlock}\n`);
    const bin = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, "readme", dir, "--into", readme], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const text = readFileSync(readme, "utf8");
    expect(text).toContain(lmBlock);
    const a = text.indexOf("<!-- suite:start");
    const b = text.indexOf("<!-- suite:end -->");
    expect(a).toBeGreaterThan(0);
    expect(text.slice(a, b)).toContain(readFileSync(join(dir, "results.md"), "utf8").trim());
  });

  it("resumes without redoing finished experiments", async () => {
    const before = statSync(join(dir, "lm", "summary.json")).mtimeMs;
    const r = await runSuite({ preset: "tiny", resume: dir });
    expect(r.interrupted).toBe(false);
    expect(statSync(join(dir, "lm", "summary.json")).mtimeMs).toBe(before);
  });

  it("renders in headless Chromium: every section and chart, no console errors", async (ctx) => {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} missing: .ci/run installs Debian's chromium`);
      ctx.skip();
      return;
    }
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("requestfailed", (r) => errors.push(`failed to load ${r.url()}`));
      await page.goto(pathToFileURL(join(dir, "index.html")).href, { waitUntil: "load" });
      // The first screen is the verdict board: it starts within the viewport, one row per claim.
      const board = await page.$eval("#verdict-board", (t) => ({ top: t.getBoundingClientRect().top, rows: t.querySelectorAll("tr").length, verdicts: Array.from(t.querySelectorAll("td.verdict"), (c) => c.textContent) }));
      expect(board.top).toBeLessThan(900);
      expect(board.rows).toBeGreaterThan(suiteNames().length);
      for (const v of board.verdicts) expect(v).toBe("smoke test");
      await page.screenshot({ path: join(dir, "first-screen.png") });
      const sections = await page.$$eval("section.paper", (els) => els.map((e) => ({ id: e.id, tables: e.querySelectorAll("table").length, h2: e.querySelector("h2")?.textContent ?? "" })));
      expect(sections.map((s) => s.id)).toEqual(suiteNames());
      for (const s of sections) expect(s.tables, `${s.id} has a results table`).toBeGreaterThan(0);
      const charts = await page.$$eval("figure.chart img", (imgs) => imgs.map((i) => ({ src: i.getAttribute("src"), ok: (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0 })));
      expect(charts.length).toBeGreaterThanOrEqual(sections.length);
      for (const c of charts) expect(c.ok, `chart ${c.src} rendered`).toBe(true);
      const shot = join(dir, "screenshot.png");
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(50_000);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
