import { mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createRun, openRun } from "../train/run-dir.js";
import { collectSuite } from "./collect.js";
import { machineLine } from "../report/run-report.js";
import type { SuiteState } from "./state.js";

function fakeRun(root: string, experiment: string, o: { preset?: string; seed?: number; wall?: number } = {}): string {
  const run = createRun({ experiment, seed: o.seed ?? 0, config: {}, root, extraMeta: { preset: o.preset ?? "quick" } });
  run.writeSummary({ done: 1 });
  run.updateMeta({ status: "completed", wallSeconds: o.wall ?? 60 });
  return run.dir;
}

describe("collect: a suite site from runs made one at a time", () => {
  it("links the runs in suite order and says in results.md that they were collected", async () => {
    const root = mkdtempSync(join(tmpdir(), "tf-collect-"));
    const fp4 = fakeRun(root, "fp4-training", { wall: 120 });
    const lm = fakeRun(root, "lm", { wall: 30 });
    // An arm copied in from an earlier run (created before this one) adds its wall time; arms this run trained, side by
    // side (together longer than the run's own wall time), are in that time already.
    const arm = (name: string, createdAt: string, wall: number) => {
      const a = createRun({ experiment: `lm/${name}`, seed: 0, config: {}, dir: join(lm, "arms", name) });
      a.writeJson("meta.json", { ...a.meta(), status: "completed", createdAt, wallSeconds: wall });
    };
    arm("copied", "2026-01-01T00:00:00.000Z", 30);
    arm("seed0", openRun(lm).meta().createdAt, 25);
    arm("seed1", openRun(lm).meta().createdAt, 25);
    const r = await collectSuite([fp4, lm], root, new Date("2026-12-07T01:02:03Z"));
    expect(r.dir).toBe(join(root, "suite", "20261207-010203-quick-collected"));
    const state = JSON.parse(readFileSync(join(r.dir, "suite.json"), "utf8")) as SuiteState;
    expect(state.entries.map((e) => [e.name, e.status, e.wallSeconds])).toEqual([
      ["lm", "completed", 60],
      ["fp4-training", "completed", 120],
    ]);
    expect(realpathSync(join(r.dir, "lm"))).toBe(realpathSync(lm));
    const md = readFileSync(r.md, "utf8");
    expect(md.split("\n")[0]).toMatch(/^Suite preset `quick`, seed 0, collected from 2 runs made one at a time \(`tinyfoundry collect`\) between .* total 3 min on /);
    expect(md).toContain("| lm | - | completed | - | 1 | - |");
    expect(md).toContain("| fp4-training | 2501.17116 | completed | - | 2 | - |");
  });

  it("says which runs were made from uncommitted code (meta.gitDirty), in results.md and the machine line", async () => {
    const root = mkdtempSync(join(tmpdir(), "tf-collect-dirty-"));
    const clean = fakeRun(root, "lm");
    const dirty = fakeRun(root, "fp4-training");
    openRun(clean).updateMeta({ gitCommit: "a".repeat(40), gitDirty: false });
    openRun(dirty).updateMeta({ gitCommit: "b".repeat(40), gitDirty: true });
    expect(machineLine(openRun(dirty).meta())).toMatch(/, commit bbbbbbbbbb with uncommitted changes$/);
    expect(machineLine(openRun(clean).meta())).toMatch(/, commit aaaaaaaaaa$/);
    const r = await collectSuite([clean, dirty], root);
    const line = readFileSync(r.md, "utf8").split("\n")[0];
    expect(line).toContain("at commits aaaaaaaaaa, bbbbbbbbbb with uncommitted changes, total");
    expect(line).not.toMatch(/uncommitted changes\)/);
  });

  it("refuses mixed presets or seeds, two runs of one experiment, and a folder that is not a run", async () => {
    const root = mkdtempSync(join(tmpdir(), "tf-collect-bad-"));
    const a = fakeRun(root, "lm");
    await expect(collectSuite([a, fakeRun(root, "fp4-training", { preset: "tiny" })], root)).rejects.toThrow(/must share one preset .* got quick, tiny/);
    await expect(collectSuite([a, fakeRun(root, "over-tokenized", { seed: 1 })], root)).rejects.toThrow(/must share one seed; got 0, 1/);
    await expect(collectSuite([a, fakeRun(root, "lm")], root)).rejects.toThrow(/two runs of "lm"/);
    await expect(collectSuite([root], root)).rejects.toThrow(/is not a run directory/);
    await expect(collectSuite([], root)).rejects.toThrow(/at least one run directory/);
  });
});
