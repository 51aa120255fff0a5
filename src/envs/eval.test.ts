/** Evaluation harness, chat client against a real loopback HTTP server, and the CLI verbs end to end. */
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatPolicy, createChatClient } from "./openai-client.js";
import { evaluate, oraclePolicy, randomPolicy } from "./eval.js";
import { GeneralPointsEnv } from "./general-points/env.js";
import { parseAnswer } from "./general-points/parse.js";

let server: Server;
let base = "";
let fail500 = 0;
const seen: unknown[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404).end("not found");
        return;
      }
      if (fail500 > 0) {
        fail500--;
        res.writeHead(500).end("boom");
        return;
      }
      const q = JSON.parse(body) as { messages: { content: string }[] };
      seen.push(q);
      // a "model" that answers the GeneralPoints prompt with a fixed formula
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { role: "assistant", content: '{"formula": "1+2+3+4=10"}' } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("chat client", () => {
  it("speaks chat-completions, retries after a 500", async () => {
    fail500 = 1;
    const sleeps: number[] = [];
    const c = createChatClient({ baseUrl: base, model: "m", sleep: async (ms) => void sleeps.push(ms), backoffMs: 10 });
    expect(await c.complete([{ role: "user", content: "hi" }])).toBe('{"formula": "1+2+3+4=10"}');
    expect(sleeps).toEqual([10]);
  });
  it("unreachable server: clear error naming the URL", async () => {
    const c = createChatClient({ baseUrl: "http://127.0.0.1:9/v1", model: "m", retries: 1, backoffMs: 1 });
    await expect(c.complete([{ role: "user", content: "hi" }])).rejects.toThrow(/http:\/\/127\.0\.0\.1:9\/v1\/chat\/completions is unreachable/);
  });
  it("an LLM policy runs multi-turn episodes through the harness", async () => {
    const client = createChatClient({ baseUrl: base, model: "m" });
    const r = await evaluate({ env: "general-points", splits: ["id"], episodes: 2, policy: () => chatPolicy(client) });
    expect(r.results[0].successRate).toBe(0);
    expect(r.transcripts[0].conversations[0].length).toBe(10); // 5 answers + 5 user turns
  });
});

describe("harness", () => {
  it("oracle 100% on every GP split; random policy reported", async () => {
    for (const split of ["id", "ood", "visual-ood"] as const) {
      const r = await evaluate({ env: "general-points", splits: [split], episodes: split === "visual-ood" ? 10 : 200, policy: oraclePolicy, envOptions: { imageSize: 80 } });
      expect(r.results[0].successRate).toBe(1);
    }
    const r = await evaluate({ env: "general-points", splits: ["id", "ood"], episodes: 500, seed: 1, policy: (e) => randomPolicy(e, 1) });
    console.info(`GP random policy: ${r.results.map((x) => `${x.split} ${(100 * x.successRate).toFixed(1)}% ± ${(100 * x.stdErr).toFixed(1)}%`).join(", ")}`);
    expect(parseAnswer(new GeneralPointsEnv().reset(1).text).formula).toBe("None");
  });
});

describe("CLI", () => {
  const script = join(__dirname, "env-cli.fixture.mts");
  const run = (args: string[], input = "") => spawnSync("npx", ["tsx", script, ...args], { input, encoding: "utf8", cwd: join(__dirname, "..", "..") });
  it("general-points verify / solve: one JSON line per input line, errors named", () => {
    const input = ['{"cards":["A","3","K","6"],"rule":"id","answer":"{\\"formula\\": \\"10*3-6*1=24\\"}"}', '{"cards":["A","3"],"rule":"xx","answer":"1"}', "not json", '{"cards":["A","3","K","6"],"rule":"id","answer":"\\"formula\\": \\"(1+6)*3+13\\""}'].join("\n") + "\n";
    const r = run(["env", "general-points", "verify"], input);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatchObject({ reward: 5, feedback: "Correct solution." });
    expect(lines[1].error).toMatch(/cards: cards must list exactly 4 cards/);
    expect(lines[1].error).toMatch(/rule: .*'id' \| 'ood'/);
    expect(lines[2].error).toMatch(/not valid JSON/);
    expect(lines[3].reward).toBe(-4);
    const s = run(["env", "general-points", "solve"], '{"cards":["A","3","K","6"],"rule":"ood"}\n');
    const o = JSON.parse(s.stdout);
    expect(o.values).toEqual([1, 3, 13, 6]);
    expect(o.solvable).toBe(o.solutions.length > 0);
  }, 60_000);
  it("eval writes a run directory with transcripts", () => {
    const out = mkdtempSync(join(tmpdir(), "tf-eval-"));
    const r = run(["eval", "navigation", "--policy", "oracle", "--split", "id,ood", "--episodes", "3", "--out", out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/id: success 100\.0% ± 0\.0% \(n=3\)/);
    const runDir = join(out, "eval-navigation", readdirSync(join(out, "eval-navigation"))[0]);
    expect(readFileSync(join(runDir, "transcripts.jsonl"), "utf8").trim().split("\n").length).toBe(6);
    const bad = run(["eval", "navigation", "--policy", "gpt"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--policy must be one of oracle, random, openai/);
  }, 60_000);
});
