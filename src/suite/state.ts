/** The suite's state file (`suite.json`) and the messages between the suite and its children. */
import type { PresetName } from "../train/experiment.js";

export type SuiteEntry = {
  name: string;
  status: "pending" | "running" | "completed" | "interrupted" | "failed";
  wallSeconds: number;
  message?: string;
  /** Peak resident memory of the experiment's process (MB), when it ran in its own process. */
  maxRssMB?: number;
};
export type SuiteState = {
  preset: PresetName;
  seed: number;
  createdAt: string;
  updatedAt: string;
  entries: SuiteEntry[];
  /** Set by `tinyfoundry collect`: the entries are runs made one at a time (where, when, at which commit). */
  collected?: { name: string; run: string; createdAt: string; commit: string | null; dirty?: boolean; machine: string }[];
};

/** What the parent tells a child: which experiment, in which run directory. */
export type ChildRequest = { name: string; runDir: string; resume: boolean; device: string };

/** What a suite child process sends its parent over IPC (the same messages as any child, `train/spawn.ts`). */
export type { ChildMessage } from "../train/spawn.js";
