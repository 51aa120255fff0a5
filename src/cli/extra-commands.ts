/** Commands contributed by the environment and paper modules, registered in one place. */
import type { Command } from "commander";
import { registerEnvCommands } from "./env-commands.js";
import { registerFP4Commands } from "./fp4-training-commands.js";
import { registerSftVsRlCommands } from "./sft-vs-rl-commands.js";

export function registerExtraCommands(program: Command): void {
  registerEnvCommands(program);
  registerFP4Commands(program);
  registerSftVsRlCommands(program);
}
