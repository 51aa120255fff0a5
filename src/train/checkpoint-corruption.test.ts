/**
 * Reliability: a checkpoint is validated completely before anything of its run is touched. Each
 * corrupted checkpoint below is resumed through the experiment runner (as `train lm --resume`
 * does); every one must fail with one line naming the file and the field, and leave every file of
 * the run byte-identical (metrics.jsonl included, which holds rows past the checkpoint as after a
 * kill). Two cases go through the CLI for the exit code and stderr. A completed run resumed is
 * left alone; a run killed after its last checkpoint but before its summary finishes with the
 * right numbers.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { initEngine } from "../engine/index.js";
import { lmExperiment, lmPresets, type LMExperimentConfig, type LMSummary } from "../lm/index.js";
import { createRun, openRun } from "./run-dir.js";
import { quietContext, runExperiment } from "./experiment.js";
import { validateConfig } from "./config.js";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.js";

const BIN = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, TINYFOUNDRY_THREADS: "1" }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** Every file under `dir` (relative path -> bytes as base64), to prove nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p).toString("base64");
    }
  };
  walk(dir);
  return out;
}

const CK = join("checkpoints", "latest.safetensors");
const STEPS = 8;
let root = "";
/** An interrupted run: checkpoint at step 5 of 8, metrics with two rows past it and a torn line (as after a kill). */
let base = "";
/** A completed run of 6 steps. */
let done = "";

function config(steps: number): LMExperimentConfig {
  const c = structuredClone(lmPresets.tiny);
  c.train.steps = steps;
  c.train.checkpointEvery = 2;
  c.train.evalEvery = 4;
  c.sample.tokens = 4;
  return c;
}

beforeAll(async () => {
  await initEngine();
  root = mkdtempSync(join(tmpdir(), "tf-ckpt-"));
  const cfg = config(STEPS);
  const run = createRun({ experiment: "lm", seed: 0, config: cfg, dir: join(root, "base"), extraMeta: { preset: "tiny" } });
  const ac = new AbortController();
  const ctx = { ...quietContext(run, { signal: ac.signal }), onProgress: (e: { kind: string; step?: number }) => e.kind === "step" && e.step === 5 && ac.abort() };
  const out = await runExperiment(lmExperiment, cfg, ctx);
  expect(out.status).toBe("interrupted");
  base = run.dir;
  // The killed process had written two more rows and half a third.
  const rows = readFileSync(join(base, "metrics.jsonl"), "utf8").trim().split("\n");
  expect(rows).toHaveLength(5);
  const last = JSON.parse(rows[4]) as Record<string, number>;
  appendFileSync(join(base, "metrics.jsonl"), JSON.stringify({ ...last, step: 6 }) + "\n" + JSON.stringify({ ...last, step: 7 }) + "\n" + '{"step":8,"lo');

  const c6 = config(6);
  const d = createRun({ experiment: "lm", seed: 0, config: c6, dir: join(root, "done"), extraMeta: { preset: "tiny" } });
  expect((await runExperiment(lmExperiment, c6, quietContext(d))).status).toBe("completed");
  done = d.dir;
}, 120_000);

type Header = Record<string, unknown> & { __metadata__: Record<string, string> };
function readHeader(file: string): { header: Header; n: number; buf: Buffer } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Header, n, buf };
}
/** Rewrite the JSON header in place (same data section); the header is re-padded to 8 bytes. */
function editHeader(file: string, edit: (h: Header) => void): void {
  const { header, n, buf } = readHeader(file);
  edit(header);
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(file, Buffer.concat([len, Buffer.from(json), buf.subarray(8 + n)]));
}
function editMeta(key: string, value: string | undefined): (file: string) => void {
  return (f) =>
    editHeader(f, (h) => {
      if (value === undefined) delete h.__metadata__[key];
      else h.__metadata__[key] = value;
    });
}
function editTensors(edit: (t: ReturnType<typeof decodeSafetensors>["tensors"]) => void): (file: string) => void {
  return (f) => {
    const d = decodeSafetensors(new Uint8Array(readFileSync(f)));
    edit(d.tensors);
    writeFileSync(f, encodeSafetensors(d.tensors, d.metadata));
  };
}
const firstParam = (h: Header) => Object.keys(h).filter((k) => k.startsWith("params.")).sort()[0];

