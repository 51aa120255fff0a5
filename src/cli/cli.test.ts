import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, TINYFOUNDRY_THREADS: "1", ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("CLI: bad input gets one line naming the field and what is allowed, and writes nothing", () => {
  const out = mkdtempSync(join(tmpdir(), "tf-cli-bad-"));
  const cases: [string[], RegExp][] = [
    [["--set", "train.lr=abc"], /^tinyfoundry: config: train\.lr is "abc"; expected a number$/],
    [["--set", "model.norm=batch"], /^tinyfoundry: config: model\.norm is "batch"; expected one of "rms", "layer"$/],
    [["--set", "model.widht=3"], /^tinyfoundry: --set model\.widht: unknown key "widht" in model; allowed: vocabSize, dModel, .*$/],
    [["--set", "train.steps=-5"], /^tinyfoundry: config: train\.steps is -5; expected a value > 0$/],
    [["--preset", "huge"], /^tinyfoundry: --preset: "huge" is not a preset; allowed: tiny, quick, full$/],
    [["--seed", "x"], /^tinyfoundry: --seed: expected a non-negative integer, got "x"$/],
    [["--data", "/no/such.txt"], /^tinyfoundry: --data: file not found: \/no\/such\.txt$/],
  ];
  for (const [args, re] of cases) {
    it(args.join(" "), () => {
      const r = cli(["train", "lm", "--preset", "tiny", "--out", out, ...args]);
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      const lines = r.err.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(re);
      expect(readdirSync(out)).toEqual([]);
    });
  }
  it("an unknown experiment and a bad --device", () => {
    const r = cli(["run", "nope", "--out", out]);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toMatch(/^tinyfoundry: experiment "nope" is not known; allowed: lm/);
    const d = cli(["train", "lm", "--device", "tpu", "--out", out]);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/^tinyfoundry: .*--device.*tpu.*Allowed choices are wasm, webgpu, cpu/);
    expect(readdirSync(out)).toEqual([]);
  });
  it("near misses get a suggestion; usage errors share one prefix and exit code 2", () => {
    expect(cli(["run", "fp4", "--out", out]).err.trim()).toMatch(/^tinyfoundry: experiment "fp4" is not known \(did you mean "fp4-training"\?\); allowed: /);
    expect(cli(["run", "mixture-of-mambo", "--out", out]).err.trim()).toMatch(/did you mean "mixture-of-mamba"\?/);
    expect(cli(["train", "lm", "--preset", "quik", "--out", out]).err.trim()).toMatch(/^tinyfoundry: --preset: "quik" is not a preset \(did you mean "quick"\?\)/);
    expect(cli(["reproduce", "--only", "omnni", "--out", out]).err.trim()).toMatch(/^tinyfoundry: --only: "omnni" is not an experiment \(did you mean "omni"\?\)/);
    const u = cli(["train", "lm", "--bogus"]);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/^tinyfoundry: unknown option '--bogus'/);
    const data = cli(["run", "omni", "--data", BIN, "--out", out]);
    expect(data.code).toBe(2);
    expect(data.err.trim()).toBe('tinyfoundry: --data: experiment "omni" takes no text corpus; experiments that do: lm, fp4-training, mixture-of-mamba');
    expect(cli(["--help"]).code).toBe(0);
    expect(readdirSync(out)).toEqual([]);
  });
  it("help shows numeric defaults as numbers and --threads on every training command", () => {
    const s = cli(["sample", "--help"]).out;
    expect(s).toContain("(default: 200)");
    expect(s).not.toMatch(/default: "\d/);
    expect(cli(["run", "--help"]).out).toContain("--threads <n>");
    expect(cli(["train", "lm", "--help"]).out).toContain("--threads <n>");
  });
  it("readme with a bad --block name", () => {
    const r = cli(["readme", out, "--into", join(out, "README.md"), "--block", "Bad Name"]);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe('tinyfoundry: --block: "Bad Name" is not a marker name; allowed: lowercase letters, digits and "-", starting with a letter');
    expect(readdirSync(out)).toEqual([]);
  });
});

