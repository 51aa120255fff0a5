/**
 * Serve a trained policy of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161) as an
 * OpenAI-compatible chat-completions endpoint, so the environments' evaluation harness (`createChatClient`) and any
 * client score our models exactly as they score external LLMs. `POST /v1/chat/completions` with
 * `{model, messages, temperature?, max_tokens?}` answers `{choices: [{message: {role: "assistant", content}}]}`;
 * `GET /v1/models` lists the model. Requests are answered one at a time (one batched generate each).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tree, type Array, type JsTree } from "../../engine/index.js";
import type { Message } from "../../envs/index.js";
import { generate } from "../../nn/generate.js";
import type { LMConfig, LMParams } from "../../nn/transformer.js";
import { openRun } from "../../train/run-dir.js";
import { Rng } from "../../util/rng.js";
import { loadArmLM } from "./experiment.js";
import { answerText, type SamplingConfig } from "./rollout.js";
import { END, PhraseTokenizer, renderChat } from "./tokenizer.js";

export type LoadedPolicy = { lm: LMParams; model: LMConfig; tok: PhraseTokenizer; sampling: SamplingConfig; arm: string };

/** Arms whose final parameters can be served, in order of preference (GeneralPoints first, then navigation's `nav-` arms). */
export const SERVABLE_ARMS = ["ppo", "sft", "sft-init", "stage0", "nav-ppo", "nav-sft", "nav-sft-init"] as const;

/** Load the final policy of `arm` (default: the first finished of ppo, sft, sft-init, stage0) from a run directory. */
export function loadPolicy(runDir: string, arm?: string): LoadedPolicy {
  const run = openRun(runDir);
  if (!existsSync(run.path("policy.json"))) throw new Error(`serve: ${runDir} has no policy.json (not an sft-vs-rl run)`);
  const pj = run.readJson<{ model: LMConfig; phrases: string[]; sampling: SamplingConfig; navigationSampling?: SamplingConfig; evalTemperature: number }>("policy.json");
  const seed = run.meta().seed;
  const file = (a: string) => join(run.dir, "arms", a, "checkpoints", "latest.safetensors");
  if (arm !== undefined && !(SERVABLE_ARMS as readonly string[]).includes(arm)) throw new Error(`serve: --arm must be one of ${SERVABLE_ARMS.join(", ")}, got ${JSON.stringify(arm)}`);
  const chosen = arm ?? SERVABLE_ARMS.find((a) => existsSync(file(a)));
  if (!chosen || !existsSync(file(chosen))) throw new Error(`serve: no checkpoint for arm ${chosen ?? "(any)"} under ${run.path("arms")}`);
  const lm = loadArmLM(file(chosen), pj.model, seed, chosen === "ppo" || chosen === "nav-ppo");
  // Navigation arms answer with navigation's generation budget (it decides how much of the context the prompt gets).
  const sampling = chosen.startsWith("nav-") && pj.navigationSampling ? pj.navigationSampling : pj.sampling;
  return { lm, model: pj.model, tok: new PhraseTokenizer(pj.phrases), sampling: { ...sampling, temperature: pj.evalTemperature }, arm: chosen };
}

/** Answer one conversation with the policy. */
export async function completeChat(p: LoadedPolicy, messages: Message[], opts: { temperature?: number; maxTokens?: number; rng: Rng }): Promise<{ content: string; promptTokens: number; completionTokens: number }> {
  const maxNew = Math.max(1, Math.min(opts.maxTokens ?? p.sampling.maxNewTokens, p.sampling.maxNewTokens));
  const prompt = renderChat(p.tok, messages, p.model.contextLength - maxNew);
  const r = await generate(p.lm, p.model, [prompt], {
    maxNewTokens: maxNew,
    temperature: opts.temperature ?? p.sampling.temperature,
    topK: p.sampling.topK,
    topP: p.sampling.topP,
    rng: opts.rng,
    stopIds: [p.tok.id(END)],
    batchedPrefill: true,
    prefillBucket: 64,
  });
  return { content: answerText(p.tok, r.tokens[0]), promptTokens: prompt.length, completionTokens: r.tokens[0].length };
}

async function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  let n = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw Object.assign(new Error(`request body exceeds ${limit} bytes`), { status: 413 });
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Validate a chat request; returns the messages or an error string naming the field. */
export function parseChatRequest(body: unknown): { messages: Message[]; temperature?: number; maxTokens?: number } | string {
  if (!body || typeof body !== "object") return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "messages must be a non-empty array";
  const messages: Message[] = [];
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    const mm = m as Record<string, unknown>;
    if (!mm || !["system", "user", "assistant"].includes(mm.role as string)) return `messages[${i}].role must be one of system, user, assistant`;
    let content = mm.content;
    if (Array.isArray(content)) content = content.filter((x: { type?: string }) => x?.type === "text").map((x: { text?: string }) => x.text ?? "").join("");
    if (typeof content !== "string") return `messages[${i}].content must be a string (or a list of text parts)`;
    if (mm.role !== "system") messages.push({ role: mm.role as Message["role"], content });
  }
  if (messages.length === 0 || messages[0].role !== "user") return "the first non-system message must have role user";
  if (b.temperature !== undefined && (typeof b.temperature !== "number" || b.temperature < 0)) return "temperature must be a number >= 0";
  if (b.max_tokens !== undefined && (!Number.isInteger(b.max_tokens) || (b.max_tokens as number) < 1)) return "max_tokens must be an integer >= 1";
  return { messages, temperature: b.temperature as number | undefined, maxTokens: b.max_tokens as number | undefined };
}

/** An HTTP server answering chat completions with `policy` (call `.listen(port, "127.0.0.1")`). */
export function createPolicyServer(policy: LoadedPolicy, opts: { modelName: string; seed?: number }): Server {
  const rng = Rng.stream(opts.seed ?? 0, "serve");
  let queue: Promise<unknown> = Promise.resolve();
  let id = 0;
  return createServer((req, res) => {
    const url = (req.url ?? "").split("?")[0].replace(/\/+$/, "");
    if (req.method === "GET" && url === "/v1/models") return send(res, 200, { object: "list", data: [{ id: opts.modelName, object: "model", owned_by: "tinyfoundry" }] });
    if (req.method !== "POST" || url !== "/v1/chat/completions") return send(res, 404, { error: { message: `no route ${req.method} ${url}; use POST /v1/chat/completions or GET /v1/models` } });
    const job = async () => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch (e) {
        return send(res, (e as { status?: number }).status ?? 400, { error: { message: (e as { status?: number }).status ? (e as Error).message : "body is not valid JSON" } });
      }
      const q = parseChatRequest(body);
      if (typeof q === "string") return send(res, 400, { error: { message: q } });
      try {
        const r = await completeChat(policy, q.messages, { temperature: q.temperature, maxTokens: q.maxTokens, rng });
        send(res, 200, {
          id: `chatcmpl-${++id}`,
          object: "chat.completion",
          model: opts.modelName,
          choices: [{ index: 0, message: { role: "assistant", content: r.content }, finish_reason: "stop" }],
          usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens },
        });
      } catch (e) {
        send(res, 400, { error: { message: (e as Error).message } });
      }
    };
    queue = queue.then(job, job);
  });
}

/** Free the policy's arrays. */
export function disposePolicy(p: LoadedPolicy): void {
  tree.dispose(p.lm as unknown as JsTree<Array>);
}
