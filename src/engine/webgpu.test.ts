/**
 * The WebGPU path checked in a real browser: the reference step's model (tiny size) trains a few
 * steps on jax-js's WebGPU backend inside headless Chromium, and its losses equal the same steps
 * run here on wasm to 4 decimals. Without a GPU, Chromium's SwiftShader adapter provides WebGPU
 * (slow: this is a correctness check; the tokens/s of both are printed, not asserted).
 *
 * The page's code is bench/webgpu/page.ts bundled by esbuild for the browser, with the engine's
 * two Node-only modules aliased to browser stand-ins; jax-js is loaded unbundled from
 * node_modules through an import map. A small HTTP server on 127.0.0.1 serves both (WebGPU needs
 * a secure context, which http://localhost is).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { build, type Plugin } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { initEngine } from "./index.js";
import { runRefSteps, TINY_REF_STEPS, type RefStepsOptions, type RefStepsResult } from "../../bench/webgpu/ref-steps.js";
import type { PageRun } from "../../bench/webgpu/page.js";

const CHROMIUM = "/usr/bin/chromium";
const root = fileURLToPath(new URL("../..", import.meta.url));
const pageDir = join(root, "bench", "webgpu");
const jaxDist = dirname(createRequire(import.meta.url).resolve("@jax-js/jax"));

/** Resolve the engine's `./node-shims.js` and `./buffers.js` to the page's browser stand-ins. */
const browserStandIns: Plugin = {
  name: "browser-stand-ins",
  setup(b) {
    b.onResolve({ filter: /^\.\/(node-shims|buffers)\.js$/ }, (args) => {
      if (!args.importer.startsWith(join(root, "src", "engine"))) return undefined;
      return { path: join(pageDir, args.path.replace(/\.js$/, ".ts")) };
    });
  },
};

async function bundlePage(): Promise<string> {
  const r = await build({
    entryPoints: [join(pageDir, "page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    external: ["@jax-js/jax"],
    plugins: [browserStandIns],
    write: false,
    logLevel: "silent",
  });
  const text = r.outputFiles[0].text;
  // Nothing of Node may reach the page.
  if (/["']node:/.test(text)) throw new Error("the page bundle imports a node: module");
  return text;
}

const HTML = `<!doctype html>
<meta charset="utf-8">
<title>tinyfoundry WebGPU reference steps</title>
<link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "@jax-js/jax": "/jax/index.js" } }</script>
<script type="module" src="/page.js"></script>
`;

function serve(bundle: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (url.pathname === "/") return send(200, "text/html; charset=utf-8", HTML);
    if (url.pathname === "/page.js") return send(200, "text/javascript", bundle);
    // jax-js's own files, by plain file name from its dist folder only.
    const m = /^\/jax\/([\w.-]+\.js)$/.exec(url.pathname);
    if (m && basename(m[1]) === m[1] && existsSync(join(jaxDist, m[1]))) return send(200, "text/javascript", readFileSync(join(jaxDist, m[1])));
    send(404, "text/plain", "not found");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function report(name: string, o: RefStepsOptions, r: RefStepsResult): string {
  return `${name}: losses ${r.losses.map((l) => l.toFixed(6)).join(" ")}; first step ${r.firstStepMs.toFixed(0)} ms; then ${r.msPerStep.toFixed(1)} ms/step, ${r.tokensPerSec.toFixed(0)} tokens/s (batch ${o.batch} x ${o.model.contextLength})`;
}

describe("WebGPU in headless Chromium (SwiftShader): reference steps match wasm", () => {
  const opts = TINY_REF_STEPS;
  let missing = "";
  let browser: Browser | null = null;
  let server: Server | null = null;
  let page: Page | null = null;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      missing = `${CHROMIUM} missing: install Debian's chromium (.ci/apt-packages) to run the WebGPU check`;
      if (process.env.CI) throw new Error(`${CHROMIUM} missing: .ci/run installs Debian's chromium`);
      return;
    }
    server = await serve(await bundlePage());
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--enable-unsafe-webgpu",
        "--use-webgpu-adapter=swiftshader",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    page = await browser.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("response", (r) => {
      if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
    });
    const port = (server.address() as AddressInfo).port;
    await page.goto(`http://localhost:${port}/`, { waitUntil: "load" });
    await page.waitForFunction(() => "tinyfoundryRefSteps" in globalThis, undefined, { timeout: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it("trains the tiny reference model on webgpu with the wasm run's losses (4 decimals)", async (ctx) => {
    if (missing) {
      console.log(`skipped: ${missing}`);
      ctx.skip();
      return;
    }
    const gpu = await page!.evaluate(
      ([o]) => (globalThis as unknown as { tinyfoundryRefSteps: (d: string, o: RefStepsOptions) => Promise<PageRun> }).tinyfoundryRefSteps("webgpu", o),
      [opts] as const,
    );
    expect(gpu.available).toContain("webgpu");
    expect(gpu.device).toBe("webgpu");

    await initEngine({ device: "wasm" });
    const cpu = await runRefSteps(opts);

    console.log(report(`webgpu (adapter: ${gpu.adapter}; ${gpu.userAgent})`, opts, gpu));
    console.log(report("wasm (Node, 1 thread)", opts, cpu));

    expect(gpu.losses).toHaveLength(opts.steps);
    expect(cpu.losses).toHaveLength(opts.steps);
    for (const l of cpu.losses) expect(Number.isFinite(l)).toBe(true);
    // The steps train: the loss falls from the first batch to the last.
    expect(cpu.losses[opts.steps - 1]).toBeLessThan(cpu.losses[0]);
    // The same to 4 decimals, step by step (|a - b| < 5e-5).
    for (let i = 0; i < opts.steps; i++) expect(gpu.losses[i], `step ${i + 1}`).toBeCloseTo(cpu.losses[i], 4);
    expect(errors).toEqual([]);
  }, 120_000);
});
