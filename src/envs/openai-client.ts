/**
 * A minimal OpenAI-compatible chat-completions client over global `fetch` (llama.cpp, vLLM, Ollama, OpenAI), used
 * to score LLMs on the environments of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161, App. C.3 evaluation).
 * POST {baseUrl}/chat/completions with {model, messages, temperature, max_tokens}; answer = choices[0].message.content.
 * Retries with exponential back-off on network errors, timeouts, 429 and 5xx; clear errors naming the URL.
 */
import type { Message, Policy } from "./episode.js";

/** Options of `createChatClient`. */
export type ChatClientOptions = {
  /** Server base URL including the version prefix, e.g. `http://127.0.0.1:8080/v1`. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Sampling temperature (omitted from the request when undefined). */
  temperature?: number;
  /** `max_tokens` (paper eval: 256). */
  maxTokens?: number;
  /** Per-request timeout in ms (default 60 000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** First back-off delay in ms, doubled on every retry (default 500). */
  backoffMs?: number;
  /** Injected for tests. */
  fetchImpl?: typeof fetch;
  /** Injected for tests: how to wait between retries. */
  sleep?: (ms: number) => Promise<void>;
};

export type ChatClient = { url: string; complete(messages: Message[]): Promise<string> };

/** Error from the chat client; `retryable` says whether another attempt could succeed. */
export class ChatClientError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = "ChatClientError";
  }
}

function toWire(m: Message): unknown {
  if (!m.image) return { role: m.role, content: m.content };
  const url = `data:image/png;base64,${Buffer.from(m.image).toString("base64")}`;
  return { role: m.role, content: [{ type: "text", text: m.content }, { type: "image_url", image_url: { url } }] };
}

/** Create a chat-completions client. */
export function createChatClient(opts: ChatClientOptions): ChatClient {
  const { model, apiKey, temperature, maxTokens, timeoutMs = 60_000, retries = 4, backoffMs = 500 } = opts;
  const doFetch = opts.fetchImpl ?? fetch;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  if (!/^https?:\/\//.test(opts.baseUrl)) throw new Error(`openai client: baseUrl must start with http:// or https://, got ${JSON.stringify(opts.baseUrl)}`);
  if (!model) throw new Error("openai client: model must be a non-empty string (--model)");
  const url = opts.baseUrl.replace(/\/+$/, "") + "/chat/completions";
  async function once(messages: Message[]): Promise<string> {
    const body: Record<string, unknown> = { model, messages: messages.map(toWire) };
    if (temperature !== undefined) body.temperature = temperature;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let res: Response;
    try {
      res = await doFetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal: ctl.signal,
      });
    } catch (e) {
      const why = ctl.signal.aborted ? `timed out after ${timeoutMs} ms` : `is unreachable (${(e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message})`;
      throw new ChatClientError(`chat server at ${url} ${why}`, true);
    } finally {
      clearTimeout(timer);
    }
    const text = await res.text().catch(() => "");
    if (!res.ok) {
      const retryable = res.status === 429 || res.status >= 500;
      throw new ChatClientError(`chat server at ${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`, retryable);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ChatClientError(`chat server at ${url} sent a body that is not JSON: ${text.slice(0, 200)}`, false);
    }
    const content = (json as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
    if (typeof content !== "string") throw new ChatClientError(`chat server at ${url} sent no choices[0].message.content`, false);
    return content;
  }
  return {
    url,
    async complete(messages: Message[]): Promise<string> {
      let last: ChatClientError | null = null;
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1));
        try {
          return await once(messages);
        } catch (e) {
          last = e instanceof ChatClientError ? e : new ChatClientError(String(e), false);
          if (!last.retryable) throw last;
        }
      }
      throw new ChatClientError(`${last?.message} (gave up after ${retries + 1} attempts)`, false);
    },
  };
}

/** A policy that asks a chat-completions server. */
export function chatPolicy(client: ChatClient): Policy {
  return (messages) => client.complete(messages);
}
