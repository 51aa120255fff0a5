import { beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initEngine, liveBuffers, np, tree, crossEntropy, type Array } from "../engine/index.js";
import { decodeSafetensors, encodeSafetensors, tensorF32, tensorI32 } from "./safetensors.js";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { createRun, openRun } from "./run-dir.js";
import { trainLoop, DivergedError } from "./loop.js";
import { makeTrainStep } from "./step.js";
import { adamwInit, defaultAdamW, defaultDecayMask } from "../optim/adamw.js";
import { defaultLMConfig, initLM, lmForward, type LMParams } from "../nn/transformer.js";
import { lmPresets, trainLM, type LMExperimentConfig } from "../lm/index.js";
import { Rng } from "../util/rng.js";

beforeAll(async () => {
  await initEngine();
});
const tmp = () => mkdtempSync(join(tmpdir(), "tf-train-"));

describe("safetensors", () => {
  it("round-trips bit-exactly, including NaN, -0 and extreme values", () => {
    const f = new Float32Array([1.5, -0, NaN, Infinity, -3.4e38, 1e-45]);
    const i = new Int32Array([-2147483648, 0, 7]);
    const buf = encodeSafetensors({ "b.w": tensorF32([2, 3], f), a: tensorI32([3], i) }, { step: "12" });
    const back = decodeSafetensors(buf);
    expect(back.metadata).toEqual({ step: "12" });
    expect(Buffer.from(back.tensors["b.w"].data).equals(Buffer.from(f.buffer))).toBe(true);
    expect(Buffer.from(back.tensors.a.data).equals(Buffer.from(i.buffer))).toBe(true);
    expect(back.tensors["b.w"].shape).toEqual([2, 3]);
  });
  it("follows the format spec: u64 LE header size, JSON header padded to 8, contiguous offsets", () => {
    const buf = encodeSafetensors({ z: tensorF32([1], new Float32Array([2])), a: tensorF32([2], new Float32Array([3, 4])) }, { k: "v" });
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
    expect(header.__metadata__).toEqual({ k: "v" });
    // tensors sorted by name, offsets relative to the byte after the header, no gaps
    expect(header.a).toEqual({ dtype: "F32", shape: [2], data_offsets: [0, 8] });
    expect(header.z).toEqual({ dtype: "F32", shape: [1], data_offsets: [8, 12] });
    expect(buf.length).toBe(8 + n + 12);
    expect(new Float32Array(buf.slice(8 + n).buffer)).toEqual(new Float32Array([3, 4, 2]));
  });
  it("rejects truncated and inconsistent files with a clear error", () => {
    expect(() => decodeSafetensors(new Uint8Array(4))).toThrow(/has 4 bytes; a safetensors file has at least 8/);
    const buf = encodeSafetensors({ a: tensorF32([2], new Float32Array([3, 4])) });
    expect(() => decodeSafetensors(buf.subarray(0, buf.length - 4))).toThrow(/data_offsets \[0, 8\] end past the 4 data bytes/);
  });
  it("checkpoints params and optimizer state exactly", async () => {
    const cfg = { ...defaultLMConfig, vocabSize: 16, dModel: 8, nLayers: 1, nHeads: 2, contextLength: 8 };
    const params = initLM(cfg, 3);
    const opt = adamwInit(params);
    const f = join(tmp(), "ck.safetensors");
    await saveCheckpoint(f, { params, opt }, { step: 5, state: { rngs: { data: [1, 2, 3, 4] } } });
    const ck = loadCheckpoint(f, { params: initLM(cfg, 99), opt: adamwInit(initLM(cfg, 99)) });
    expect(ck.step).toBe(5);
    expect(ck.state).toEqual({ rngs: { data: [1, 2, 3, 4] } });
    const a = (await params.blocks[0].attn.qkv.w.ref.data()) as Float32Array;
    const b = (await ck.trees.params.blocks[0].attn.qkv.w.ref.data()) as Float32Array;
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    tree.dispose(params);
  });
});

function tinyConfig(steps: number): LMExperimentConfig {
  const c = structuredClone(lmPresets.tiny);
  c.train.steps = steps;
  c.train.evalEvery = 5;
  c.train.checkpointEvery = 5;
  c.sample.tokens = 0;
  return c;
}

