/**
 * Reliability: "a kill at any point loses nothing". One tiny LM run is killed with SIGKILL ten
 * times, at random steps and at random moments after start (start-up, data preparation, a
 * checkpoint write, a metrics append), then once more after its final step (the final checkpoint,
 * sample or report), and resumed after each kill through `train lm --resume`; its metrics.jsonl,
 * final checkpoint and summary numbers must equal, byte for byte, those of the same run trained
 * without interruption.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../util/rng.js";

const BIN = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;
const STEPS = 80;
const KILLS = 10;
const ARGS = ["--set", `train.steps=${STEPS}`, "--set", "train.checkpointEvery=4", "--set", "train.evalEvery=6", "--set", "sample.tokens=8"];

type Outcome = { code: number | null; signal: NodeJS.Signals | null; err: string };

/** Start the CLI; `killWhen` is polled every few ms and SIGKILLs the process when it returns true. */
function runCli(args: string[], killWhen?: (elapsedMs: number) => boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TINYFOUNDRY_THREADS: "1" }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const t0 = Date.now();
    const timer = killWhen
      ? setInterval(() => {
          if (child.exitCode === null && killWhen(Date.now() - t0)) child.kill("SIGKILL");
        }, 3)
      : null;
    child.on("exit", (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, err });
    });
  });
}

/** The step of the last complete metrics row (0 when none). */
function lastStep(dir: string | null): number {
  if (!dir || !existsSync(join(dir, "metrics.jsonl"))) return 0;
  let last = 0;
  for (const line of readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n")) {
    try {
      last = (JSON.parse(line) as { step: number }).step;
    } catch {
      /* torn line */
    }
  }
  return last;
}

/** The step recorded in the run's latest checkpoint (0 when none). */
function checkpointStep(dir: string | null): number {
  const f = dir && join(dir, "checkpoints", "latest.safetensors");
  if (!f || !existsSync(f)) return 0;
  const b = readFileSync(f);
  const n = Number(b.readBigUInt64LE(0));
  return Number((JSON.parse(b.subarray(8, 8 + n).toString()) as { __metadata__: { step: string } }).__metadata__.step);
}

const runDirOf = (out: string): string | null => {
  const lm = join(out, "lm");
  if (!existsSync(lm)) return null;
  const d = readdirSync(lm);
  return d.length && existsSync(join(lm, d[0], "meta.json")) ? join(lm, d[0]) : null;
};

describe("SIGKILL at random points, then --resume: nothing is lost", () => {
  it(`${KILLS} kills of one run give the metrics, checkpoint and summary of an uninterrupted run`, async () => {
    const refOut = mkdtempSync(join(tmpdir(), "tf-kill-ref-"));
    const out = mkdtempSync(join(tmpdir(), "tf-kill-"));
    // The reference trains alongside the chain of kills (two cores).
    const reference = runCli(["train", "lm", "--preset", "tiny", ...ARGS, "--out", refOut]);

    const rng = new Rng(Date.now() >>> 0);
    const log: string[] = [];
    let dir: string | null = null;
    let kills = 0;
    for (let attempt = 0; kills < KILLS && attempt < 3 * KILLS; attempt++) {
      const args = dir ? ["train", "lm", "--resume", dir] : ["train", "lm", "--preset", "tiny", ...ARGS, "--out", out];
      const before = lastStep(dir);
      // Every third kill lands at a random moment after start (maybe before any step); the others
      // once training has passed a random step beyond what the metrics already hold.
      const byTime = dir !== null && kills % 3 === 2;
      const atMs = 150 + rng.int(1500);
      const atStep = Math.min(STEPS - 1, before + 1 + rng.int(6));
      // A kill by time also fires once six more steps are done, so a fast machine cannot finish the
      // run before the chain has its ten kills (10 x 6 < STEPS).
      const stepsNow = () => lastStep(dir ?? runDirOf(out));
      const o: Outcome = await runCli(args, (ms) => (byTime ? ms >= atMs || stepsNow() >= before + 6 : stepsNow() >= atStep));
      dir = dir ?? runDirOf(out);
      const what = byTime ? `at ${atMs} ms (or step ${before + 6})` : `at step >= ${atStep}`;
      if (o.signal === "SIGKILL") {
        kills++;
        log.push(`kill ${kills} ${what}: metrics end at step ${lastStep(dir)}`);
      } else {
        log.push(`run ended by itself (code ${o.code}) before the kill ${what}`);
        expect(o.code, `${log.join("\n")}\n${o.err}`).toBe(0);
        if (lastStep(dir) === STEPS && existsSync(join(dir!, "summary.json"))) break;
      }
    }
    expect(kills, log.join("\n")).toBeGreaterThanOrEqual(KILLS);
    // One more kill after the final step (during the final checkpoint, sample or report: a
    // resume must then report the true final numbers), unless that run is too quick to catch.
    const end = await runCli(["train", "lm", "--resume", dir!], () => lastStep(dir) >= STEPS && checkpointStep(dir) === STEPS);
    log.push(end.signal === "SIGKILL" ? "kill after the final step" : `the final phase ended before the kill (code ${end.code})`);
    // The last resume finishes the run.
    const last = await runCli(["train", "lm", "--resume", dir!]);
    expect(last.code, `${log.join("\n")}\n${last.err}`).toBe(0);

    const ref = await reference;
    expect(ref.code, ref.err).toBe(0);
    const refDir = runDirOf(refOut)!;
    const read = (d: string, f: string) => readFileSync(join(d, f));
    expect(read(dir!, "metrics.jsonl").toString(), log.join("\n")).toBe(read(refDir, "metrics.jsonl").toString());
    expect(read(dir!, "checkpoints/latest.safetensors").equals(read(refDir, "checkpoints/latest.safetensors")), "final checkpoints differ").toBe(true);
    const s = JSON.parse(read(dir!, "summary.json").toString()) as Record<string, unknown>;
    const r = JSON.parse(read(refDir, "summary.json").toString()) as Record<string, unknown>;
    for (const k of ["steps", "finalTrainLoss", "valLoss", "valNatsPerByte", "improvementOverBigram", "sample"]) expect(s[k], k).toEqual(r[k]);
    expect(s.tokensPerSec as number).toBeGreaterThan(0);
    expect(JSON.parse(read(dir!, "meta.json").toString()).status).toBe("completed");
  }, 300_000);
});
