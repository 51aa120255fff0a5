/**
 * Unit tests of the SFT-vs-RL pieces: tokenizer and chat rendering, response-only SFT masking, the weighted
 * log-prob split at the answer key, GAE and advantage normalisation against hand-computed values, PPO's clipped
 * objective against a host computation, batched-prefill KV-cache generation against full recomputation.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { disposeTree, initEngine, jnn, liveBuffers, np, refTree, type Array } from "../../engine/index.js";
import { checkSolution, GeneralPointsEnv, isSolvable } from "../../envs/index.js";
import { generate, greedyFull } from "../../nn/generate.js";
import { defaultLMConfig, initLM, lmForward, type LMConfig } from "../../nn/transformer.js";
import { arithmeticProbes, make24Probes, make24Solved, ruleProbes, stage0Corpus, withValue } from "./corpus.js";
import { gae, initValueHead, keySplitWeights, normalizeAdvantages, ppoLoss, sftExample, sftLoss, valueHead, valueHeadHost, valueHeadToHost, weightedLogProb } from "./model.js";
import { ppoLr } from "./ppo.js";
import { answerTokens, END, GP_PHRASES, PhraseTokenizer, renderChat } from "./tokenizer.js";
import { Rng } from "../../util/rng.js";

const tok = new PhraseTokenizer(GP_PHRASES);
const cfg: LMConfig = { ...defaultLMConfig, vocabSize: tok.vocabSize, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 64, norm: "rms", pos: "rope", mlp: "gelu" };

async function host(a: Array): Promise<number[]> {
  return Array.from((await a.data()) as Float32Array);
}

beforeAll(async () => {
  await initEngine();
});

describe("phrase tokenizer and chat rendering", () => {
  it("round-trips any text and compresses the GeneralPoints prompt and answer", () => {
    const env = new GeneralPointsEnv({ split: "ood" });
    const obs = env.reset(7);
    for (const s of [obs.text, env.expertAnswer(), "héllo {\n  \"cards\": ['Q'", ""]) expect(tok.decode(tok.encode(s))).toBe(s);
    const ids = tok.encode(obs.text);
    expect(ids.length).toBeLessThan(obs.text.length / 4);
    expect(answerTokens(tok, env.expertAnswer()).length).toBeLessThan(50);
    // The rule values stay readable digit by digit: "11", "12", "13" appear as byte tokens.
    expect(tok.decode(ids)).toContain("count as '11', '12', and '13' respectively");
  });
  it("renders chats with the task kept and the oldest revision turns dropped first", () => {
    const msgs = [
      { role: "user" as const, content: "TASK" },
      { role: "assistant" as const, content: "a1" },
      { role: "user" as const, content: "f1" },
      { role: "assistant" as const, content: "a2" },
      { role: "user" as const, content: "f2" },
    ];
    const full = tok.decode(renderChat(tok, msgs, 1000));
    expect(full).toBe("<|user|>\nTASK<|end|>\n<|assistant|>\na1<|end|>\n<|user|>\nf1<|end|>\n<|assistant|>\na2<|end|>\n<|user|>\nf2<|end|>\n<|assistant|>\n");
    const headLen = renderChat(tok, msgs.slice(0, 1), 1000).length;
    const pair = tok.encode("<|assistant|>\na2<|end|>\n<|user|>\nf2<|end|>\n").length;
    const cut = tok.decode(renderChat(tok, msgs, headLen + pair));
    expect(cut).toBe("<|user|>\nTASK<|end|>\n<|assistant|>\na2<|end|>\n<|user|>\nf2<|end|>\n<|assistant|>\n");
    expect(() => renderChat(tok, msgs, 3)).toThrow(/exceeds the context budget/);
  });
});

describe("stage-0 corpus", () => {
  const faceValues = (text: string): number[] => {
    const face = /count as '(\d+)'(?:, '(\d+)', and '(\d+)')?/.exec(text)!;
    return face[2] ? [face[1], face[2], face[3]].map(Number) : [Number(face[1]), Number(face[1]), Number(face[1])];
  };
  const numbersOf = (cards: string[], vals: number[] | null) => cards.map((c) => (c === "J" || c === "Q" || c === "K" ? (vals ? vals["JQK".indexOf(c)] : { J: 11, Q: 12, K: 13 }[c]!) : c === "A" ? 1 : Number(c)));
  const listOf = (s: string) => s.split(", ").map((c) => c.replace(/'/g, ""));
  const text = stage0Corpus(new Rng(1, "t"), 60_000);
  const docs = text.split("\n\n").filter((d) => d.length > 0);

  it("never holds the task: no task prompt, template line, JSON answer or chat turn", () => {
    for (const split of ["id", "ood"] as const) {
      for (let i = 0; i < 20; i++) {
        const env = new GeneralPointsEnv({ split, cards: 3 });
        const prompt = env.reset(i).text;
        expect(docs).not.toContain(prompt);
        for (const line of prompt.split("\n").filter((l) => l.length > 12 && !l.startsWith("Cards: ["))) expect(text).not.toContain(line);
      }
    }
    expect(text).not.toContain("points card game");
    expect(text).not.toContain('"number"');
    expect(text).not.toContain("<|");
  });
  it("writes true values, rule-consistent numbers right after a card list, and make-24 solutions that reach 24", () => {
    let make24 = 0;
    for (const m of text.matchAll(/Value: ([^\n]+)=(-?\d+)(?=\n|$)/g)) expect(withValue(m[1])).toBe(`${m[1]}=${m[2]}`);
    for (const d of docs) {
      const lines = d.split("\n");
      const ni = lines.findIndex((l) => l.startsWith("number: ["));
      if (ni < 0) continue;
      const prev = /^(?:Cards|cards): \[([^\]]+)\]$/.exec(lines[ni - 1]);
      expect(prev, d).not.toBeNull();
      const cards = listOf(prev![1]);
      const rule = lines.find((l) => l.startsWith("Rule: "));
      const want = numbersOf(cards, rule ? faceValues(rule) : [11, 12, 13]);
      expect(lines[ni]).toBe(`number: [${want.join(", ")}]`);
      const mk = lines[ni + 1];
      if (mk !== undefined) {
        const f = /^(?:formula|Make 24|Solution): "(.+)=24"$/.exec(mk)!;
        expect(checkSolution(f[1])).toBe(true);
        expect([...f[1].matchAll(/\d+/g)].map((x) => Number(x[0])).sort((a, b) => a - b)).toEqual([...want].sort((a, b) => a - b));
        make24++;
      }
    }
    expect(make24).toBeGreaterThan(docs.length / 4);
    // Prompt shapes vary: the rule before and after the cards, restated hands, distractor lines.
    expect(docs.some((d) => /^Cards: .*\nRule: /m.test(d))).toBe(true);
    expect(docs.some((d) => d.includes("\ncards: ["))).toBe(true);
    expect(docs.some((d) => d.includes("Each card must be used once."))).toBe(true);
  });
  it("probes: rule answers follow the stated rule; make-24 probes are solvable and graded exactly", () => {
    for (const which of ["random", "id", "ood"] as const) {
      for (const q of ruleProbes(new Rng(3), 20, which)) {
        const cards = listOf(/Cards: \[([^\]]+)\]/.exec(q.prompt)![1]);
        expect(cards.some((c) => "JQK".includes(c))).toBe(true);
        expect(q.answer).toBe(numbersOf(cards, faceValues(q.prompt)).join(", ") + "]");
        if (which === "ood") expect(q.prompt).toContain("count as '11', '12', and '13' respectively");
      }
    }
    const p = make24Probes(new Rng(5), 10, "ood");
    for (const q of p) expect(isSolvable(q.values)).toBe(true);
    const v = [6, 4, 12];
    expect(make24Solved("6, 4, 12]\nMake 24: \"4*(12-6)=24\"\n", v)).toBe(true);
    expect(make24Solved("6, 4, 10]\nMake 24: \"4*(12-6)=24\"\n", v)).toBe(false);
    expect(make24Solved("6, 4, 12]\nMake 24: \"4*12-6=24\"\n", v)).toBe(false);
    expect(make24Solved("6, 4, 12]\nSolution: \"4*(12-6)=24\"\n", v)).toBe(true);
    expect(make24Solved("6, 4, 12]\nformula: \"4*(12-6)=24\"\n", v)).toBe(true);
    expect(arithmeticProbes(new Rng(4), 5).every((a) => /^-?\d+$/.test(a.answer))).toBe(true);
  });
});

describe("stage-0 corpus for a 4-card task", () => {
  it("keeps the 3-card corpus as it was, and mixes 3- and 4-card make-24 solutions that reach 24 for a 4-card task", () => {
    expect(stage0Corpus(new Rng(7, "t"), 20_000, undefined, 3)).toBe(stage0Corpus(new Rng(7, "t"), 20_000));
    const docs = stage0Corpus(new Rng(7, "t"), 80_000, undefined, 4).split("\n\n");
    const sizes = new Map<number, number>();
    for (const d of docs) {
      const lines = d.split("\n");
      const ni = lines.findIndex((l) => l.startsWith("number: ["));
      const mk = ni >= 0 ? lines[ni + 1] : undefined;
      if (mk === undefined) continue;
      const nums = /^number: \[([^\]]+)\]$/.exec(lines[ni])![1].split(", ").map(Number);
      const f = /^(?:formula|Make 24|Solution): "(.+)=24"$/.exec(mk)!;
      expect(checkSolution(f[1]), d).toBe(true);
      expect([...f[1].matchAll(/\d+/g)].map((x) => Number(x[0])).sort((a, b) => a - b)).toEqual([...nums].sort((a, b) => a - b));
      sizes.set(nums.length, (sizes.get(nums.length) ?? 0) + 1);
    }
    expect(sizes.get(3)).toBeGreaterThan(20);
    expect(sizes.get(4)).toBeGreaterThan(20);
    expect([...sizes.keys()].sort()).toEqual([3, 4]);
  });
  it("deals 4-card make-24 probes that are solvable under the rule", () => {
    for (const which of ["id", "ood"] as const) {
      const p = make24Probes(new Rng(5), 20, which, 4);
      for (const q of p) {
        expect(q.values).toHaveLength(4);
        expect(isSolvable(q.values)).toBe(true);
        if (which === "ood") expect(q.values.some((v) => v > 10)).toBe(true);
      }
    }
  });
});

describe("SFT: response-only loss masking", () => {
  it("masks every target that is a prompt token", () => {
    const e = sftExample([10, 11, 12], [20, 21], 6);
    expect(e.x).toEqual([10, 11, 12, 20, 0, 0]);
    expect(e.y).toEqual([11, 12, 20, 21, 0, 0]);
    expect(e.mask).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => sftExample([1, 2, 3], [4, 5], 3)).toThrow(/exceed the sequence length/);
  });
  it("equals the mean NLL of the response tokens computed on the host, and ignores prompt targets", async () => {
    const p = initLM(cfg, 3);
    const T = 8;
    const e = sftExample([5, 6, 7, 8], [40, 41, 42], T);
    const run = (y: number[]) =>
      sftLoss(refTree(p), cfg, np.array(Int32Array.from(e.x), { dtype: np.int32 }).reshape([1, T]), np.array(Int32Array.from(y), { dtype: np.int32 }).reshape([1, T]), np.array(Float32Array.from(e.mask)).reshape([1, T]));
    const loss = (await host(run(e.y)))[0];
    const logits = await host(lmForward(refTree(p), cfg, np.array(Int32Array.from(e.x), { dtype: np.int32 }).reshape([1, T])).logits);
    const V = cfg.vocabSize;
    let s = 0;
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (!e.mask[t]) continue;
      const row = logits.slice(t * V, (t + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, b) => a + Math.exp(b - m), 0));
      s += lse - row[e.y[t]];
      n++;
    }
    expect(loss).toBeCloseTo(s / n, 4);
    const y2 = [...e.y];
    y2[0] = 99; // a prompt target: masked, so the loss must not move
    expect((await host(run(y2)))[0]).toBeCloseTo(loss, 6);
    disposeTree(p);
  });
});

describe("PPO pieces", () => {
  it("weights tokens before the answer key by 0.5 and the rest by 1", () => {
    const env = new GeneralPointsEnv({ split: "id" });
    env.reset(3);
    const ids = answerTokens(tok, env.expertAnswer());
    const w = keySplitWeights(tok, ids, '"formula"', 0.5);
    const text = tok.decode(ids);
    const at = text.indexOf('"formula"');
    let end = 0;
    ids.forEach((id, i) => {
      end += tok.decode([id]).length;
      expect(w[i]).toBe(end <= at ? 0.5 : 1);
    });
    expect(w.filter((x) => x === 0.5).length).toBeGreaterThan(3);
    expect(w.filter((x) => x === 1).length).toBeGreaterThan(3);
    expect(keySplitWeights(tok, tok.encode("no key here"), '"formula"', 0.5).every((x) => x === 1)).toBe(true);
    expect(weightedLogProb([-1, -2, -3], [0.5, 1, 1])).toBeCloseTo(-5.5, 12);
  });
  it("computes GAE as by hand (γ 0.9, λ 0.95) with episode boundaries", () => {
    // r = [1, -1, 5], V = [0.5, 0.2, 1.0], done after step 1 (mask 0), next V = 0.7.
    const { advantages, returns } = gae([1, -1, 5], [0.5, 0.2, 1.0], [1, 0, 1], 0.7, 0.9, 0.95);
    const d2 = 5 + 0.9 * 0.7 - 1.0; // 4.63
    const d1 = -1 + 0 - 0.2; // -1.2 (terminal: no bootstrap, no carry)
    const d0 = 1 + 0.9 * 0.2 - 0.5; // 0.68
    const a2 = d2;
    const a1 = d1;
    const a0 = d0 + 0.9 * 0.95 * a1;
    expect(advantages[2]).toBeCloseTo(a2, 12);
    expect(advantages[1]).toBeCloseTo(a1, 12);
    expect(advantages[0]).toBeCloseTo(a0, 12);
    expect(returns).toEqual(advantages.map((a, i) => a + [0.5, 0.2, 1.0][i]));
    const n = normalizeAdvantages([1, 2, 3, 6]);
    const sd = Math.sqrt(((1 - 3) ** 2 + 1 + 0 + 9) / 3);
    expect(n[0]).toBeCloseTo((1 - 3) / (sd + 1e-5), 10);
    expect(ppoLr(0, { lr: 1e-3, minLr: 1e-9, lrMaxSteps: 100 })).toBeCloseTo(1e-3, 12);
    expect(ppoLr(100, { lr: 1e-3, minLr: 1e-9, lrMaxSteps: 100 })).toBeCloseTo(1e-9, 15);
  });
  it("matches the clipped surrogate and clipped value loss computed by hand", async () => {
    const p = { lm: initLM(cfg, 5), value: initValueHead(cfg.dModel, 5) };
    const B = 4;
    const T = 6;
    const promptLen = 3;
    const seqs = [
      [1, 2, 3, 40, 41, 42, 43],
      [4, 5, 6, 44, 45, 46, 47],
      [7, 8, 9, 48, 49, 50, 51],
      [10, 11, 12, 52, 53, 54, 55],
    ];
    const x = seqs.flatMap((s) => s.slice(0, T));
    const y = seqs.flatMap((s) => s.slice(1, T + 1));
    const w = seqs.flatMap(() => [0, 0, 0.5, 0.5, 1, 1]); // targets at t >= promptLen-1 are response tokens
    const last = seqs.flatMap(() => [0, 0, 1, 0, 0, 0]);
    const temp = 0.2;
    // Host: new log-probs at temperature and values.
    const { logits, hidden } = lmForward(refTree(p.lm), cfg, np.array(Int32Array.from(x), { dtype: np.int32 }).reshape([B, T]), { returnHidden: true });
    const L = await host(logits);
    const H = await host(hidden!);
    const V = cfg.vocabSize;
    const D = cfg.dModel;
    const vw = await valueHeadToHost(p.value);
    const newLogp: number[] = [];
    const value: number[] = [];
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let t = 0; t < T; t++) {
        const row = L.slice((b * T + t) * V, (b * T + t + 1) * V).map((v) => v / temp);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, c) => a + Math.exp(c - m), 0));
        s += w[b * T + t] * (row[y[b * T + t]] - lse);
      }
      newLogp.push(s);
      value.push(valueHeadHost(vw, H.slice((b * T + promptLen - 1) * D, (b * T + promptLen) * D)));
    }
    const ratios = [1.5, 0.5, 0.5, 1.05];
    const adv = [1, 1, -1, 2];
    const oldLogp = newLogp.map((l, i) => l - Math.log(ratios[i]));
    const oldValue = value.map((v, i) => v + [0.5, -0.05, 0, 0.2][i]);
    const returns = value.map((v, i) => v + [1, -1, 0.3, 0][i]);
    const c = { clip: 0.1, valueLossCoef: 0.5, temperature: temp, ratioCap: 10 };
    const run = (olp: number[]) =>
      ppoLoss(
        refTree(p), cfg, c,
        np.array(Int32Array.from(x), { dtype: np.int32 }).reshape([B, T]), np.array(Int32Array.from(y), { dtype: np.int32 }).reshape([B, T]),
        np.array(Float32Array.from(w)).reshape([B, T]), np.array(Float32Array.from(last)).reshape([B, T]),
        np.array(Float32Array.from(olp)), np.array(Float32Array.from(oldValue)), np.array(Float32Array.from(returns)), np.array(Float32Array.from(adv)),
      );
    const [loss, aux] = run(oldLogp);
    const surr = ratios.map((r, i) => Math.min(r * adv[i], Math.min(Math.max(r, 0.9), 1.1) * adv[i]));
    expect(surr).toEqual([1.1, 0.5, -0.9, 2.1]);
    const policy = -surr.reduce((a, b) => a + b, 0) / B;
    const vloss = 0.5 * value.map((v, i) => Math.max((v - returns[i]) ** 2, (oldValue[i] + Math.min(Math.max(v - oldValue[i], -0.1), 0.1) - returns[i]) ** 2)).reduce((a, b) => a + b, 0) / B;
    const [pl, vl, cf] = [(await host(aux[0]))[0], (await host(aux[1]))[0], (await host(aux[2]))[0]];
    await host(aux[3]);
    expect(pl).toBeCloseTo(policy, 3);
    expect(vl).toBeCloseTo(vloss, 4);
    expect(cf).toBeCloseTo(0.75, 5);
    expect((await host(loss))[0]).toBeCloseTo(policy + 0.5 * vloss, 3);
    // Any ratio above 10: only the clipped term is used.
    const huge = [20, 0.5, 0.5, 1.05];
    const [loss2, aux2] = run(newLogp.map((l, i) => l - Math.log(huge[i])));
    const clippedOnly = -huge.map((r, i) => Math.min(Math.max(r, 0.9), 1.1) * adv[i]).reduce((a, b) => a + b, 0) / B;
    expect((await host(aux2[0]))[0]).toBeCloseTo(clippedOnly, 3);
    for (const a of [loss2, ...aux2.slice(1)]) a.dispose();
    disposeTree(p);
  });
  it("value head on device equals its host copy", async () => {
    const v = initValueHead(16, 1);
    const h = Array.from({ length: 16 }, (_, i) => Math.sin(i));
    const w = await valueHeadToHost(v);
    const dev = (await host(valueHead(v, np.array(Float32Array.from(h)).reshape([1, 16]))))[0];
    expect(dev).toBeCloseTo(valueHeadHost(w, h), 5);
    void jnn;
  });
});

describe("generation with a batched prefill", () => {
  it("equals full recomputation (greedy) and the step-by-step cache, with the same log-probs", async () => {
    const p = initLM(cfg, 11);
    const prompts = [[3, 4, 5, 6, 7, 8, 9], [12, 13, 14]];
    const pre = await generate(p, cfg, prompts, { maxNewTokens: 8, temperature: 0, batchedPrefill: true, prefillBucket: 16, returnPromptHidden: true });
    const step = await generate(p, cfg, prompts, { maxNewTokens: 8, temperature: 0 });
    for (let b = 0; b < 2; b++) {
      expect(pre.tokens[b]).toEqual(await greedyFull(p, cfg, prompts[b], 8));
      expect(pre.tokens[b]).toEqual(step.tokens[b]);
      pre.logprobs[b].forEach((l, i) => expect(l).toBeCloseTo(step.logprobs[b][i], 4));
    }
    const chunked = await generate(p, cfg, [...prompts, [20, 21]], { maxNewTokens: 8, temperature: 0, batchedPrefill: true, prefillBucket: 16, prefillChunk: 2 });
    for (let b = 0; b < 2; b++) expect(chunked.tokens[b]).toEqual(pre.tokens[b]);
    expect(chunked.tokens[2]).toEqual(await greedyFull(p, cfg, [20, 21], 8));
    // The prompt hidden state is lmForward's final hidden state at the prompt's last token.
    const { hidden } = lmForward(refTree(p), cfg, np.array(Int32Array.from(prompts[1]), { dtype: np.int32 }).reshape([1, 3]), { returnHidden: true });
    const H = await host(hidden!);
    H.slice(2 * 16, 3 * 16).forEach((v, i) => expect(pre.promptHidden![1][i]).toBeCloseTo(v, 4));
    disposeTree(p);
    expect(END).toBe("<|end|>\n");
  });
});

describe("PPO gradient accumulation", () => {
  it("two micro-batches give the same update as one step over the whole minibatch", async () => {
    const { makeAccumulatingStep } = await import("./ppo.js");
    const { makeTrainStep } = await import("../../train/step.js");
    const { adamwInit, defaultDecayMask } = await import("../../optim/adamw.js");
    const mk = () => ({ lm: initLM(cfg, 9), value: initValueHead(cfg.dModel, 9) });
    const c = { clip: 0.1, valueLossCoef: 0.5, temperature: 0.5, ratioCap: 10 };
    const B = 4;
    const T = 5;
    const rng = new Rng(5);
    const x = Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
    const y = Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
    const w = Array.from({ length: B * T }, (_, i) => (i % T >= 2 ? 1 : 0));
    const last = Array.from({ length: B * T }, (_, i) => (i % T === 1 ? 1 : 0));
    const vec = (v: number[]) => v;
    const cols = { oldLogp: vec([-3, -4, -5, -6]), oldValue: vec([0.1, -0.2, 0.3, 0]), ret: vec([1, -1, 0.5, 0.2]), adv: vec([1, -0.5, 0.3, -1]) };
    const arrays = (rows: number[]) => [
      np.array(Int32Array.from(rows.flatMap((b) => x.slice(b * T, (b + 1) * T))), { dtype: np.int32 }).reshape([rows.length, T]),
      np.array(Int32Array.from(rows.flatMap((b) => y.slice(b * T, (b + 1) * T))), { dtype: np.int32 }).reshape([rows.length, T]),
      np.array(Float32Array.from(rows.flatMap((b) => w.slice(b * T, (b + 1) * T)))).reshape([rows.length, T]),
      np.array(Float32Array.from(rows.flatMap((b) => last.slice(b * T, (b + 1) * T)))).reshape([rows.length, T]),
      ...[cols.oldLogp, cols.oldValue, cols.ret, cols.adv].map((v) => np.array(Float32Array.from(rows.map((b) => v[b])))),
    ];
    const adamw = { beta1: 0.9, beta2: 0.999, eps: 1e-7, weightDecay: 0 };
    const p1 = mk();
    const ref = makeTrainStep<typeof p1>((p, ...b) => ppoLoss(p, cfg, c, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]), { adamw, clip: 1e9, decayMask: defaultDecayMask(p1), hasAux: true });
    const o1 = ref.step(p1, adamwInit(p1), arrays([0, 1, 2, 3]), 1e-2, 1);
    const p2 = mk();
    const acc = makeAccumulatingStep((p, b) => ppoLoss(p, cfg, c, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]), { adamw, clip: 1e9, decayMask: defaultDecayMask(p2) });
    const o2 = await acc.step(p2, adamwInit(p2), [arrays([0, 1]), arrays([2, 3])], 1e-2, 1);
    expect((await host(o2.loss))[0]).toBeCloseTo((await host(o1.loss))[0], 5);
    expect((await host(o2.gradNorm))[0]).toBeCloseTo((await host(o1.gradNorm))[0], 4);
    const a = await host(o1.params.lm.blocks[0].attn.qkv.w.ref);
    const b = await host(o2.params.lm.blocks[0].attn.qkv.w.ref);
    a.forEach((v, i) => expect(b[i]).toBeCloseTo(v, 5));
    for (const t of [o1.params, o1.opt, o2.params, o2.opt, ...o1.aux, ...o2.aux]) disposeTree(t);
    ref.dispose();
    acc.dispose();
  });

  it("runs one micro-batch at a time: live buffers do not grow with the micro-batches already dispatched", async () => {
    // jax-js dispatches asynchronously and a jitted call holds all its intermediates; without waiting for each
    // micro-batch, all of them were alive at once (PPO from the stage-0 model reached 3 GiB of wasm memory).
    const { makeAccumulatingStep } = await import("./ppo.js");
    const { adamwInit, defaultDecayMask } = await import("../../optim/adamw.js");
    const B = 2;
    const T = 8;
    const rng = new Rng(6);
    const batch = () => [
      np.array(Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize)), { dtype: np.int32 }).reshape([B, T]),
      np.array(Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize)), { dtype: np.int32 }).reshape([B, T]),
      np.array(Float32Array.from({ length: B * T }, (_, i) => (i % T >= 3 ? 1 : 0))).reshape([B, T]),
      np.array(Float32Array.from({ length: B * T }, (_, i) => (i % T === 2 ? 1 : 0))).reshape([B, T]),
      ...[[-3, -4], [0.1, -0.2], [1, -1], [1, -0.5]].map((v) => np.array(Float32Array.from(v))),
    ];
    const n = 6;
    const hostBatches = Array.from({ length: n }, () => batch());
    // Live buffers each time the step takes the next micro-batch (the inputs of later ones are already counted).
    const seen: number[] = [];
    const micro = Object.assign([...hostBatches], {
      [Symbol.iterator]: function* () {
        for (const b of hostBatches) {
          seen.push(liveBuffers());
          yield b;
        }
      },
    });
    const c = { clip: 0.1, valueLossCoef: 0.5, temperature: 0.5, ratioCap: 10 };
    const p = { lm: initLM(cfg, 3), value: initValueHead(cfg.dModel, 3) };
    const acc = makeAccumulatingStep((q, b) => ppoLoss(q, cfg, c, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]), { adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-7, weightDecay: 0 }, clip: 1, decayMask: defaultDecayMask(p) });
    const o = await acc.step(p, adamwInit(p), micro, 1e-3, 1);
    expect(Number.isFinite((await host(o.loss))[0])).toBe(true);
    expect(seen).toHaveLength(n);
    // From the third micro-batch on, the accumulators exist and nothing of the earlier calls is left behind.
    for (let k = 3; k < n; k++) expect(seen[k]).toBeLessThanOrEqual(seen[2]);
    for (const t of [o.params, o.opt, o.gradNorm, ...o.aux]) disposeTree(t);
    acc.dispose();
  });
});
