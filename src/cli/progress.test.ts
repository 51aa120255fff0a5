import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatEval, latestVal } from "./progress.js";
import { EXPECTED_MINUTES, suiteEtaSeconds } from "../suite/budget.js";

describe("readable evaluation lines", () => {
  it("keeps the few metrics that matter, rounded, and says how many more there are", () => {
    expect(formatEval({ valLoss: 1.758234, valNatsPerByte: 1.758234 })).toBe("valLoss 1.76, valNatsPerByte 1.76");
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`m${i}`, i + 0.123456]));
    expect(formatEval({ ...many, oodSuccess: 0.0312 })).toBe("oodSuccess 0.0312 (+20 more in metrics.jsonl)");
    expect(formatEval(many)).toBe("m0 0.123, m1 1.12, m2 2.12, m3 3.12 (+16 more in metrics.jsonl)");
    expect(formatEval({})).toBeNull();
    expect(latestVal({ loss: 2, valLoss: 1.5 })).toBe("valLoss 1.5");
  });
});

describe("suite ETA", () => {
  const entries = (s: [string, string, number][]) => s.map(([name, status, wallSeconds]) => ({ name, status, wallSeconds }));
  it("sums the remaining entries' estimates, scaled by how finished ones compared with theirs", () => {
    const q = EXPECTED_MINUTES.quick!;
    const e = entries([["lm", "completed", 2 * q.lm * 60], ["fp4-training", "running", 0], ["over-tokenized", "pending", 0]]);
    // lm took twice its estimate: scale 2; fp4 has run 60 s of its 2 x estimate.
    expect(suiteEtaSeconds("quick", e, { name: "fp4-training", seconds: 60 })).toBeCloseTo(2 * q["fp4-training"] * 60 - 60 + 2 * q["over-tokenized"] * 60, 6);
    expect(suiteEtaSeconds("quick", e.map((x) => ({ ...x, status: "completed" })), null)).toBe(0);
    expect(suiteEtaSeconds("full", e, null)).toBeNull();
  });
});

describe("the suite's terminal display (tmux, as a person sees it)", () => {
  it("shows the device first, the site path, and an overall line per experiment with suite elapsed and ETA", async (ctx) => {
    if (spawnSync("tmux", ["-V"]).status !== 0) {
      if (process.env.CI) throw new Error("tmux missing: .ci/apt-packages installs it");
      ctx.skip();
      return;
    }
    const root = mkdtempSync(join(tmpdir(), "tf-tty-"));
    const bin = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;
    const session = `tf${process.pid}`;
    const done = join(root, "done");
    const cmd = `${process.execPath} ${bin} reproduce --preset tiny --only lm --out ${root}; touch ${done}; sleep 30`;
    execFileSync("tmux", ["new-session", "-d", "-s", session, "-x", "200", "-y", "50", cmd]);
    try {
      for (let i = 0; i < 240 && !existsSync(done); i++) await new Promise((r) => setTimeout(r, 500));
      expect(existsSync(done)).toBe(true);
      const screen = execFileSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" });
      const lines = screen.split("\n").filter((l) => l.trim());
      expect(lines[0]).toMatch(/^device wasm, \d thread/);
      expect(screen).toMatch(/site \(rebuilt after each experiment\): .*index\.html/);
      expect(screen).toMatch(/\[1\/1\] lm: running \| suite elapsed \d+s \| suite ETA ~\d+s/);
      expect(screen).toMatch(/\[1\/1\] lm: done \| suite elapsed \d+s \| suite ETA ~0s/);
      expect(screen).toMatch(/lm eval @\d+: valLoss \d/);
      expect(screen).toMatch(/suite: 1\/1 experiments completed/);
      expect(screen).toContain("smoke test");
    } finally {
      spawnSync("tmux", ["kill-session", "-t", session]);
    }
  });
});
