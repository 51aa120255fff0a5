/** Commands contributed by the environment and paper modules, registered in one place. */
import type { Command } from "commander";

export function registerExtraCommands(program: Command): void {
  void program;
}