type Case = { name: string; corrupt: (file: string, dir: string) => void; re: RegExp };
const cases: Case[] = [
  { name: 'step "abc"', corrupt: editMeta("step", "abc"), re: /: __metadata__\.step is "abc"; expected an integer from 0 to 8$/ },
  { name: "step -5", corrupt: editMeta("step", "-5"), re: /: __metadata__\.step is "-5"; expected an integer from 0 to 8$/ },
  { name: "step 99999 of 8", corrupt: editMeta("step", "99999"), re: /: __metadata__\.step is "99999"; expected an integer from 0 to 8$/ },
  { name: "step 2.5", corrupt: editMeta("step", "2.5"), re: /: __metadata__\.step is "2\.5"; expected an integer from 0 to 8$/ },
  { name: "no step", corrupt: editMeta("step", undefined), re: /: __metadata__\.step is missing; expected an integer from 0 to 8$/ },
  { name: "not a tinyfoundry checkpoint", corrupt: editMeta("format", "something-else"), re: /: __metadata__\.format is "something-else"; expected "tinyfoundry-checkpoint-v1"$/ },
  { name: "state is not JSON", corrupt: editMeta("state", "{rngs:"), re: /: __metadata__\.state is not valid JSON$/ },
  { name: "an RNG state that is not 4 uint32", corrupt: editMeta("state", JSON.stringify({ rngs: { data: [1, 2, "x"] } })), re: /: __metadata__\.state\.rngs\.data is \[1,2,"x"\]; expected 4 unsigned 32-bit integers, not all 0$/ },
  {
    name: "written with another config",
    corrupt: (_f, dir) => {
      const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as LMExperimentConfig;
      c.train.lr = 0.01;
      writeFileSync(join(dir, "config.json"), JSON.stringify(c, null, 2) + "\n");
    },
    re: /: written with train\.lr = 0\.003, but the run's config\.json has train\.lr = 0\.01$/,
  },
  { name: "header is not JSON", corrupt: (f) => { const b = readFileSync(f); b[8] = "x".charCodeAt(0); writeFileSync(f, b); }, re: /: the header is not valid JSON$/ },
  { name: "header is JSON null", corrupt: (f) => { const b = readFileSync(f); const n = Number(b.readBigUInt64LE(0)); b.write("null".padEnd(n, " "), 8); writeFileSync(f, b); }, re: /: the header is not a JSON object$/ },
  { name: "a tensor entry that is null", corrupt: (f) => editHeader(f, (h) => (h[firstParam(h)] = null)), re: /: tensor "params\.[^"]+" is null; expected \{dtype, shape, data_offsets\}$/ },
  { name: "__metadata__ that is null", corrupt: (f) => editHeader(f, (h) => ((h as Record<string, unknown>).__metadata__ = null)), re: /: __metadata__ is not an object of strings$/ },
  { name: "header length beyond the file", corrupt: (f) => { const b = readFileSync(f); b.writeBigUInt64LE(BigInt(b.length * 2)); writeFileSync(f, b); }, re: /: header length \d+ exceeds the file's \d+ bytes$/ },
  { name: "an empty file", corrupt: (f) => writeFileSync(f, ""), re: /: the file has 0 bytes; a safetensors file has at least 8$/ },
  { name: "truncated to half", corrupt: (f) => { const b = readFileSync(f); writeFileSync(f, b.subarray(0, Math.floor(b.length / 2))); }, re: /: (tensor "[^"]+" data_offsets \[\d+, \d+\] end past the \d+ data bytes of the file|header length \d+ exceeds the file's \d+ bytes)$/ },
  { name: "data_offsets missing", corrupt: (f) => editHeader(f, (h) => delete (h[firstParam(h)] as Record<string, unknown>).data_offsets), re: /: tensor "params\.[^"]+" data_offsets is missing; expected \[begin, end\]$/ },
  { name: "data_offsets past the end", corrupt: (f) => editHeader(f, (h) => ((h[firstParam(h)] as Record<string, unknown>).data_offsets = [0, 1e9])), re: /: tensor "params\.[^"]+" data_offsets \[0, 1000000000\] (end past the \d+ data bytes of the file|do not match its shape)/ },
  { name: "an unknown dtype", corrupt: (f) => editHeader(f, (h) => ((h[firstParam(h)] as Record<string, unknown>).dtype = "F17")), re: /: tensor "params\.[^"]+" dtype is "F17"; expected one of F32, F64, I32, U32, U8, I64, F16$/ },
  { name: "a tensor stored as I32", corrupt: editTensors((t) => { const k = Object.keys(t).filter((x) => x.startsWith("params."))[0]; t[k] = { ...t[k], dtype: "I32" }; }), re: /: tensor "params\.[^"]+" dtype is I32; the model expects F32$/ },
  { name: "a tensor missing", corrupt: editTensors((t) => { delete t[Object.keys(t).filter((x) => x.startsWith("params.")).sort()[0]]; }), re: /: tensor "params\.[^"]+" is missing \(the model expects shape \[\d+(, \d+)*\]\)$/ },
  {
    name: "a tensor of another shape (same bytes)",
    corrupt: editTensors((t) => {
      const k = Object.keys(t).find((x) => x.startsWith("params.") && t[x].shape.length === 2 && t[x].shape[0] !== t[x].shape[1])!;
      t[k] = { ...t[k], shape: [...t[k].shape].reverse() };
    }),
    re: /: tensor "params\.[^"]+" has shape \[\d+, \d+\]; the model expects \[\d+, \d+\]$/,
  },
  {
    name: "NaN in the weights",
    corrupt: editTensors((t) => {
      const k = Object.keys(t).filter((x) => x.startsWith("params.")).sort()[0];
      const f = new Float32Array(t[k].data.slice().buffer);
      f[3] = NaN;
      t[k] = { ...t[k], data: new Uint8Array(f.buffer) };
    }),
    re: /: tensor "params\.[^"]+" holds NaN at index 3; a checkpoint holds finite values only$/,
  },
  {
    name: "Infinity in the optimizer state",
    corrupt: editTensors((t) => {
      const k = Object.keys(t).filter((x) => x.startsWith("opt.v.")).sort()[0];
      const f = new Float32Array(t[k].data.slice().buffer);
      f[0] = Infinity;
      t[k] = { ...t[k], data: new Uint8Array(f.buffer) };
    }),
    re: /: tensor "opt\.v\.[^"]+" holds Infinity at index 0; a checkpoint holds finite values only$/,
  },
];

