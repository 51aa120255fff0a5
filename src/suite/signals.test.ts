/**
 * Reliability: Ctrl-C on `tinyfoundry reproduce` saves the running experiment's checkpoint at the
 * step it reached, in a terminal and through a pipe (`npm start | tee log`, where the pipe's
 * reader dies with the same Ctrl-C and npm forwards a second SIGINT). The suite parent survives a
 * closed stdout/stderr (EPIPE) until its child has saved, records the experiment as interrupted,
 * and one stop message is printed, not two. A single `train lm` behaves the same.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lmPresets } from "../lm/config.js";
import { createRun } from "../train/run-dir.js";
import { writeJsonAtomic } from "../util/atomic.js";

const BIN = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;

/** A suite directory whose one experiment (lm) is long enough to be interrupted mid-training. */
function longSuite(): string {
  const dir = mkdtempSync(join(tmpdir(), "tf-suite-sig-"));
  const cfg = structuredClone(lmPresets.tiny);
  cfg.train.steps = 100_000;
  cfg.train.checkpointEvery = 100_000; // so the only checkpoint is the one the stop saves
  cfg.train.evalEvery = 100_000;
  cfg.sample.tokens = 0;
  createRun({ experiment: "lm", seed: 0, config: cfg, dir: join(dir, "lm"), extraMeta: { preset: "tiny", suite: dir } });
  const now = new Date().toISOString();
  writeJsonAtomic(join(dir, "suite.json"), { preset: "tiny", seed: 0, createdAt: now, updatedAt: now, entries: [{ name: "lm", status: "pending", wallSeconds: 0 }] });
  return dir;
}

function lastStep(runDir: string): number {
  const f = join(runDir, "metrics.jsonl");
  if (!existsSync(f)) return 0;
  let last = 0;
  for (const line of readFileSync(f, "utf8").split("\n")) {
    try {
      last = (JSON.parse(line) as { step: number }).step;
    } catch {
      /* torn or empty line */
    }
  }
  return last;
}

function checkpointStep(runDir: string): number | null {
  const f = join(runDir, "checkpoints", "latest.safetensors");
  if (!existsSync(f)) return null;
  const b = readFileSync(f);
  const n = Number(b.readBigUInt64LE(0));
  return Number((JSON.parse(b.subarray(8, 8 + n).toString()) as { __metadata__: { step: string } }).__metadata__.step);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start `reproduce --resume dir`, wait for training to pass step 5, then stop it like a Ctrl-C. */
async function interrupt(dir: string, opts: { closePipes: boolean }): Promise<{ code: number | null; signal: string | null; err: string }> {
  const child = spawn(process.execPath, [BIN, "reproduce", "--resume", dir], { env: { ...process.env, TINYFOUNDRY_THREADS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stdout.on("data", () => {});
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
  const t0 = Date.now();
  while (lastStep(join(dir, "lm")) < 5) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`reproduce did not start training: ${err}`);
    await sleep(10);
  }
  if (opts.closePipes) {
    // The reader of the pipe (tee) dies first: every later write of the parent gets EPIPE.
    child.stdout.destroy();
    child.stderr.destroy();
  }
  child.kill("SIGINT"); // the terminal's Ctrl-C
  await sleep(20);
  child.kill("SIGINT"); // npm forwards the same Ctrl-C
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const r = await exited;
  clearTimeout(timer);
  return { ...r, err };
}

function expectSavedAtStop(dir: string): void {
  const run = join(dir, "lm");
  const last = lastStep(run);
  expect(last).toBeGreaterThanOrEqual(5);
  // The checkpoint holds the step training had reached: no step is lost.
  expect(checkpointStep(run)).toBe(last);
  expect((JSON.parse(readFileSync(join(run, "meta.json"), "utf8")) as { status: string }).status).toBe("interrupted");
  const suite = JSON.parse(readFileSync(join(dir, "suite.json"), "utf8")) as { entries: { name: string; status: string }[] };
  expect(suite.entries[0]).toMatchObject({ name: "lm", status: "interrupted" });
}

describe("reproduce: Ctrl-C saves the running experiment, also through a closed pipe", () => {
  it("in a terminal-like pipe: one stop message, checkpoint at the current step, exit 130", async () => {
    const dir = longSuite();
    const r = await interrupt(dir, { closePipes: false });
    expect(r.signal).toBe(null);
    expect(r.code).toBe(130);
    expect(r.err.match(/saving a checkpoint/g) ?? [], r.err).toHaveLength(1);
    expect(r.err).not.toMatch(/exiting without waiting/);
    expect(r.err).toMatch(/stopped; continue with: npx tinyfoundry reproduce --resume /);
    expectSavedAtStop(dir);
    // Nothing keeps training after the suite stopped.
    const step = lastStep(join(dir, "lm"));
    await sleep(300);
    expect(lastStep(join(dir, "lm"))).toBe(step);
  }, 120_000);

  it("through a pipe whose reader died (EPIPE): the parent waits for the child's checkpoint and records the stop", async () => {
    const dir = longSuite();
    const r = await interrupt(dir, { closePipes: true });
    expect(r.signal).toBe(null);
    expect(r.code).toBe(130);
    expectSavedAtStop(dir);
    const step = lastStep(join(dir, "lm"));
    await sleep(300);
    expect(lastStep(join(dir, "lm"))).toBe(step);
  }, 120_000);

  it("`train lm` alone through a dead pipe (npm run lm | tee log, Ctrl-C): checkpoint at the current step, exit 130", async () => {
    const out = mkdtempSync(join(tmpdir(), "tf-lm-sig-"));
    const args = ["train", "lm", "--preset", "tiny", "--out", out, "--set", "train.steps=100000", "--set", "train.checkpointEvery=100000", "--set", "train.evalEvery=100000", "--set", "sample.tokens=0"];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TINYFOUNDRY_THREADS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", () => {});
    child.stderr.on("data", () => {});
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const runDir = () => (existsSync(join(out, "lm")) ? join(out, "lm", readdirSync(join(out, "lm"))[0] ?? "") : out);
    const t0 = Date.now();
    while (lastStep(runDir()) < 5) {
      if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error("train lm did not start training");
      await sleep(10);
    }
    child.stdout.destroy();
    child.stderr.destroy();
    child.kill("SIGINT");
    await sleep(20);
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    const dir = runDir();
    expect(checkpointStep(dir)).toBe(lastStep(dir));
    expect((JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { status: string }).status).toBe("interrupted");
  }, 120_000);
});
