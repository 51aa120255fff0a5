/** Test fixture: a minimal program with only the env/eval verbs (the real entry point is src/cli/main.ts). */
import { Command } from "commander";
import { registerEnvCommands } from "../cli/env-commands.js";

const program = new Command("tinyfoundry");
registerEnvCommands(program);
await program.parseAsync(process.argv);