describe("corrupted checkpoints: one line naming the file and the field, and no file of the run changes", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const dir = join(root, `case-${cases.indexOf(c)}`);
      cpSync(base, dir, { recursive: true });
      const file = join(dir, CK);
      c.corrupt(file, dir);
      const before = snapshot(dir);
      const run = openRun(dir);
      let err: unknown = null;
      try {
        // As the CLI does: the saved config, resumed.
        const cfg = validateConfig(lmExperiment.schema, run.config());
        await runExperiment(lmExperiment, cfg, quietContext(run, { resume: true }));
      } catch (e) {
        err = e;
      }
      expect(err, "the resume must be refused").toBeInstanceOf(Error);
      const msg = (err as Error).message;
      expect(msg.includes("\n"), msg).toBe(false);
      expect(msg.startsWith(`checkpoint ${file}: `), msg).toBe(true);
      expect(msg).toMatch(c.re);
      expect(snapshot(dir)).toEqual(before);
    });
  }
});

describe("a corrupted run file", () => {
  it("config.json that is not JSON is one line naming the file", () => {
    const dir = join(root, "bad-config");
    cpSync(base, dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), '{"seed": 0,');
    expect(() => openRun(dir).config()).toThrow(`run directory: ${join(dir, "config.json")} is not valid JSON`);
  });
});

