/**
 * `serve` behaves like the chat-completions API it copies: driven by the official `openai` npm
 * client (with and without `stream: true`), and abused over raw HTTP (malformed bodies, a 5 MB
 * body, 20 concurrent requests, an unknown model, wrong routes), only on 127.0.0.1. The policy is
 * an untrained model of the served shape: the protocol is under test, not the answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { request, type Server } from "node:http";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { initEngine } from "../engine/index.js";
import { defaultLMConfig, initLM, type LMConfig } from "../nn/transformer.js";
import { GP_PHRASES, PhraseTokenizer } from "../papers/sft-vs-rl/tokenizer.js";
import { createPolicyServer, disposePolicy, type LoadedPolicy } from "../papers/sft-vs-rl/serve.js";

const BIN = new URL("../../bin/tinyfoundry.js", import.meta.url).pathname;
const MODEL = "tinyfoundry-test";
let server: Server;
let base = "";
let policy: LoadedPolicy;
let client: OpenAI;

beforeAll(async () => {
  await initEngine();
  const tok = new PhraseTokenizer(GP_PHRASES);
  const model: LMConfig = { ...defaultLMConfig, vocabSize: tok.vocabSize, dModel: 32, nLayers: 1, nHeads: 2, contextLength: 512, norm: "rms", pos: "rope" };
  policy = { lm: initLM(model, 0), model, tok, sampling: { temperature: 1, topK: 0, topP: 1, maxNewTokens: 12 }, arm: "test" };
  server = createPolicyServer(policy, { modelName: MODEL });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  client = new OpenAI({ baseURL: base, apiKey: "unused", maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  disposePolicy(policy);
});

const ask = [{ role: "user" as const, content: "Cards: [A, 3, K, 6]. Make 24." }];

describe("serve with the official openai client", () => {
  it("chat.completions.create: an answer with usage counts", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: ask, temperature: 0, max_tokens: 8 });
    expect(r.object).toBe("chat.completion");
    expect(r.model).toBe(MODEL);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].message.role).toBe("assistant");
    expect(typeof r.choices[0].message.content).toBe("string");
    expect(["stop", "length"]).toContain(r.choices[0].finish_reason);
    const u = r.usage!;
    expect(u.prompt_tokens).toBeGreaterThan(10);
    expect(u.completion_tokens).toBeGreaterThanOrEqual(1);
    expect(u.completion_tokens).toBeLessThanOrEqual(8);
    expect(u.total_tokens).toBe(u.prompt_tokens + u.completion_tokens);
  });

  it("stream: true gives server-sent chunks whose deltas add up to the same answer", async () => {
    const whole = await client.chat.completions.create({ model: MODEL, messages: ask, temperature: 0, max_tokens: 10 });
    const stream = await client.chat.completions.create({ model: MODEL, messages: ask, temperature: 0, max_tokens: 10, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let chunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      chunks++;
      expect(c.object).toBe("chat.completion.chunk");
      expect(c.model).toBe(MODEL);
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) {
        text += ch.delta.content ?? "";
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    expect(chunks).toBeGreaterThanOrEqual(3); // role, content..., finish (and usage)
    expect(text).toBe(whole.choices[0].message.content);
    expect(finish).toBe(whole.choices[0].finish_reason);
    expect(usage).toEqual(whole.usage);
  });

  it("an unknown model is a 404 model_not_found naming the served model", async () => {
    const err = await client.chat.completions.create({ model: "gpt-4o", messages: ask }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    const e = err as InstanceType<typeof OpenAI.NotFoundError>;
    expect(e.status).toBe(404);
    expect(e.code).toBe("model_not_found");
    expect(e.message).toContain(MODEL);
    const s = await client.chat.completions.create({ model: "gpt-4o", messages: ask, stream: true }).catch((x: unknown) => x);
    expect(s).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("models.list and models.retrieve show the served model", async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL]);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
    await expect(client.models.retrieve("other")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("serve under abuse (127.0.0.1 only)", () => {
  const post = (body: string | Blob, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(`${base}/chat/completions`, { method: "POST", body, headers });
  const ok = JSON.stringify({ model: MODEL, messages: ask, max_tokens: 4 });
  const bad: [string, string | Blob, RegExp, string | null][] = [
    ["not JSON", "{messages:", /body is not valid JSON/, null],
    ["invalid UTF-8", new Blob([Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])]), /body is not valid JSON/, null],
    ["an array", "[]", /body must be a JSON object/, null],
    ["null", "null", /body must be a JSON object/, null],
    ["no messages", JSON.stringify({ model: MODEL }), /messages must be a non-empty array/, "messages"],
    ["a bad role", JSON.stringify({ model: MODEL, messages: [{ role: "bot", content: "x" }] }), /messages\[0\]\.role/, "messages"],
    ["content a number", JSON.stringify({ model: MODEL, messages: [{ role: "user", content: 5 }] }), /messages\[0\]\.content/, "messages"],
    ["a message that is null", JSON.stringify({ model: MODEL, messages: [null] }), /messages\[0\]\.role/, "messages"],
    ["temperature a string", JSON.stringify({ model: MODEL, messages: ask, temperature: "hot" }), /temperature must be a number from 0 to 2/, "temperature"],
    ["max_tokens 0", JSON.stringify({ model: MODEL, messages: ask, max_tokens: 0 }), /max_tokens must be an integer >= 1/, "max_tokens"],
    ["n = 2", JSON.stringify({ model: MODEL, messages: ask, n: 2 }), /n must be 1/, "n"],
    ["stream a string", JSON.stringify({ model: MODEL, messages: ask, stream: "yes" }), /stream must be a boolean/, "stream"],
    ["no model", JSON.stringify({ messages: ask }), /you must provide a model parameter/, "model"],
    ["a prompt longer than the context", JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(5000) }] }), /exceeds the context budget/, "messages"],
  ];
  for (const [name, body, re, param] of bad) {
    it(`400 for ${name}`, async () => {
      const r = await post(body);
      expect(r.status).toBe(400);
      expect(r.headers.get("content-type")).toMatch(/application\/json/);
      const j = (await r.json()) as { error: { message: string; type: string; param: string | null } };
      expect(j.error.message).toMatch(re);
      expect(j.error.type).toBe("invalid_request_error");
      expect(j.error.param).toBe(param);
    });
  }

  it("a 5 MB body is refused with 413 and the server keeps answering", async () => {
    const big = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(5 * 2 ** 20) }] });
    const r = await post(big);
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/limit is 1048576 bytes/);
    expect((await post(ok)).status).toBe(200);
  });

  it("20 concurrent requests are all answered, each once, while another client stalls mid-upload", async () => {
    // A client that sends half a body and waits must not hold up the others.
    const u = new URL(`${base}/chat/completions`);
    const stalled = request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": String(ok.length) } });
    stalled.on("error", () => {});
    stalled.write(ok.slice(0, 10));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 20 }, () => post(ok).then(async (r) => ({ status: r.status, body: (await r.json()) as { id: string; choices: { message: { content: string } }[] } }))));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(rs.map((r) => r.body.id)).size).toBe(20);
    for (const r of rs) expect(typeof r.body.choices[0].message.content).toBe("string");
    expect(Date.now() - t0).toBeLessThan(20_000);
    const answer = new Promise<number>((r) => stalled.on("response", (res) => (res.resume(), r(res.statusCode ?? 0))));
    stalled.end(ok.slice(10));
    expect(await answer).toBe(200);
  }, 30_000);

  it("a client that leaves while queued does not break the server", async () => {
    const ctl = new AbortController();
    const gone = Promise.all(Array.from({ length: 5 }, () => fetch(`${base}/chat/completions`, { method: "POST", body: ok, headers: { "content-type": "application/json" }, signal: ctl.signal }).catch(() => null)));
    ctl.abort();
    await gone;
    expect((await post(ok)).status).toBe(200);
  });

  it("wrong routes and methods answer 404 and 405 in the API's error shape", async () => {
    const a = await fetch(`${base}/completions`, { method: "POST", body: ok });
    expect(a.status).toBe(404);
    expect(((await a.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
    const b = await fetch(`${base}/chat/completions`);
    expect(b.status).toBe(405);
    expect(b.headers.get("allow")).toBe("POST");
    const c = await fetch(`${base}/models`, { method: "DELETE" });
    expect(c.status).toBe(405);
  });
});

describe("serve and eval agree", () => {
  it("on one default port", async () => {
    const { buildProgram } = await import("./main.js");
    const program = buildProgram();
    const serve = program.commands.find((c) => c.name() === "serve")!;
    const evalCmd = program.commands.find((c) => c.name() === "eval")!;
    const port = serve.options.find((o) => o.long === "--port")!.defaultValue as number;
    const url = evalCmd.options.find((o) => o.long === "--base-url")!.defaultValue as string;
    expect(url).toBe(`http://127.0.0.1:${port}/v1`);
  });

  it("`eval --policy openai` scores the served model by the name /v1/models gives", async () => {
    const out = mkdtempSync(join(tmpdir(), "tf-serve-eval-"));
    // Asynchronous: the server answers from this process.
    const args = ["eval", "general-points", "--policy", "openai", "--episodes", "1", "--split", "id", "--max-tokens", "4", "--verify-iter", "1", "--base-url", base, "--out", out];
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TINYFOUNDRY_THREADS: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/id: success/);
    const runs = readdirSync(join(out, "eval-general-points"));
    const cfg = JSON.parse(readFileSync(join(out, "eval-general-points", runs[0], "config.json"), "utf8")) as { model: string };
    expect(cfg.model).toBe(MODEL);
  }, 60_000);
});
