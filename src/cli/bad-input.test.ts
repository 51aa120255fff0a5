/**
 * Reliability: every input the CLI can check before a run exists is checked first. Each bad input
 * gets exit code 2 (1 for an unreachable server), exactly one line on stderr naming the option and
 * what is wrong, nothing on stdout, and no run directory. The cases run as real child processes
 * through bin/tinyfoundry.js, two at a time, each under a timeout (a hang is a failure).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRun, makeDirs } from "../train/run-dir.js";
import { checkMemory, lmStepBytes, speedHints } from "./preflight.js";

const BIN = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;

type Result = { code: number | null; signal: string | null; out: string; err: string; ms: number };

function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Result> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TINYFOUNDRY_THREADS: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0 });
    });
  });
}

/** A TCP port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const files = mkdtempSync(join(tmpdir(), "tf-bad-files-"));
const empty = join(files, "empty.txt");
writeFileSync(empty, "");
const five = join(files, "five.txt");
writeFileSync(five, "hello");
const folder = join(files, "a-folder");
mkdirSync(folder);
const binary = join(files, "random.bin");
// Bytes that are not UTF-8 (0xff never occurs in UTF-8), as in any image or archive.
writeFileSync(binary, Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 97 + 255) % 256)));
const nul = join(files, "nul.txt");
writeFileSync(nul, "a".repeat(1500) + "\0" + "b".repeat(1500));
const short = join(files, "short.txt");
writeFileSync(short, "All work and no play makes Jack a dull boy. ".repeat(30)); // 1320 bytes
const aFile = join(files, "plain-file");
writeFileSync(aFile, "x");

type Case = { name: string; args: (out: string) => string[] | Promise<string[]>; env?: Record<string, string>; code: number; re: RegExp; fastMs?: number };

const train = (out: string, ...extra: string[]) => ["train", "lm", "--preset", "tiny", "--out", out, ...extra];

const cases: Case[] = [
  { name: "--data: an empty file", args: (o) => train(o, "--data", empty), code: 2, re: /^tinyfoundry: --data: .*empty\.txt is empty$/ },
  { name: "--data: a 5-byte file", args: (o) => train(o, "--data", five), code: 2, re: /^tinyfoundry: --data: .*five\.txt has 5 characters; need at least 1000$/ },
  { name: "--data: a directory", args: (o) => train(o, "--data", folder), code: 2, re: /^tinyfoundry: --data: .*a-folder is a directory, not a file$/ },
  { name: "--data: a binary file", args: (o) => train(o, "--data", binary), code: 2, re: /^tinyfoundry: --data: .*random\.bin is not UTF-8 text \(invalid byte at offset \d+\)$/ },
  { name: "--data: a file with a NUL byte", args: (o) => train(o, "--data", nul), code: 2, re: /^tinyfoundry: --data: .*nul\.txt is not text \(a NUL byte at offset 1500\)$/ },
  {
    name: "--data: too short for one batch of the context",
    args: (o) => train(o, "--data", short, "--set", "model.contextLength=256"),
    code: 2,
    re: /^tinyfoundry: --data: .*short\.txt gives \d+ validation tokens; one batch of context 256 needs at least 257 \(a longer file or a smaller model\.contextLength\)$/,
  },
  { name: "model.contextLength=1e9", args: (o) => train(o, "--set", "model.contextLength=1e9"), code: 2, re: /^tinyfoundry: memory: this model and batch need about [\d.,]+ GiB .*; jax-js's wasm memory is limited to 4 GiB/, fastMs: 15_000 },
  { name: "train.batchSize=1e12", args: (o) => train(o, "--set", "train.batchSize=1e12"), code: 2, re: /^tinyfoundry: memory: this model and batch need about [\d.,e+]+ GiB .*; jax-js's wasm memory is limited to 4 GiB/, fastMs: 15_000 },
  { name: "model.nLayers=100000", args: (o) => train(o, "--set", "model.nLayers=100000"), code: 2, re: /^tinyfoundry: memory: this model and batch need about [\d.,]+ GiB .*; jax-js's wasm memory is limited to 4 GiB/, fastMs: 15_000 },
  { name: "--threads 0", args: (o) => train(o, "--threads", "0"), code: 2, re: /^tinyfoundry: --threads: expected an integer from 1 to 64, got "0"$/ },
  { name: "--threads 99", args: (o) => train(o, "--threads", "99"), code: 2, re: /^tinyfoundry: --threads: expected an integer from 1 to 64, got "99"$/ },
  { name: "--threads=abc", args: (o) => ["--threads=abc", ...train(o)], code: 2, re: /^tinyfoundry: --threads: expected an integer from 1 to 64, got "abc"$/ },
  { name: "TINYFOUNDRY_THREADS=abc", args: (o) => train(o), env: { TINYFOUNDRY_THREADS: "abc" }, code: 2, re: /^tinyfoundry: TINYFOUNDRY_THREADS: expected an integer from 1 to 64, got "abc"$/ },
  { name: "--out /proc/forbidden", args: () => train("/proc/forbidden"), code: 2, re: /^tinyfoundry: --out: \/proc\/forbidden is on a proc pseudo-filesystem \(\/proc\); choose a folder on a disk$/, fastMs: 15_000 },
  { name: "--out under a regular file", args: () => train(join(aFile, "runs")), code: 2, re: /^tinyfoundry: --out: .*plain-file is a file, not a folder$/ },
  { name: "reproduce --out /proc/forbidden", args: () => ["reproduce", "--preset", "tiny", "--only", "lm", "--out", "/proc/forbidden"], code: 2, re: /^tinyfoundry: --out: \/proc\/forbidden is on a proc pseudo-filesystem \(\/proc\); choose a folder on a disk$/, fastMs: 15_000 },
  {
    name: "eval against an unreachable base URL",
    args: async (o) => ["eval", "general-points", "--policy", "openai", "--episodes", "1", "--base-url", `http://127.0.0.1:${await closedPort()}/v1`, "--out", o],
    code: 1,
    re: /^tinyfoundry: --base-url: cannot reach http:\/\/127\.0\.0\.1:\d+\/v1 \(ECONNREFUSED\); start a server \(tinyfoundry serve <run-dir>\) or pass another --base-url$/,
  },
  {
    name: "eval with a base URL that is not a URL",
    args: (o) => ["eval", "general-points", "--policy", "openai", "--base-url", "not a url", "--out", o],
    code: 2,
    re: /^tinyfoundry: --base-url: "not a url" is not an http\(s\) URL$/,
  },
];

describe("CLI: bad input is rejected before anything is written (one line, no run directory, no hang)", () => {
  // Two processes at a time: the cases are independent and each is mostly process start-up.
  const results = new Map<string, Promise<{ r: Result; out: string }>>();
  beforeAll(() => {
    const queue: (() => Promise<void>)[] = [];
    for (const c of cases) {
      results.set(
        c.name,
        new Promise((resolve) => {
          queue.push(async () => {
            const out = join(mkdtempSync(join(tmpdir(), "tf-bad-out-")), "runs");
            resolve({ r: await cli(await c.args(out), c.env), out });
          });
        }),
      );
    }
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    };
    void Promise.all([worker(), worker()]);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const { r, out } = await results.get(c.name)!;
      expect(r.signal, `killed after ${r.ms} ms (a hang); stderr: ${r.err}`).toBe(null);
      expect(r.err.trim().split("\n"), r.err).toHaveLength(1);
      expect(r.err.trim()).toMatch(c.re);
      expect(r.code).toBe(c.code);
      expect(r.out).toBe("");
      // Nothing was created: not the runs root, let alone a run directory.
      expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
      if (c.fastMs) expect(r.ms).toBeLessThan(c.fastMs);
    }, 60_000);
  }
});

describe("run directories are made without recursive mkdir", () => {
  it("createRun under /proc fails at once with one line; under a fresh folder it makes the chain", () => {
    const t0 = Date.now();
    expect(() => createRun({ experiment: "lm", seed: 0, config: {}, root: "/proc/forbidden" })).toThrow(/^cannot create \/proc\/forbidden\/lm\/.*: \/proc\/forbidden\/lm\/.* is on a proc pseudo-filesystem \(\/proc\); choose a folder on a disk$/);
    expect(Date.now() - t0).toBeLessThan(1000);
    const root = join(mkdtempSync(join(tmpdir(), "tf-mk-")), "a", "b");
    const run = createRun({ experiment: "lm", seed: 0, config: {}, root });
    expect(existsSync(join(run.dir, "config.json"))).toBe(true);
    expect(() => makeDirs(join(aFile, "x"))).toThrow(/plain-file is a file, not a folder$/);
  });
});

describe("the memory estimate refuses no preset", () => {
  it("every preset of every registered experiment fits (the estimate is a lower bound)", async () => {
    const { experiments } = await import("../registry.js");
    for (const [name, exp] of Object.entries(experiments)) {
      for (const [preset, cfg] of Object.entries(exp.presets)) expect(() => checkMemory(cfg as Parameters<typeof checkMemory>[0]), `${name} ${preset}`).not.toThrow();
    }
    // The full LM preset: about 0.4 GiB by this bound, far below 4 GiB.
    const { lmPresets } = await import("../lm/config.js");
    expect(lmStepBytes(lmPresets.full.model, lmPresets.full.train.batchSize).bytes / 2 ** 30).toBeLessThan(1);
  });
});

describe("speed notes on a model's shapes", () => {
  it("name the field when a width or the context is off the multiples of 4, and stay silent on the presets", async () => {
    const model = { dModel: 256, mlpRatio: 8 / 3, contextLength: 256, mlp: "swiglu" };
    expect(speedHints({ model })).toEqual([expect.stringMatching(/^model\.mlpRatio: the MLP width 683 .* Set model\.mlpMultipleOf to 4 .* make it 684$/)]);
    expect(speedHints({ model: { ...model, mlpMultipleOf: 4 } })).toEqual([]);
    expect(speedHints({ model: { ...model, mlpRatio: 4, dModel: 30, contextLength: 43 } }).map((h) => h.split(":")[0])).toEqual(["model.dModel", "model.contextLength"]);
    expect(speedHints({ model: { ...model, mlpRatio: 4, contextLength: 43, seqMultipleOf: 4 } })).toEqual([]);
    expect(speedHints({})).toEqual([]);
    const { experiments } = await import("../registry.js");
    for (const [name, exp] of Object.entries(experiments))
      for (const [preset, cfg] of Object.entries(exp.presets)) expect(speedHints(cfg as Parameters<typeof speedHints>[0]), `${name} ${preset}`).toEqual([]);
  });
});