describe("corrupted checkpoints through the CLI", () => {
  it("`train lm --resume` exits non-zero with one line on stderr and changes nothing", () => {
    const dir = join(root, "cli-step");
    cpSync(base, dir, { recursive: true });
    editMeta("step", "abc")(join(dir, CK));
    const before = snapshot(dir);
    const r = cli(["train", "lm", "--resume", dir]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`tinyfoundry: checkpoint ${join(dir, CK)}: __metadata__.step is "abc"; expected an integer from 0 to 8`);
    expect(r.out).toBe("");
    expect(snapshot(dir)).toEqual(before);
  });
  it("`sample` refuses NaN weights instead of printing NUL bytes", () => {
    const dir = join(root, "cli-nan");
    cpSync(done, dir, { recursive: true });
    editTensors((t) => {
      for (const k of Object.keys(t).filter((x) => x.startsWith("params."))) t[k] = { ...t[k], data: new Uint8Array(new Float32Array(t[k].data.byteLength / 4).fill(NaN).buffer) };
    })(join(dir, CK));
    const before = snapshot(dir);
    const r = cli(["sample", dir, "--prompt", "The whale", "--tokens", "5"]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(new RegExp(`^tinyfoundry: checkpoint ${join(dir, CK).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: tensor "params\\.[^"]+" holds NaN at index 0; a checkpoint holds finite values only$`));
    expect(r.out).toBe("");
    expect(snapshot(dir)).toEqual(before);
  });
});

describe("corrupted checkpoints in a suite", () => {
  it("`reproduce --resume` reports the line for that experiment and leaves its run as it was", () => {
    const suite = join(root, "suite");
    cpSync(base, join(suite, "lm"), { recursive: true });
    editMeta("step", "abc")(join(suite, "lm", CK));
    const now = new Date().toISOString();
    writeFileSync(join(suite, "suite.json"), JSON.stringify({ preset: "tiny", seed: 0, createdAt: now, updatedAt: now, entries: [{ name: "lm", status: "interrupted", wallSeconds: 0 }] }));
    const before = snapshot(join(suite, "lm"));
    const r = cli(["reproduce", "--resume", suite]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`failed: lm (checkpoint ${join(suite, "lm", CK)}: __metadata__.step is "abc"; expected an integer from 0 to 8)`);
    expect(snapshot(join(suite, "lm"))).toEqual(before);
    const state = JSON.parse(readFileSync(join(suite, "suite.json"), "utf8")) as { entries: { status: string }[] };
    expect(state.entries[0].status).toBe("failed");
  });
});

describe("resuming finished work", () => {
  it("`train lm --resume` of a completed run says so and changes no byte", () => {
    const dir = join(root, "cli-done");
    cpSync(done, dir, { recursive: true });
    const before = snapshot(dir);
    const r = cli(["train", "lm", "--resume", dir]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/lm: this run has already completed; nothing was changed/);
    expect(snapshot(dir)).toEqual(before);
  });
  it("a run killed after its last checkpoint but before its summary finishes with the true final loss", async () => {
    const dir = join(root, "killed-at-end");
    cpSync(done, dir, { recursive: true });
    const want = openRun(done).summary<LMSummary>()!;
    for (const f of ["summary.json", "verdicts.json", "report.html", "report.md", "results.md"]) rmSync(join(dir, f), { force: true });
    const run = openRun(dir);
    run.updateMeta({ status: "running" });
    const metricsBefore = readFileSync(join(dir, "metrics.jsonl"), "utf8");
    const out = await runExperiment(lmExperiment, validateConfig(lmExperiment.schema, run.config()), quietContext(run, { resume: true }));
    expect(out.status).toBe("completed");
    const s = openRun(dir).summary<LMSummary>()!;
    expect(s.finalTrainLoss).toBe(want.finalTrainLoss);
    expect(s.valLoss).toBe(want.valLoss);
    expect(s.steps).toBe(6);
    expect(s.tokensPerSec).toBeGreaterThan(0);
    expect(s.sample).toBe(want.sample);
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8")).toBe(metricsBefore);
  });
});