describe("training loop", () => {
  it("resumes bit-identically: 20 steps straight equal 10 + resume 10", async () => {
    const cfg = tinyConfig(20);
    const root = tmp();
    const straight = createRun({ experiment: "lm", seed: cfg.seed, config: cfg, root, dir: join(root, "a") });
    await trainLM(cfg, { run: straight });
    const split = createRun({ experiment: "lm", seed: cfg.seed, config: cfg, root, dir: join(root, "b") });
    const ac = new AbortController();
    const first = await trainLM(cfg, {
      run: split,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.kind === "step" && e.step === 10) ac.abort();
      },
    });
    expect(first.status).toBe("interrupted");
    expect(openRun(split.dir).meta().status).toBe("interrupted");
    expect(split.metrics().length).toBe(10);
    const second = await trainLM(cfg, { run: openRun(split.dir), resume: true });
    expect(second.status).toBe("completed");
    const a = straight.metrics<{ step: number; loss: number; valLoss?: number }>();
    const b = split.metrics<{ step: number; loss: number; valLoss?: number }>();
    expect(b.map((r) => r.step)).toEqual(a.map((r) => r.step));
    expect(b).toEqual(a);
    const ca = readFileSync(join(straight.dir, "checkpoints", "latest.safetensors"));
    const cb = readFileSync(join(split.dir, "checkpoints", "latest.safetensors"));
    expect(cb.equals(ca)).toBe(true);
  });
  it("same config and seed give an identical metrics.jsonl; another seed does not", async () => {
    const cfg = tinyConfig(8);
    const root = tmp();
    const r1 = createRun({ experiment: "lm", seed: 0, config: cfg, root, dir: join(root, "1") });
    const r2 = createRun({ experiment: "lm", seed: 0, config: cfg, root, dir: join(root, "2") });
    await trainLM(cfg, { run: r1 });
    await trainLM(cfg, { run: r2 });
    const m1 = readFileSync(join(r1.dir, "metrics.jsonl"), "utf8");
    expect(readFileSync(join(r2.dir, "metrics.jsonl"), "utf8")).toBe(m1);
    const other = { ...cfg, seed: 1 };
    const r3 = createRun({ experiment: "lm", seed: 1, config: other, root, dir: join(root, "3") });
    await trainLM(other, { run: r3 });
    expect(readFileSync(join(r3.dir, "metrics.jsonl"), "utf8")).not.toBe(m1);
  });
  it("the loss falls on a tiny run", async () => {
    const cfg = tinyConfig(30);
    const root = tmp();
    const r = createRun({ experiment: "lm", seed: 0, config: cfg, root, dir: join(root, "x") });
    await trainLM(cfg, { run: r });
    const m = r.metrics<{ loss: number }>();
    const first = (m[0].loss + m[1].loss) / 2;
    const last = (m[m.length - 1].loss + m[m.length - 2].loss) / 2;
    expect(last).toBeLessThan(first - 1);
  });
  it("50 jitted steps do not grow live buffers", async () => {
    const cfg = { ...defaultLMConfig, vocabSize: 32, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 16 };
    let params = initLM(cfg, 0);
    let opt = adamwInit(params);
    const { step, dispose } = makeTrainStep((p: LMParams, x: Array, y: Array) => crossEntropy(lmForward(p, cfg, x).logits, y), {
      adamw: defaultAdamW,
      clip: 1,
      decayMask: defaultDecayMask(params),
    });
    const rng = new Rng(1);
    const batch = () => {
      const x = Int32Array.from({ length: 64 }, () => rng.int(32));
      return [np.array(x, { dtype: np.int32 }).reshape([4, 16]), np.array(x.map((v) => (v + 1) % 32), { dtype: np.int32 }).reshape([4, 16])];
    };
    let after2 = 0;
    for (let i = 1; i <= 50; i++) {
      const o = step(params, opt, batch(), 1e-3, i);
      params = o.params;
      opt = o.opt;
      await o.loss.data();
      await o.gradNorm.data();
      if (i === 2) after2 = liveBuffers();
    }
    expect(liveBuffers()).toBe(after2);
    dispose();
    tree.dispose(params);
  });
  it("stops on a NaN loss with status diverged and keeps the last good checkpoint", async () => {
    const root = tmp();
    const run = createRun({ experiment: "nan", seed: 0, config: {}, root, dir: join(root, "nan") });
    type P = { w: Array };
    const ts = makeTrainStep((p: P, x: Array) => p.w.mul(x).sum(), { adamw: defaultAdamW, clip: 0, decayMask: { w: false } });
    await expect(
      trainLoop<P>({
        run,
        totalSteps: 10,
        init: () => {
          const params = { w: np.array(Float32Array.from([1, 2])) };
          return { params, opt: adamwInit(params) };
        },
        trainStep: ts,
        nextBatch: (s) => [np.array(Float32Array.from(s === 3 ? [NaN, 1] : [1, 1]))],
        lr: () => 0.1,
        rngs: {},
        tokensPerStep: 1,
        evalEvery: 100,
        checkpointEvery: 1,
      }),
    ).rejects.toThrow(DivergedError);
    expect(openRun(run.dir).meta().status).toBe("diverged");
    expect(run.metrics().length).toBe(3);
    const ck = loadCheckpoint(join(run.dir, "checkpoints", "latest.safetensors"), { params: { w: np.zeros([2]) } });
    expect(ck.step).toBe(3);
  });
});
