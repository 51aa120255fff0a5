/**
 * CLI verbs of the SFT-vs-RL experiment ("SFT Memorizes, RL Generalizes", arXiv 2501.17161):
 *   serve <run-dir> [--arm ppo|sft|sft-init|stage0|nav-ppo|nav-sft|nav-sft-init] [--port N] [--host 127.0.0.1] [--model NAME]
 * exposes a trained policy as an OpenAI-compatible chat-completions endpoint, so
 * `tinyfoundry eval general-points --policy openai --base-url http://127.0.0.1:PORT/v1 --model NAME` (or any
 * client) scores it. Prints one line `listening on http://HOST:PORT/v1 (model NAME, arm ARM)` when ready; stops on
 * SIGINT/SIGTERM.
 */
import type { Command } from "commander";
import type { AddressInfo } from "node:net";
import { initEngine } from "../engine/index.js";
import { DEFAULT_SERVE_PORT } from "./defaults.js";
import { createPolicyServer, disposePolicy, loadPolicy } from "../papers/sft-vs-rl/index.js";

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be an integer in 0..65535, got ${JSON.stringify(v)}`);
  return n;
}

export function registerSftVsRlCommands(program: Command): void {
  program
    .command("serve")
    .description("serve a trained sft-vs-rl policy as an OpenAI-compatible chat-completions endpoint (loopback by default)")
    .argument("<run-dir>", "an sft-vs-rl run directory")
    .option("--arm <arm>", "which branch's final policy: ppo | sft | sft-init | stage0 | nav-ppo | nav-sft | nav-sft-init (default: the first that exists)")
    .option("--port <port>", `TCP port (0: any free port; the default is where \`eval --policy openai\` looks)`, parsePort, DEFAULT_SERVE_PORT)
    .option("--host <host>", "interface to bind", "127.0.0.1")
    .option("--model <name>", "model name reported to clients", "tinyfoundry-sft-vs-rl")
    .action(async (runDir: string, o: { arm?: string; port: number; host: string; model: string }) => {
      try {
        await initEngine();
        const policy = loadPolicy(runDir, o.arm);
        const server = createPolicyServer(policy, { modelName: o.model });
        await new Promise<void>((res, rej) => {
          server.once("error", rej);
          server.listen(o.port, o.host, () => res());
        });
        const addr = server.address() as AddressInfo;
        process.stdout.write(`listening on http://${o.host}:${addr.port}/v1 (model ${o.model}, arm ${policy.arm})\n`);
        await new Promise<void>((res) => {
          const stop = () => server.close(() => res());
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
        disposePolicy(policy);
      } catch (e) {
        process.stderr.write(`error: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
