/**
 * How long each suite entry is expected to take, for the suite's ETA. The `quick` minutes are those measured on an
 * idle 2-core AMD EPYC of CPU family 26, one experiment at a time: the README's suite table (the runs it collected,
 * whose first line names them; each paper README's results block gives its run's wall time too). An EPYC of family 25
 * took 1.4-1.8x these, an Intel Xeon of 2026-12 about 2x the smaller entries'. `tiny` ones are rough (seconds). A
 * display scales them by how the finished entries compared with their estimate, so a faster or slower machine still
 * gets a sensible ETA. `full` has no estimate.
 */
import type { PresetName } from "../train/experiment.js";

export const EXPECTED_MINUTES: Record<PresetName, Record<string, number> | null> = {
  tiny: { lm: 0.1, "fp4-training": 0.3, "over-tokenized": 0.3, "mixture-of-mamba": 0.3, "guidance-free": 0.3, omni: 0.8, "omni-tokenizer": 0.5, "sft-vs-rl": 0.8, "sft-vs-rl-nav": 0.5 },
  quick: {
    lm: 2.0,
    "fp4-training": 4.8,
    "over-tokenized": 4.0,
    "mixture-of-mamba": 5.1,
    "guidance-free": 4.1,
    omni: 10.6,
    "omni-tokenizer": 9.9,
    "sft-vs-rl": 33.1,
    "sft-vs-rl-nav": 11.5,
  },
  full: null,
};

/**
 * Seconds left in a suite: the remaining entries' estimates (and what is left of the running one's),
 * scaled by actual/estimated over the finished entries. Null when the preset has no estimate.
 */
export function suiteEtaSeconds(
  preset: PresetName,
  entries: readonly { name: string; status: string; wallSeconds: number }[],
  running: { name: string; seconds: number } | null,
): number | null {
  const table = EXPECTED_MINUTES[preset];
  if (!table) return null;
  const est = (n: string) => (table[n] ?? 5) * 60;
  let doneActual = 0;
  let doneEst = 0;
  for (const e of entries) {
    if (e.status === "completed" && e.wallSeconds > 0) {
      doneActual += e.wallSeconds;
      doneEst += est(e.name);
    }
  }
  const scale = doneEst > 0 ? Math.min(5, Math.max(0.2, doneActual / doneEst)) : 1;
  let left = 0;
  for (const e of entries) {
    if (e.status === "completed" || e.status === "failed") continue;
    if (running && e.name === running.name) left += Math.max(0, est(e.name) * scale - running.seconds);
    else left += est(e.name) * scale;
  }
  return left;
}