describe("CLI: train, sample, list, report", () => {
  it("trains the tiny preset end to end and reuses the run", () => {
    const out = mkdtempSync(join(tmpdir(), "tf-cli-ok-"));
    const r = cli(["train", "lm", "--preset", "tiny", "--set", "train.steps=6", "--set", "train.evalEvery=3", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/lm: done/);
    expect(r.out).toMatch(/valNatsPerByte: \d/);
    const runs = readdirSync(join(out, "lm"));
    expect(runs.length).toBe(1);
    const dir = join(out, "lm", runs[0]);
    for (const f of ["config.json", "meta.json", "metrics.jsonl", "summary.json", "report.html", "report.md", "checkpoints/latest.safetensors", "split.json"]) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { status: string; versions: Record<string, string>; machine: { cores: number } };
    expect(meta.status).toBe("completed");
    expect(meta.versions["@jax-js/jax"]).toBe("0.1.25");
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").length).toBe(6);
    // plain log lines (not a TTY) with step, loss and ETA
    expect(r.err).toMatch(/lm step 6\/6: loss \d\.\d+ \| lr .* \| ETA/);

    const s = cli(["sample", dir, "--prompt", "The whale", "--tokens", "10", "--temperature", "0"]);
    expect(s.code).toBe(0);
    expect(s.out.startsWith("The whale")).toBe(true);
    const bad = cli(["sample", dir, "--prompt", "x", "--temperature", "-1"]);
    expect(bad.code).toBe(2);
    expect(bad.err.trim()).toBe('tinyfoundry: --temperature: expected a number in [0, 10], got "-1"');

    const l = cli(["list", "--root", out]);
    expect(l.out.split("\n")[0]).toMatch(/^run +experiment +preset +status +wall +verdicts \| last metrics$/);
    expect(l.out).toMatch(/ lm +tiny +completed +[\d.]+ min +1 claim, smoke test \| step 6, loss \d\.\d+/);

    const resumed = cli(["train", "lm", "--resume", dir]);
    expect(resumed.code).toBe(0);
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").length).toBe(6);

    // One finished run: its experiment's own report again, not the generic one over it.
    const own = readFileSync(join(dir, "report.md"), "utf8");
    const one = cli(["report", dir]);
    expect(one.code).toBe(0);
    expect(one.out.trim().split("\n")).toEqual([join(dir, "report.html"), join(dir, "report.md")]);
    // (the runner writes its report just before it marks the run completed)
    expect(readFileSync(join(dir, "report.md"), "utf8")).toBe(own.replace("status **running**", "status **completed**"));

    const cmp = cli(["report", dir, dir, "--out", join(out, "cmp")]);
    expect(cmp.code).toBe(0);
    const html = readFileSync(join(out, "cmp", "report.html"), "utf8");
    expect(html).toMatch(/<svg/);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });
});

describe("CLI: SIGTERM saves a checkpoint and --resume finishes the run", () => {
  it("stops cleanly mid-run and resumes to the same number of metric rows", async () => {
    const out = mkdtempSync(join(tmpdir(), "tf-cli-sig-"));
    const child = spawn(process.execPath, [BIN, "train", "lm", "--preset", "tiny", "--set", "train.steps=150", "--set", "train.checkpointEvery=20", "--out", out], {
      env: { ...process.env, TINYFOUNDRY_THREADS: "1" },
    });
    let err = "";
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        if (/step \d+\/150/.test(err) && !child.killed) child.kill("SIGTERM");
      });
      child.on("exit", (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(err).toMatch(/SIGTERM: saving a checkpoint and stopping/);
    const dir = join(out, "lm", readdirSync(join(out, "lm"))[0]);
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as { status: string; message: string };
    expect(meta.status).toBe("interrupted");
    expect(meta.message).toMatch(/--resume/);
    expect(existsSync(join(dir, "checkpoints", "latest.safetensors"))).toBe(true);
    const rows = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").length;
    expect(rows).toBeLessThan(150);
    const r = cli(["train", "lm", "--resume", dir]);
    expect(r.code).toBe(0);
    const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    expect(lines.map((l) => l.step)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });
});
