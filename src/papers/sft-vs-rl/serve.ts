/**
 * Serve a trained policy of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161) as an
 * OpenAI-compatible chat-completions endpoint, so the environments' evaluation harness (`createChatClient`), the
 * official `openai` npm client and any other client score our models exactly as they score external LLMs.
 *
 * - `POST /v1/chat/completions` with `{model, messages, temperature?, max_tokens? | max_completion_tokens?, n?: 1,
 *   stream?, stream_options?: {include_usage}}` answers a `chat.completion` with `usage` counts, or with
 *   `stream: true` server-sent events of `chat.completion.chunk`s ending in `data: [DONE]` (the answer is generated
 *   whole, then sent in chunks at token boundaries).
 * - `GET /v1/models` lists the served model; `GET /v1/models/{id}` returns it.
 * - Errors have the API's shape `{error: {message, type, param, code}}`: 404 `model_not_found` for another model
 *   (naming the served one), 400 for a malformed body (naming the field), 413 past 1 MiB, 404/405 for other routes.
 * Requests are read and validated as they arrive; generation runs one request at a time (one batched generate each).
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
export async function completeChat(
  p: LoadedPolicy,
  messages: Message[],
  opts: { temperature?: number; maxTokens?: number; rng: Rng },
): Promise<{ content: string; promptTokens: number; completionTokens: number; finishReason: "stop" | "length"; tokens: number[] }> {
  const maxNew = Math.max(1, Math.min(opts.maxTokens ?? p.sampling.maxNewTokens, p.sampling.maxNewTokens));
  const prompt = renderChat(p.tok, messages, p.model.contextLength - maxNew);
  const endId = p.tok.id(END);
  const r = await generate(p.lm, p.model, [prompt], {
    maxNewTokens: maxNew,
    temperature: opts.temperature ?? p.sampling.temperature,
    topK: p.sampling.topK,
    topP: p.sampling.topP,
    rng: opts.rng,
    stopIds: [endId],
    batchedPrefill: true,
    prefillBucket: 64,
  });
  const tokens = r.tokens[0];
  return {
    content: answerText(p.tok, tokens),
    promptTokens: prompt.length,
    completionTokens: tokens.length,
    finishReason: tokens[tokens.length - 1] === endId ? "stop" : "length",
    tokens,
  };
}

/** Request bodies larger than this are refused with 413. */
export const MAX_BODY_BYTES = 1 << 20;
/** A body this much larger is not even drained: the connection is closed. */
const MAX_DRAIN_BYTES = 64 << 20;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status >= 500 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }
}

/** The body as text; 413 past `limit` bytes (the rest is drained so the client reads the answer). */
async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers["content-length"]);
  let n = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_DRAIN_BYTES) {
      req.socket.destroy();
      break;
    }
    if (n <= limit && !(declared > limit)) chunks.push(c as Buffer);
  }
  if (n > limit || declared > limit) throw new HttpError(413, `request body is ${n} bytes; the limit is ${limit} bytes`);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, e: HttpError, headers: Record<string, string> = {}): void {
  sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } }, headers);
}

/** Validate a chat request; returns the messages or an error string naming the field. */
export function parseChatRequest(body: unknown): { messages: Message[]; temperature?: number; maxTokens?: number } | string {
  if (!body || typeof body !== "object" || Array.isArray(body)) return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "messages must be a non-empty array";
  const messages: Message[] = [];
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    const mm = m as Record<string, unknown>;
    if (!mm || typeof mm !== "object" || !["system", "user", "assistant"].includes(mm.role as string)) return `messages[${i}].role must be one of system, user, assistant`;
    let content = mm.content;
    if (Array.isArray(content)) content = content.filter((x: { type?: string }) => x?.type === "text").map((x: { text?: unknown }) => (typeof x.text === "string" ? x.text : "")).join("");
    if (typeof content !== "string") return `messages[${i}].content must be a string (or a list of text parts)`;
    if (mm.role !== "system") messages.push({ role: mm.role as Message["role"], content });
  }
  if (messages.length === 0 || messages[0].role !== "user") return "the first non-system message must have role user";
  if (b.temperature !== undefined && b.temperature !== null && (typeof b.temperature !== "number" || !(b.temperature >= 0 && b.temperature <= 2))) return "temperature must be a number from 0 to 2";
  const maxTokens = b.max_tokens ?? b.max_completion_tokens;
  const which = b.max_tokens !== undefined ? "max_tokens" : "max_completion_tokens";
  if (maxTokens !== undefined && maxTokens !== null && (!Number.isInteger(maxTokens) || (maxTokens as number) < 1)) return `${which} must be an integer >= 1`;
  return { messages, temperature: (b.temperature ?? undefined) as number | undefined, maxTokens: (maxTokens ?? undefined) as number | undefined };
}

/** The request's protocol fields (model, n, stream); throws an `HttpError` naming the field. */
function parseEnvelope(b: Record<string, unknown>, served: string): { stream: boolean; includeUsage: boolean } {
  if (b.model === undefined || b.model === null || b.model === "") throw new HttpError(400, "you must provide a model parameter", "model");
  if (typeof b.model !== "string") throw new HttpError(400, "model must be a string", "model");
  if (b.model !== served) throw new HttpError(404, `The model \`${b.model}\` does not exist; this server serves \`${served}\` (GET /v1/models lists it)`, "model", "model_not_found");
  if (b.n !== undefined && b.n !== null && b.n !== 1) throw new HttpError(400, "n must be 1 (one answer per request)", "n");
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== "boolean") throw new HttpError(400, "stream must be a boolean", "stream");
  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== "object" || Array.isArray(so))) throw new HttpError(400, "stream_options must be an object", "stream_options");
  return { stream: b.stream === true, includeUsage: Boolean(so && (so as { include_usage?: unknown }).include_usage === true) };
}

/** Split an answer into stream deltas at token boundaries; their concatenation is exactly `content`. */
function deltas(p: LoadedPolicy, tokens: number[], content: string): string[] {
  const out: string[] = [];
  let sent = 0;
  for (let i = 1; i <= tokens.length; i++) {
    const prefix = p.tok.decode(tokens.slice(0, i));
    // A prefix cut inside a UTF-8 character or the end marker is not a prefix of the answer: wait for more.
    if (prefix.length > sent && content.startsWith(prefix)) {
      out.push(prefix.slice(sent));
      sent = prefix.length;
    }
  }
  if (sent < content.length) out.push(content.slice(sent));
  return out;
}

/** An HTTP server answering chat completions with `policy` (call `.listen(port, "127.0.0.1")`). */
export function createPolicyServer(policy: LoadedPolicy, opts: { modelName: string; seed?: number }): Server {
  const rng = Rng.stream(opts.seed ?? 0, "serve");
  let queue: Promise<unknown> = Promise.resolve();
  let id = 0;
  const created = Math.floor(Date.now() / 1000);
  const modelObject = { id: opts.modelName, object: "model", created, owned_by: "tinyfoundry" };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = (req.url ?? "").split("?")[0].replace(/\/+$/, "");
    if (url === "/v1/models" || url.startsWith("/v1/models/")) {
      if (req.method !== "GET") throw new HttpError(405, `use GET ${url}`);
      if (url === "/v1/models") return sendJson(res, 200, { object: "list", data: [modelObject] });
      const name = decodeURIComponent(url.slice("/v1/models/".length));
      if (name !== opts.modelName) throw new HttpError(404, `The model \`${name}\` does not exist; this server serves \`${opts.modelName}\``, "model", "model_not_found");
      return sendJson(res, 200, modelObject);
    }
    if (url !== "/v1/chat/completions") throw new HttpError(404, `no route ${req.method} ${url}; use POST /v1/chat/completions or GET /v1/models`);
    if (req.method !== "POST") throw new HttpError(405, "use POST /v1/chat/completions");
    const text = await readBody(req);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new HttpError(400, "body is not valid JSON");
    }
    const q = parseChatRequest(body);
    if (typeof q === "string") throw new HttpError(400, q, /^(messages|temperature|max_tokens|max_completion_tokens)\b/.exec(q)?.[1] ?? (q.startsWith("body") ? null : "messages"));
    const env = parseEnvelope(body as Record<string, unknown>, opts.modelName);
    let gone = false;
    res.on("close", () => (gone = !res.writableFinished));
    // One generation at a time; a client that left while waiting costs nothing.
    const job = async () => {
      if (gone) return;
      let r: Awaited<ReturnType<typeof completeChat>>;
      try {
        r = await completeChat(policy, q.messages, { temperature: q.temperature, maxTokens: q.maxTokens, rng });
      } catch (e) {
        // A conversation whose task prompt does not fit the context is the client's to shorten.
        const m = e instanceof Error ? e.message : String(e);
        if (/exceeds the context budget/.test(m)) throw new HttpError(400, m, "messages", "context_length_exceeded");
        throw e;
      }
      const cid = `chatcmpl-${++id}`;
      const now = Math.floor(Date.now() / 1000);
      const usage = { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
      if (!env.stream) {
        return sendJson(res, 200, {
          id: cid,
          object: "chat.completion",
          created: now,
          model: opts.modelName,
          choices: [{ index: 0, message: { role: "assistant", content: r.content, refusal: null }, logprobs: null, finish_reason: r.finishReason }],
          usage,
        });
      }
      if (gone) return;
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        res.write(`data: ${JSON.stringify({ id: cid, object: "chat.completion.chunk", created: now, model: opts.modelName, choices, ...extra })}\n\n`);
      chunk([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]);
      for (const d of deltas(policy, r.tokens, r.content)) chunk([{ index: 0, delta: { content: d }, logprobs: null, finish_reason: null }]);
      chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: r.finishReason }]);
      if (env.includeUsage) chunk([], { usage });
      res.end("data: [DONE]\n\n");
    };
    const run = queue.then(job, job);
    queue = run.catch(() => {});
    await run;
  };

  return createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e instanceof HttpError ? e : new HttpError(500, e instanceof Error ? e.message.split("\n")[0] : String(e));
      if (res.headersSent) res.end();
      else sendError(res, err, err.status === 405 ? { allow: err.message.startsWith("use GET") ? "GET" : "POST" } : {});
    });
  });
}

/** Free the policy's arrays. */
export function disposePolicy(p: LoadedPolicy): void {
  tree.dispose(p.lm as unknown as JsTree<Array>);
}
